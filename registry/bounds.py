"""Input bounds in one place: what any text, integer, date or JSON document entering the
service may be, whatever the route.

- Text: no NUL and no other control character (tab, line feed and carriage return excepted);
  PostgreSQL refuses NUL outright, the others have no business in a register.
- Integers: within PostgreSQL's ``bigint`` (the id columns' type); a larger number names no record.
- Dates: a plain ``YYYY-MM-DD`` (a datetime is not a date) between 1900-01-01 and 2100-12-31;
  months ``YYYY-MM`` and years likewise within 1900–2100. Python's ``date`` would accept year 1,
  and arithmetic on it (``year - 1``, ``+ 3 years``) overflows at the edges.
- JSON: at most ``MAX_JSON_DEPTH`` levels of nesting.

``registry.web.guard`` applies these to every query string, path, JSON and form body before a
handler runs; the ``Day`` type applies the date rule to the fields of request schemas.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

from registry.errors import FieldError

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
MIN_YEAR = 1900
MAX_YEAR = 2100
MIN_DATE = dt.date(MIN_YEAR, 1, 1)
MAX_DATE = dt.date(MAX_YEAR, 12, 31)
MAX_JSON_DEPTH = 32

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# C0 controls but tab, line feed and carriage return; DEL and C1; lone surrogates (which JSON's
# \ud800 escapes can carry and no encoder can write).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

TEXT_MESSAGE = "不能包含控制字符或无效字符（如空字符 \\0）"
DATE_FORMAT_MESSAGE = "日期格式应为 YYYY-MM-DD（只填日期，不含时间）"
DATE_RANGE_MESSAGE = f"日期须在 {MIN_YEAR} 年至 {MAX_YEAR} 年之间"
INT_MESSAGE = "数值超出允许范围"


def _label(field: str) -> str:
    return f"{field}：" if field else ""


def text_problem(field: str, value: str) -> FieldError | None:
    if _CONTROL.search(value) is None:
        return None
    return FieldError(field, "control_character", f"{_label(field)}{TEXT_MESSAGE}。")


def without_controls(value: str) -> str:
    """For names the service keeps but nobody typed into a form (an uploaded file's name)."""
    return _CONTROL.sub("", value)


def digits(text: str) -> bool:
    """Whether ``text`` is one or more ASCII digits 0-9. ``str.isdigit`` also takes ², ③ and
    other Unicode digits, which ``int`` refuses (a 500 found by Schemathesis in a query string)."""
    return text.isascii() and text.isdigit()


def int_problem(field: str, value: int) -> FieldError | None:
    if INT_MIN <= value <= INT_MAX:
        return None
    return FieldError(field, "integer_out_of_range", f"{_label(field)}{INT_MESSAGE}。")


def date_problem(field: str, value: dt.date) -> FieldError | None:
    if MIN_DATE <= value <= MAX_DATE:
        return None
    return FieldError(field, "date_out_of_range", f"{_label(field)}{DATE_RANGE_MESSAGE}。")


def year_problem(field: str, year: int) -> FieldError | None:
    if MIN_YEAR <= year <= MAX_YEAR:
        return None
    return FieldError(field, "date_out_of_range", f"{_label(field)}{DATE_RANGE_MESSAGE}。")


def parse_date(field: str, raw: str) -> tuple[dt.date | None, FieldError | None]:
    """A strict date: exactly ``YYYY-MM-DD``, a real day, within the window."""
    if not _DATE.match(raw):
        return None, FieldError(field, "date_invalid", f"{_label(field)}{DATE_FORMAT_MESSAGE}。")
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        return None, FieldError(field, "date_invalid", f"{_label(field)}不是有效的日期。")
    problem = date_problem(field, day)
    return (None, problem) if problem else (day, None)


def _strict_day(value: Any) -> Any:
    """For pydantic: a ``date`` or a ``YYYY-MM-DD`` string, never a datetime or a number."""
    if isinstance(value, dt.datetime):
        raise ValueError(DATE_FORMAT_MESSAGE)
    if isinstance(value, dt.date):
        day = value
    elif isinstance(value, str):
        if not _DATE.match(value):
            raise ValueError(DATE_FORMAT_MESSAGE)
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError("不是有效的日期") from None
    else:
        raise ValueError(DATE_FORMAT_MESSAGE)
    if not MIN_DATE <= day <= MAX_DATE:
        raise ValueError(DATE_RANGE_MESSAGE)
    return day


# The date of every request schema (bodies and forms): strict and within the window.
Day = Annotated[dt.date, BeforeValidator(_strict_day)]


def json_problems(document: Any, *, limit: int = 20) -> list[FieldError]:
    """Walks a parsed JSON document without recursion: depth, text and integers."""
    problems: list[FieldError] = []
    stack: list[tuple[str, Any, int]] = [("", document, 0)]
    while stack and len(problems) < limit:
        path, value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                return [FieldError(path or "body", "json_too_deep", f"JSON 嵌套层数超过 {MAX_JSON_DEPTH} 层。")]
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                name = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and (p := text_problem(name, key)):
                    problems.append(p)
                stack.append((name, item, depth + 1))
        elif isinstance(value, str):
            if p := text_problem(path, value):
                problems.append(p)
        elif isinstance(value, int) and not isinstance(value, bool) and (p := int_problem(path, value)):
            problems.append(p)
    return problems
