"""Reading one cell: text, dates as Excel and clerks write them, numbers, and the labels of
the registry's enumerations. Each row collects its own problems, with the heading as written."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from typing import Any

from stdnum.cn import ric

from registry import identity
from registry.errors import FieldError
from registry.identity import IdFacts, parse_id_number
from registry.imports.sheets import SheetData, normalize_heading, problem


def _choices(pairs: dict[str, tuple[str, ...]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for code, labels in pairs.items():
        out[code] = code
        for label in labels:
            out[normalize_heading(label)] = code
    return out


EDUCATION = _choices(
    {
        "below_secondary": ("初中及以下", "初中", "小学", "初中以下"),
        "secondary": ("高中/中专", "高中", "中专", "职高", "技校", "中技", "高中及中专"),
        "associate": ("大专", "专科", "大学专科", "高职"),
        "bachelor": ("本科", "大学本科", "学士"),
        "master": ("硕士", "硕士研究生", "研究生"),
        "doctor": ("博士", "博士研究生"),
    }
)
POST_TYPES = _choices(
    {
        "community_worker": ("社区工作者", "社区专职工作者"),
        "station_social_worker": ("驻站社工", "社工站社工", "乡镇(街道)社工站社工"),
        "service_org_staff": ("社工机构专职人员", "社会工作服务机构专职人员", "机构专职人员"),
        "civil_affairs_staff": ("民政机构工作人员", "民政服务机构工作人员"),
        "other": ("其他",),
    }
)
DUTY_LEVELS = _choices({"city": ("市级", "市"), "county": ("县级", "县", "区级", "县(区)级")})
LEVELS = _choices(
    {
        "assistant": ("助理社会工作师", "初级", "助理社工师"),
        "intermediate": ("社会工作师", "中级", "社工师"),
        "senior": ("高级社会工作师", "高级", "高级社工师"),
    }
)
ORG_TYPES = _choices(
    {
        "service_org": ("社会工作服务机构", "社工机构", "社会工作机构"),
        "grassroots_station": ("基层社会工作服务站", "社工站", "乡镇(街道)社工站"),
        "community": ("城乡社区", "社区", "村(居)委会", "居委会", "村委会"),
        "civil_affairs_institution": ("民政服务机构", "民政机构"),
    }
)
PERIOD_KINDS = _choices(
    {
        "registration": ("首次登记", "初次登记", "登记"),
        "renewal": ("再登记", "续期登记", "延续登记"),
        "suspension": ("暂停", "暂停登记"),
        "cancellation": ("注销", "注销登记"),
    }
)
CE_CATEGORIES = _choices(
    {
        "training": ("培训", "继续教育培训", "面授培训", "网络培训"),
        "supervision": ("督导", "专业督导"),
        "academic": ("学术交流", "学术", "研讨", "学术研讨"),
        "other": ("其他",),
    }
)
UNITS = {"学时": "学时", "小时": "小时"}
SEXES = _choices({"M": ("男",), "F": ("女",)})
BOOLS = {
    **dict.fromkeys(("是", "y", "yes", "true", "1", "√", "✓", "对"), "yes"),
    **dict.fromkeys(("否", "n", "no", "false", "0", "×", "x", "不是"), "no"),
}
EXCEL_EPOCH = dt.date(1899, 12, 30)
_DATE_PATTERNS = (
    re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)


_ID = re.compile(r"^\d{17}[\dX]$")


@cache
def _known_place(code: str) -> bool:
    return identity._known_place(code)


def parse_id(number: str, today: dt.date) -> IdFacts | FieldError:
    """``identity.parse_id_number`` with the place-code lookup cached per code: the lookup costs
    about 100 µs a number, most of the dry run at 100,000 rows. Numbers that fail any check take
    the canonical path, which gives the error."""
    if _ID.match(number) and ric.calc_check_digit(number) == number[17] and _known_place(number[:6]):
        try:
            birth = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        except ValueError:
            birth = None
        if birth is not None and birth.year >= 1900 and birth <= today:
            return IdFacts(number, birth, "M" if int(number[16]) % 2 == 1 else "F", number[:6])
    return parse_id_number(number, today=today)


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if type(value) is str and value.isascii():
        return value.strip()
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    # Non-breaking and ideographic spaces come with text pasted from web pages and Word.
    return str(value).replace("\u3000", " ").replace("\xa0", " ").replace("\u200b", "").strip()


@lru_cache(maxsize=4096)
def _normalized(text: str) -> str:
    return normalize_heading(text)


# A hostile file can have a problem in every cell: the first ones are kept (sorted, paged on
# the page and in the API), the rest only counted. 600,000 bad rows had stored 500,001 problems,
# taken 1.6 GB and answered every poll with 93 MB of JSON.
MAX_STORED_PROBLEMS = 1000


class CappedProblems(list[dict[str, Any]]):
    """A list that keeps the first ``MAX_STORED_PROBLEMS`` items appended and counts them all."""

    def __init__(self, initial: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.total = 0
        for item in initial or []:
            self.append(item)
        self.total = max(self.total, getattr(initial, "total", 0))

    def append(self, item: dict[str, Any]) -> None:
        self.total += 1
        if len(self) < MAX_STORED_PROBLEMS:
            super().append(item)


def problem_total(problems: list[dict[str, Any]]) -> int:
    return int(getattr(problems, "total", len(problems)))


class Row:
    """One data row of a sheet, with helpers that record a problem and return None."""

    __slots__ = ("number", "ok", "problems", "sheet", "values")

    def __init__(self, sheet: SheetData, number: int, values: dict[str, Any], problems: list[dict[str, Any]]) -> None:
        self.sheet = sheet
        self.number = number
        self.values = values
        self.problems = problems
        self.ok = True

    def err(self, key: str, code: str, message: str) -> None:
        self.problems.append(problem(self.sheet.name, self.number, self.sheet.heading(key), code, message))
        self.ok = False

    def present(self, key: str) -> bool:
        return key in self.sheet.headings

    def text(self, key: str, *, required: bool = False, max_length: int = 200) -> str | None:
        if key not in self.sheet.headings:
            if required:
                self.ok = False  # the missing column is reported once, on the header row
            return None
        text = cell_text(self.values.get(key))
        if not text:
            if required:
                self.err(key, "required", f"“{self.sheet.heading(key)}”不能为空。")
            return None
        if len(text) > max_length:
            self.err(key, "too_long", f"“{self.sheet.heading(key)}”不能超过 {max_length} 个字符。")
            return None
        return text

    def choice(self, key: str, choices: dict[str, str], allowed: str, *, required: bool = False) -> str | None:
        text = self.text(key, required=required)
        if text is None:
            return None
        label = _normalized(text)
        code = choices.get(label) or choices.get(label.lower())
        if code is None:
            self.err(key, "value_unknown", f"“{text}”不是可选的值；可填：{allowed}。")
        return code

    def date(self, key: str, *, required: bool = False) -> dt.date | None:
        value = self.values.get(key) if key in self.sheet.headings else None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool) and 1 <= value < 2958466:
            return EXCEL_EPOCH + dt.timedelta(days=int(value))  # a date cell formatted as a number
        text = self.text(key, required=required)
        if text is None:
            return None
        text = text.split(" ")[0] if re.match(r"^\d{4}-\d{2}-\d{2}[ T]\d", text) else text
        for pattern in _DATE_PATTERNS:
            match = pattern.match(text)
            if match:
                try:
                    return dt.date(int(match[1]), int(match[2]), int(match[3]))
                except ValueError:
                    break
        self.err(key, "date_invalid", f"“{text}”不是有效日期，请写成 2024-03-01 的形式。")
        return None

    def year(self, key: str, *, required: bool = False, low: int = 2000, high: int = 2100) -> int | None:
        text = self.text(key, required=required)
        if text is None:
            return None
        text = text.removesuffix("年").removesuffix("年度").strip()
        if not re.fullmatch(r"\d{4}", text) or not low <= int(text) <= high:
            self.err(key, "year_invalid", f"“{text}”不是有效年份（{low}–{high}）。")
            return None
        return int(text)

    def decimal(self, key: str, *, required: bool = False, places: int = 2) -> Decimal | None:
        value = self.values.get(key)
        text = self.text(key, required=required)
        if text is None:
            return None
        if isinstance(value, float):
            text = repr(value)
        cleaned = text.replace(",", "").replace("，", "").replace("元", "").replace(" ", "")
        try:
            number = Decimal(cleaned)
        except InvalidOperation:
            self.err(key, "number_invalid", f"“{text}”不是数字。")
            return None
        if not number.is_finite():
            self.err(key, "number_invalid", f"“{text}”不是数字。")
            return None
        quantum = Decimal(1).scaleb(-places)
        if number != number.quantize(quantum, rounding="ROUND_HALF_UP"):
            self.err(key, "number_precision", f"“{text}”最多保留 {places} 位小数。")
            return None
        return number.quantize(quantum)

    def id_number(self, today: dt.date) -> IdFacts | None:
        key = "id_number"
        if key not in self.sheet.headings:
            self.ok = False
            return None
        value = self.values.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) >= 1e15:
            self.err(
                key,
                "id_number_as_number",
                "身份证号被 Excel 存成了数字，只保留了 15 位有效数字，后几位已丢失；请把该列设为文本格式后重新填写。",
            )
            return None
        text = self.text(key, required=True)
        if text is None:
            return None
        facts = parse_id(text.upper().replace(" ", ""), today)
        if isinstance(facts, FieldError):
            self.err(key, facts.code, facts.message)
            return None
        return facts
