"""社会工作人才库 — the social-work talent registry."""
