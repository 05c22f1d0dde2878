"""Policy as data (``catalogue.toml``) and its pure evaluation (``evaluate.py``)."""
