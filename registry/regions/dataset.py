"""The national division list, read from python-stdnum's ``cn/loc.dat``.

That file is python-stdnum's maintained copy of the GB/T 2260 code table (from the
Wikipedia tables of 中华人民共和国行政区划代码), with the years each name was in use,
e.g. ``0203 county="[1983-2000]石灰窑区,[2001-]西塞山区"``. We keep every code, because ID
numbers carry the code of the place of birth registration even after it was abolished, and
mark as active only those whose last name is still in use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from registry.regions.codes import level_of

_LINE = re.compile(r'^(\s*)(\d+) (?:province|county)="(.*)"$')
_SPAN = re.compile(r"^\[(\d{4})?-(\d{4})?\](.*)$")
# Placeholder levels that are codes but not places a clerk would pick.
_PLACEHOLDERS = {"市辖区", "县", "省直辖县级行政单位", "省直辖县级行政区划", "自治区直辖县级行政区划"}


@dataclass(frozen=True)
class RegionRow:
    code: str
    name: str
    full_name: str
    level: int
    parent_code: str | None
    active: bool


def _current_name(raw: str) -> tuple[str, bool]:
    last = raw.split(",")[-1].strip()
    match = _SPAN.match(last)
    if not match:
        return last, True
    _start, end, name = match.groups()
    return name, end is None


def load_rows() -> list[RegionRow]:
    text = resources.files("stdnum").joinpath("cn/loc.dat").read_text(encoding="utf-8")
    raw: dict[str, tuple[str, bool]] = {}
    province = ""
    for line in text.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        indent, digits, value = match.groups()
        if not indent:
            province = digits
            continue
        code = province + digits
        if len(code) == 6:
            raw[code] = _current_name(value)
    rows: list[RegionRow] = []
    for code in sorted(raw):
        name, active = raw[code]
        level = level_of(code)
        parent = _parent(code, level, raw)
        rows.append(
            RegionRow(
                code=code,
                name=name,
                full_name=_full_name(code, level, raw),
                level=level,
                parent_code=parent,
                active=active and name not in _PLACEHOLDERS,
            )
        )
    return rows


def _parent(code: str, level: int, known: dict[str, tuple[str, bool]]) -> str | None:
    if level == 1:
        return None
    province = code[:2] + "0000"
    if level == 3:
        city = code[:4] + "00"
        if city in known:
            return city
    return province if province in known else None


def _full_name(code: str, level: int, raw: dict[str, tuple[str, bool]]) -> str:
    parts: list[str] = []
    for ancestor, lvl in ((code[:2] + "0000", 1), (code[:4] + "00", 2), (code, 3)):
        if lvl > level or ancestor not in raw:
            continue
        name = raw[ancestor][0]
        if name not in _PLACEHOLDERS and name not in parts:
            parts.append(name)
    return "".join(parts)
