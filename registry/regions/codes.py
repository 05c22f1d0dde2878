"""GB/T 2260 region codes: six digits, province (XX0000) > city (XXXX00) > county."""

from __future__ import annotations

import re

CODE_RE = re.compile(r"^[0-9]{6}$")


def level_of(code: str) -> int:
    if code[2:] == "0000":
        return 1
    if code[4:] == "00":
        return 2
    return 3


def prefix_of(code: str) -> str:
    """The digits every code in this region's subtree starts with."""
    level = level_of(code)
    return code[: {1: 2, 2: 4, 3: 6}[level]]


def subtree_bounds(code: str) -> tuple[str, str]:
    """Inclusive code range of the subtree rooted at ``code`` (a btree range scan, any collation)."""
    prefix = prefix_of(code)
    return prefix.ljust(6, "0"), prefix.ljust(6, "9")


def in_subtree(code: str, root: str) -> bool:
    return code.startswith(prefix_of(root))
