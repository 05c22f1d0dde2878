"""Plain language for pages a practitioner or the public reads: rules named by their document
and clause in words, without the catalogue's ids or its notes on how far a source is trusted.

Staff views and the API keep both (the id is how a clerk or a script finds the rule). The
functions work on stored text too (a certificate's snapshot, a payroll line's basis), so what
was written before still reads plainly.
"""

from __future__ import annotations

import re

# "HB-ALW-100-200 v2", "HN-SAL-1.2 v1", with an alias in brackets, optionally followed by a colon.
_RULE_REF = re.compile(r"〔?[A-Z]{2,}-[A-Z0-9.-]+ v\d+(?:（[A-Z0-9.-]+）)?〕?[：:]?\s*")
# A bracketed remark that says a source still has to be checked: "（文号待核，二手资料）".
_TRUST_NOTE = re.compile(r"[（(][^（）()]*(?:待核|二手资料|待确认)[^（）()]*[）)]")
_TRUST_WORDS = re.compile(r"[，,]?(?:文号待核|条次待核|二手资料|待核)")


def plain(text: str | None) -> str:
    """``text`` without rule ids and trust notes."""
    if not text:
        return ""
    out = _RULE_REF.sub("", text)
    out = _TRUST_NOTE.sub("", out)
    out = _TRUST_WORDS.sub("", out)
    return re.sub(r"[（(]\s*[）)]", "", out).strip()
