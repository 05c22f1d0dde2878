"""The dry run: every row checked, every problem listed by sheet, row and column, and a plan of
what would be created, updated or left as it is.

Existing records are looked up in bulk (one query per kind, with arrays, never a query per row)
and compared in Python, so that only real changes are planned and a second import of the same
file plans nothing. The commit runs the same check again inside its transaction.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from registry.accounts.actor import Actor
from registry.certifications.service import default_registration_end
from registry.errors import Problems
from registry.identity import mask_id_number, validate_credit_code
from registry.imports import values as v
from registry.imports.sheets import KIND_LABELS, FileData
from registry.imports.values import Row
from registry.practitioners.bank import clean_account
from registry.practitioners.names import normalize_name

_NAME = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f·A-Za-z]{1,50}$")
_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
_CERT_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,39}$")
_REGION = re.compile(r"^\d{6}$")
MAX_HOURS_PER_DAY = Decimal(24)
SAMPLE_SIZE = 5
KINDS_ORDER = ("organizations", "practitioners", "employment", "certifications", "registrations", "ce", "salaries")
MAX_NOTICES = 2000


def add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return dt.date(day.year + years, 3, 1)


@dataclass
class Plan:
    problems: list[dict[str, Any]] = field(default_factory=list)
    # Per kind, the rows to write: each a dict with "action" ("create" or "update") and values.
    writes: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {k: [] for k in KINDS_ORDER})
    counts: dict[str, dict[str, int]] = field(
        default_factory=lambda: {k: {"created": 0, "updated": 0, "unchanged": 0} for k in KINDS_ORDER}
    )
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {k: [] for k in KINDS_ORDER})
    # What the commit will do differently from what a row says, row by row (not problems: the
    # file may be committed), e.g. a verification date not taken from someone who may not verify.
    notices: list[dict[str, Any]] = field(default_factory=list)
    notice_count: int = 0
    rows: int = 0

    def notice(self, row: Row, column: str, code: str, message: str) -> None:
        self.notice_count += 1
        if len(self.notices) < MAX_NOTICES:
            self.notices.append(
                {
                    "sheet": row.sheet.name,
                    "row": row.number,
                    "column": row.sheet.heading(column),
                    "code": code,
                    "message": message,
                }
            )

    def note(self, kind: str, action: str, row: Row, who: str, changes: list[str] | None = None) -> None:
        self.counts[kind]["created" if action == "create" else "updated" if action == "update" else "unchanged"] += 1
        if action != "unchanged" and len(self.samples[kind]) < SAMPLE_SIZE:
            self.samples[kind].append(
                {"sheet": row.sheet.name, "row": row.number, "action": action, "record": who, "changes": changes or []}
            )

    def summary(self, data: FileData) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "sheets": [
                {"name": s.name, "kind": s.kind.key, "label": KIND_LABELS[s.kind.key], "rows": len(s.rows)}
                for s in data.sheets
            ],
            "ignored_sheets": data.ignored,
            "counts": {k: c for k, c in self.counts.items() if any(c.values())},
            "samples": {k: s for k, s in self.samples.items() if s},
            "notices": self.notices,
            "notice_count": self.notice_count,
        }


@dataclass
class Lookups:
    """What the registry already holds about the rows of a file (filled by ``service``)."""

    people: dict[str, dict[str, Any]] = field(default_factory=dict)  # by ID number
    regions: set[str] = field(default_factory=set)
    # Codes of the file that name an abolished division (or no single place): their full names.
    inactive_regions: dict[str, str] = field(default_factory=dict)
    orgs_by_code: dict[str, dict[str, Any]] = field(default_factory=dict)
    orgs_by_name: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    org_regions: dict[int, str] = field(default_factory=dict)
    certs: dict[str, dict[str, Any]] = field(default_factory=dict)  # by number
    periods: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # in force, by certificate number
    spells: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # by practitioner id
    ce: dict[tuple[int, dt.date], list[dict[str, Any]]] = field(default_factory=dict)
    salaries: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)


@dataclass
class Parsed:
    """The rows of a file with their cells read, before anything is looked up."""

    rows: dict[str, list[tuple[Row, dict[str, Any]]]] = field(default_factory=lambda: {k: [] for k in KINDS_ORDER})
    problems: list[dict[str, Any]] = field(default_factory=list)

    def id_numbers(self) -> set[str]:
        return {values["id_number"] for rows in self.rows.values() for row, values in rows if values.get("id_number")}

    def all(self, kind: str, key: str) -> set[Any]:
        return {values[key] for _, values in self.rows[kind] if values.get(key) is not None}


def parse(data: FileData, today: dt.date) -> Parsed:
    """Read every cell of every row: formats, ranges, labels, check digits (no database)."""
    out = Parsed(problems=v.CappedProblems(data.problems))
    for sheet in data.sheets:
        reader = _READERS[sheet.kind.key]
        for number, cells in sheet.rows:
            row = Row(sheet, number, cells, out.problems)
            out.rows[sheet.kind.key].append((row, reader(row, today)))
    return out


def _organization_cells(row: Row, today: dt.date) -> dict[str, Any]:
    values: dict[str, Any] = {}
    name = row.text("name", required=True, max_length=100)
    if name is not None and len(name) < 2:
        row.err("name", "name_too_short", "单位名称至少 2 个字。")
    values["name"] = name
    _org_cells(row, values, required=False)
    values["org_name"] = name
    values["org_type"] = row.choice(
        "org_type", v.ORG_TYPES, "社会工作服务机构、基层社会工作服务站、城乡社区、民政服务机构", required=True
    )
    region = row.text("region_code", required=True, max_length=20)
    if region is not None and not _REGION.match(region):
        row.err("region_code", "region_unknown", f"“{region}”不是 6 位行政区划代码。")
        region = None
    values["region_code"] = region
    founded = values["founded_on"] = row.date("founded_on")
    closed = values["closed_on"] = row.date("closed_on")
    if founded is not None and founded > today:
        row.err("founded_on", "founded_future", "成立日期不能晚于今天。")
    if closed is not None and closed > today:
        row.err("closed_on", "closed_future", "注销日期不能晚于今天。")
    if founded is not None and closed is not None and closed < founded:
        row.err("closed_on", "closed_before_founded", "注销日期不能早于成立日期。")
    return values


def _person_cells(row: Row, today: dt.date) -> dict[str, Any]:
    facts = row.id_number(today)
    values: dict[str, Any] = {"id_number": facts.number if facts else None}
    name = row.text("name", required=True, max_length=50)
    if name is not None:
        name = normalize_name(name)
        if not _NAME.match(name):
            row.err("name", "name_invalid", "姓名只能包含汉字、字母和间隔号“·”。")
    values["name"] = name
    values["education"] = row.choice(
        "education", v.EDUCATION, "初中及以下、高中/中专、大专、本科、硕士、博士", required=True
    )
    sex = row.choice("sex", v.SEXES, "男、女")
    birth = row.date("birth_date")
    if facts is not None:
        values["birth_date"], values["sex"] = facts.birth_date, facts.sex
        if sex is not None and sex != facts.sex:
            row.err("sex", "sex_mismatch", "性别与身份证号第 17 位不一致（奇数为男，偶数为女）。")
        if birth is not None and birth != facts.birth_date:
            row.err("birth_date", "birth_date_mismatch", f"出生日期 {birth} 与身份证号中的 {facts.birth_date} 不一致。")
    phone = row.text("phone", max_length=20)
    if phone is not None:
        phone = phone.replace(" ", "")
        if not _PHONE.match(phone):
            row.err("phone", "phone_invalid", "联系电话应为 11 位手机号或带区号的固定电话。")
    values["phone"] = phone
    region = row.text("household_region_code", max_length=20)
    if region is not None and not _REGION.match(region):
        row.err("household_region_code", "region_unknown", f"“{region}”不是 6 位行政区划代码。")
        region = None
    values["household_region_code"] = region
    major = row.choice("social_work_major", v.BOOLS, "是、否")
    values["social_work_major"] = None if major is None else major == "yes"
    values["bank_account"] = _bank_cells(row)
    return values


def _bank_write(values: dict[str, Any]) -> dict[str, Any]:
    account = values.get("bank_account")
    return {"bank_account_number": account[0], "bank_name": account[1]} if account else {}


def _bank_cells(row: Row) -> tuple[str, str] | None:
    """The bank account for the 代发 list (registry/practitioners/bank.py): both cells or neither."""
    raw = row.values.get("bank_account_number")
    if isinstance(raw, int | float) and not isinstance(raw, bool) and abs(raw) >= 1e15:
        row.err(
            "bank_account_number",
            "account_number_as_number",
            "银行账号被 Excel 存成了数字，只保留了 15 位有效数字，后几位已丢失；请把该列设为文本格式后重新填写。",
        )
        return None
    number, bank = row.text("bank_account_number", max_length=40), row.text("bank_name", max_length=60)
    problems = Problems()
    cleaned = clean_account(number, bank, problems)
    for problem in problems.errors:
        row.err(
            "bank_account_number" if problem.field == "account_number" else "bank_name", problem.code, problem.message
        )
    return cleaned


def _org_cells(row: Row, values: dict[str, Any], *, required: bool) -> None:
    code = row.text("credit_code", max_length=30)
    if code is not None:
        checked = validate_credit_code(code)
        if not isinstance(checked, str):
            row.err("credit_code", checked.code, checked.message)
            code = None
        else:
            code = checked
    name = row.text("org_name", max_length=100)
    values["credit_code"], values["org_name"] = code, name
    if required and code is None and name is None and row.ok:
        key = "credit_code" if row.present("credit_code") else "org_name"
        row.err(key, "required", "请填写工作单位统一社会信用代码或单位名称。")


def _employment_cells(row: Row, today: dt.date) -> dict[str, Any]:
    facts = row.id_number(today)
    values: dict[str, Any] = {
        "id_number": facts.number if facts else None,
        "birth_date": facts.birth_date if facts else None,
    }
    _org_cells(row, values, required=True)
    values["post_type"] = row.choice(
        "post_type", v.POST_TYPES, "社区工作者、驻站社工、社工机构专职人员、民政机构工作人员、其他", required=True
    )
    values["duty_level"] = row.choice("duty_level", v.DUTY_LEVELS, "市级、县级")
    start = values["in_post_from"] = row.date("in_post_from", required=True)
    end = values["in_post_to"] = row.date("in_post_to")
    if start is not None:
        if end is not None and end < start:
            row.err("in_post_to", "dates_out_of_order", "离岗日期不能早于在岗起始日期。")
        if start > today + dt.timedelta(days=366):
            row.err("in_post_from", "date_too_far", "在岗起始日期不能晚于一年以后。")
        if facts is not None and start < add_years(facts.birth_date, 16):
            row.err("in_post_from", "date_before_working_age", "在岗起始日期早于本人年满 16 周岁，请核对。")
    if values["post_type"] == "station_social_worker" and values["duty_level"] is None and row.ok:
        row.err("duty_level", "duty_level_required", "驻站社工须注明市级或县级督导培训层级。")
    return values


def _certification_cells(row: Row, today: dt.date) -> dict[str, Any]:
    facts = row.id_number(today)
    values: dict[str, Any] = {"id_number": facts.number if facts else None}
    values["level"] = row.choice("level", v.LEVELS, "助理社会工作师、社会工作师、高级社会工作师", required=True)
    number = row.text("certificate_number", required=True, max_length=40)
    if number is not None:
        number = number.upper().replace(" ", "")
        if not _CERT_NUMBER.match(number):
            row.err(
                "certificate_number", "certificate_number_format", "证书编号只能包含字母、数字和连字符（4–40 位）。"
            )
    values["certificate_number"] = number
    year = values["exam_year"] = row.year("exam_year", required=True, low=2008)
    if year is not None and year > today.year:
        row.err("exam_year", "exam_year_future", "考试年度不能晚于今年。")
    start = row.date("registration_valid_from")
    end = row.date("registration_valid_to")
    if start is None and end is not None:
        row.err("registration_valid_from", "registration_start_required", "填写登记有效期止时须同时填写登记有效期起。")
    if start is not None:
        end = end or default_registration_end(start)
        if end <= start:
            row.err("registration_valid_to", "registration_end_before_start", "登记有效期止必须晚于登记有效期起。")
        if year is not None and start.year < year:
            row.err("registration_valid_from", "registration_before_exam", "登记有效期起不能早于考试年度。")
        if start > today:
            row.err("registration_valid_from", "registration_future", "登记有效期起不能晚于今天。")
    values["registration_valid_from"], values["registration_valid_to"] = start, end
    values["registration_authority"] = row.text("registration_authority", max_length=100)
    verified_on = values["verified_on"] = row.date("verified_on")
    evidence = values["verification_evidence"] = row.text("verification_evidence", max_length=500)
    if verified_on is not None:
        if verified_on > today:
            row.err("verified_on", "verified_on_future", "核验日期不能晚于今天。")
        elif year is not None and verified_on.year < year:
            row.err("verified_on", "verified_on_before_exam", "核验日期不能早于考试年度。")
        elif verified_on < today and evidence is None:
            row.err(
                "verification_evidence",
                "evidence_required",
                "核验日期早于今天时须填写核验依据，如“2024-03 纸质核验，档案号 …”。",
            )
    return values


def _registration_cells(row: Row, today: dt.date) -> dict[str, Any]:
    facts = row.id_number(today)
    values: dict[str, Any] = {"id_number": facts.number if facts else None}
    number = row.text("certificate_number", required=True, max_length=40)
    values["certificate_number"] = number.upper().replace(" ", "") if number else None
    kind = values["kind"] = row.choice("kind", v.PERIOD_KINDS, "首次登记、再登记、暂停、注销", required=True)
    start = values["start_date"] = row.date("start_date", required=True)
    end = row.date("end_date")
    values["authority"] = row.text("authority", max_length=100)
    note = values["note"] = row.text("note", max_length=500)
    if kind is not None and start is not None:
        if start > today:
            row.err("start_date", "period_future", "起始日期不能晚于今天。")
        if kind in ("registration", "renewal"):
            end = end or default_registration_end(start)
            if end <= start:
                row.err("end_date", "registration_end_before_start", "截止日期必须晚于起始日期。")
        elif kind == "cancellation" and end is not None:
            row.err("end_date", "cancellation_has_no_end", "注销长期有效，不填截止日期。")
        elif end is not None and end < start:
            row.err("end_date", "period_end_before_start", "截止日期不能早于起始日期。")
        if kind in ("suspension", "cancellation") and note is None:
            row.err("note", "reason_required", "暂停、注销须在“说明”中写明原因。")
    values["end_date"] = end
    return values


def _ce_cells(row: Row, today: dt.date) -> dict[str, Any]:
    facts = row.id_number(today)
    values: dict[str, Any] = {"id_number": facts.number if facts else None}
    day = values["activity_date"] = row.date("activity_date", required=True)
    if day is not None:
        if day > today:
            row.err("activity_date", "date_future", "继续教育日期不能晚于今天。")
        elif facts is not None and day < add_years(facts.birth_date, 16):
            row.err("activity_date", "date_before_working_age", "继续教育日期早于本人年满 16 周岁，请核对。")
    hours = row.decimal("hours", required=True, places=1)
    if hours is not None and not Decimal(0) < hours <= MAX_HOURS_PER_DAY:
        row.err("hours", "hours_out_of_range", "学时数应大于 0、不超过 24。")
        hours = None
    values["hours"] = hours
    heading = row.sheet.heading("hours")
    # With no unit given, the hours column's heading may tell (学时 or 小时); else it stays as
    # stored, and a new record counts class hours (学时).
    hinted = "小时" if "小时" in heading and "学时" not in heading else "学时" if "学时" in heading else None
    values["unit"] = row.choice("unit", v.UNITS, "学时、小时") or hinted
    values["category"] = row.choice("category", v.CE_CATEGORIES, "培训、督导、学术交流、其他", required=True)
    values["provider"] = row.text("provider", required=True, max_length=100)
    values["course"] = row.text("course", required=True, max_length=200)
    return values


def _salary_cells(row: Row, today: dt.date) -> dict[str, Any]:
    facts = row.id_number(today)
    values: dict[str, Any] = {"id_number": facts.number if facts else None}
    year = values["year"] = row.year("year", required=True)
    if year is not None and year > today.year:
        row.err("year", "year_future", "不能登记未来年度的薪酬。")
    amount = values["amount"] = row.decimal("amount", required=True, places=2)
    if amount is not None and (amount <= 0 or amount >= Decimal("10000000000")):
        row.err("amount", "amount_out_of_range", "年薪应大于 0 元。")
    _org_cells(row, values, required=False)
    return values


_READERS = {
    "organizations": _organization_cells,
    "practitioners": _person_cells,
    "employment": _employment_cells,
    "certifications": _certification_cells,
    "registrations": _registration_cells,
    "ce": _ce_cells,
    "salaries": _salary_cells,
}


# --- against the registry ------------------------------------------------------------------------


class Checker:
    def __init__(self, actor: Actor, parsed: Parsed, found: Lookups, today: dt.date) -> None:
        self.actor = actor
        self.parsed = parsed
        self.found = found
        self.today = today
        self.plan = Plan(problems=parsed.problems)
        self.plan.rows = sum(len(r) for r in parsed.rows.values())
        # People of the 人员 sheet: ID number -> (row, values, ok)
        self.new_people: dict[str, tuple[Row, dict[str, Any]]] = {}
        self.bad_people: set[str] = set()
        self.household: dict[str, str | None] = {}
        # Final spells per person (by ID number): (organization id, from, to, file row or None)
        self.final_spells: dict[str, list[tuple[int, dt.date, dt.date | None, Row | None]]] = {}
        self.jurisdiction: dict[str, tuple[str | None, int | None]] = {}
        self._scope: dict[tuple[str | None, int | None], bool] = {}
        self._verify_scope: dict[tuple[str | None, int | None], bool] = {}
        # Organizations of the file's 单位 sheet not yet in the registry: by code and by name, each
        # with a stand-in id (minus its row number) until the commit writes it.
        self.new_orgs_by_code: dict[str, dict[str, Any]] = {}
        self.new_orgs_by_name: dict[str, list[dict[str, Any]]] = {}
        # The certificates of the file's 证书 sheet: number -> (ID number, exam year, first registration start)
        self.file_certs: dict[str, tuple[str, int | None, dt.date | None]] = {}

    def run(self) -> Plan:
        self._organizations()
        self._people()
        self._employment()
        self._jurisdiction()
        self._certifications()
        self._registrations()
        self._ce()
        self._salaries()
        for kind, writes in self.plan.writes.items():
            for write in writes:
                if kind == "organizations":
                    write["a_region"], write["a_org"] = write["region_code"], write.get("id")
                else:
                    write["a_region"], write["a_org"] = self.about(write["id_number"])
        return self.plan

    # who ---------------------------------------------------------------------------------------

    def _may(self, region_code: str | None, organization_id: int | None) -> bool:
        key = (region_code, organization_id)
        allowed = self._scope.get(key)
        if allowed is None:
            allowed = self._scope[key] = self.actor.may_on(
                "write", region_code=region_code, organization_id=organization_id
            )
        return allowed

    def may_verify(self, number: str) -> bool:
        """May the importing user verify certificates where this person belongs (once imported)?"""
        key = self.about(number)
        allowed = self._verify_scope.get(key)
        if allowed is None:
            allowed = self._verify_scope[key] = self.actor.may_on("verify", region_code=key[0], organization_id=key[1])
        return allowed

    def _writable(self, person: dict[str, Any]) -> bool:
        return self._may(person["region_code"], person["organization_id"])

    def _who(self, id_number: str, name: str | None = None) -> str:
        person = self.found.people.get(id_number)
        return f"{name or (person['name'] if person else '')} {mask_id_number(id_number)}".strip()

    def _resolve(self, row: Row, values: dict[str, Any]) -> tuple[str, int | None] | None:
        """The person a row refers to: (ID number, id or None for someone new in this file)."""
        number = values.get("id_number")
        if number is None:
            return None
        person = self.found.people.get(number)
        if person is not None:
            if not self._writable(person):
                row.err(
                    "id_number", "out_of_scope", f"{mask_id_number(number)} 的档案不在您的管辖范围内，不能导入其记录。"
                )
                return None
            return number, int(person["id"])
        if number in self.new_people:
            return number, None
        if number in self.bad_people:
            row.ok = False
            return None
        row.err(
            "id_number",
            "practitioner_unknown",
            f"{mask_id_number(number)} 既不在库中，也不在本文件的“人员”表中，请先登记人员。",
        )
        return None

    def _org(self, row: Row, values: dict[str, Any], key_prefix: str = "") -> dict[str, Any] | None:
        code, name = values.get("credit_code"), values.get("org_name")
        if code:
            org = self.found.orgs_by_code.get(code) or self.new_orgs_by_code.get(code)
            if org is None or not self._may(org["region_code"], org["id"]):
                row.err(
                    "credit_code",
                    "organization_unknown",
                    f"统一社会信用代码为 {code} 的单位不在库中或不在您的管辖范围内。",
                )
                return None
            return org
        if name:
            orgs = [
                o
                for o in [*self.found.orgs_by_name.get(name, []), *self.new_orgs_by_name.get(name, [])]
                if self._may(o["region_code"], o["id"])
            ]
            if not orgs:
                row.err(
                    "org_name",
                    "organization_unknown",
                    f"单位“{name}”不在库中或不在您的管辖范围内；名称须与库中完全一致。",
                )
                return None
            if len(orgs) > 1:
                row.err(
                    "org_name",
                    "organization_ambiguous",
                    f"库中有 {len(orgs)} 家名为“{name}”的单位，请填写统一社会信用代码。",
                )
                return None
            return orgs[0]
        return None

    # kinds -------------------------------------------------------------------------------------

    def _organizations(self) -> None:
        seen: dict[tuple[str, str], int] = {}
        for row, values in self.parsed.rows["organizations"]:
            name, code, region = values["name"], values.get("credit_code"), values["region_code"]
            if not row.ok:
                continue
            if region not in self.found.regions:
                row.err("region_code", "region_unknown", f"{region} 不是有效的行政区划代码。")
                continue
            if not self.actor.may_on("manage_org", region_code=region):
                row.err("region_code", "out_of_scope", f"区划 {region} 不在您的管辖范围内，或您的角色不能登记单位。")
                continue
            key = ("code", code) if code else ("name", f"{region}:{name}")
            if key in seen:
                row.err("name", "row_repeated", f"同一单位已在第 {seen[key]} 行出现。")
                continue
            seen[key] = row.number
            if code:
                existing = self.found.orgs_by_code.get(code)
            else:
                same = [o for o in self.found.orgs_by_name.get(name, []) if o["region_code"] == region]
                existing = same[0] if len(same) == 1 else None
                if len(same) > 1:
                    row.err(
                        "name",
                        "organization_ambiguous",
                        f"本区划有 {len(same)} 家名为“{name}”的单位，请填写统一社会信用代码。",
                    )
                    continue
            fields = ("name", "org_type", "founded_on", "closed_on")
            if existing is None and region in self.found.inactive_regions:
                # As the form refuses it (organizations.service): a new employer is placed in a
                # current division only.
                row.err(
                    "region_code",
                    "region_inactive",
                    f"行政区划 {self.found.inactive_regions[region]}（{region}）已撤销或不是具体地区，请填写现行区划代码。",
                )
                continue
            if existing is None:
                org = {"id": -row.number, "name": name, "credit_code": code, "region_code": region}
                if code:
                    self.new_orgs_by_code[code] = org
                self.new_orgs_by_name.setdefault(name, []).append(org)
                self.found.org_regions[-row.number] = region
                self.plan.writes["organizations"].append(
                    {
                        "action": "create",
                        "sheet": row.sheet.name,
                        "row": row.number,
                        "pseudo_id": -row.number,
                        "credit_code": code,
                        "region_code": region,
                        **{k: values[k] for k in fields},
                    }
                )
                self.plan.note("organizations", "create", row, name)
                continue
            if existing["region_code"] != region:
                row.err(
                    "region_code",
                    "organization_region_differs",
                    f"库中该单位所在区划为 {existing['region_code']}；变更区划请在系统中办理。",
                )
                continue
            if not self.actor.may_on("manage_org", region_code=existing["region_code"]):
                row.err("name", "out_of_scope", "该单位不在您的管辖范围内。")
                continue
            merged = {k: values[k] if values[k] is not None else existing[k] for k in fields}
            changes = [k for k in fields if merged[k] != existing[k]]
            if (
                merged["closed_on"] is not None
                and merged["founded_on"] is not None
                and merged["closed_on"] < merged["founded_on"]
            ):
                row.err("closed_on", "closed_before_founded", "注销日期不能早于成立日期。")
                continue
            if changes:
                self.plan.writes["organizations"].append(
                    {
                        "action": "update",
                        "sheet": row.sheet.name,
                        "row": row.number,
                        "id": existing["id"],
                        "credit_code": existing["credit_code"],
                        "region_code": region,
                        **merged,
                    }
                )
            self.plan.note("organizations", "update" if changes else "unchanged", row, name, changes)

    def _people(self) -> None:
        first_row: dict[str, int] = {}
        for row, values in self.parsed.rows["practitioners"]:
            number = values.get("id_number")
            if number is not None:
                if number in first_row:
                    row.err("id_number", "id_number_repeated", f"该身份证号在本表第 {first_row[number]} 行已出现。")
                    continue
                first_row[number] = row.number
            region = values.get("household_region_code")
            if region is not None and region not in self.found.regions:
                row.err("household_region_code", "region_unknown", f"{region} 不是有效的行政区划代码。")
            if number is None:
                continue
            person = self.found.people.get(number)
            if person is not None and not self._writable(person):
                row.err("id_number", "out_of_scope", f"{mask_id_number(number)} 的档案不在您的管辖范围内。")
            if not row.ok:
                self.bad_people.add(number)
                continue
            self.new_people[number] = (row, values)
            self.household[number] = region or (person["household_region_code"] if person else None)

    def _people_plan(self) -> None:
        for number, (row, values) in self.new_people.items():
            if not row.ok:
                continue
            person = self.found.people.get(number)
            region, org = self.jurisdiction.get(number, (self.household.get(number), None))
            if person is None:
                self.plan.writes["practitioners"].append(
                    {
                        "action": "create",
                        "sheet": row.sheet.name,
                        "row": row.number,
                        **{k: values[k] for k in ("name", "id_number", "birth_date", "sex", "phone", "education")},
                        "social_work_major": bool(values["social_work_major"]),
                        "household_region_code": values["household_region_code"],
                        "organization_id": org,
                        "region_code": region,
                        **_bank_write(values),
                    }
                )
                self.plan.note("practitioners", "create", row, self._who(number, values["name"]))
                continue
            changes = [
                key
                for key in ("name", "education", "phone", "household_region_code", "social_work_major")
                if values[key] is not None and values[key] != person[key]
            ]
            if changes:
                new = {key: values[key] if values[key] is not None else person[key] for key in changes}
                merged = {
                    key: new.get(key, person[key])
                    for key in ("name", "education", "phone", "household_region_code", "social_work_major")
                }
                self.plan.writes["practitioners"].append(
                    {
                        "action": "update",
                        "sheet": row.sheet.name,
                        "row": row.number,
                        "id": person["id"],
                        "id_number": number,
                        **merged,
                        **_bank_write(values),
                    }
                )
            elif values["bank_account"] is not None:
                # Only the account, written if it differs from the person's latest (write.py).
                self.plan.writes["practitioners"].append(
                    {
                        "action": "bank",
                        "sheet": row.sheet.name,
                        "row": row.number,
                        "id": person["id"],
                        "id_number": number,
                    }
                    | _bank_write(values)
                )
            self.plan.note("practitioners", "update" if changes else "unchanged", row, self._who(number), changes)

    def _employment(self) -> None:
        seen: dict[tuple[str, int, dt.date], int] = {}
        planned: list[tuple[Row, dict[str, Any], str, int | None, dict[str, Any] | None]] = []
        file_spells: dict[str, list[tuple[Row, dict[str, Any], int]]] = defaultdict(list)
        for row, values in self.parsed.rows["employment"]:
            who = self._resolve(row, values)
            org = self._org(row, values)
            if who is None or org is None or not row.ok:
                row.ok = False
                continue
            number, pid = who
            key = (number, int(org["id"]), values["in_post_from"])
            if key in seen:
                row.err(
                    "in_post_from", "row_repeated", f"同一人在同一单位同一起始日期的任职已在第 {seen[key]} 行出现。"
                )
                continue
            seen[key] = row.number
            match = None
            if pid is not None:
                match = next(
                    (
                        s
                        for s in self.found.spells.get(pid, [])
                        if s["organization_id"] == org["id"] and s["in_post_from"] == values["in_post_from"]
                    ),
                    None,
                )
            if match is not None:
                # Blank cells keep what is stored: the level always; the end date when the
                # file has no such column (a blank 离岗日期 in the column means still in post).
                values["duty_level"] = values["duty_level"] or match["duty_level"]
                if not row.present("in_post_to"):
                    values["in_post_to"] = match["in_post_to"]
            planned.append((row, values, number, pid, match))
            file_spells[number].append((row, values, int(org["id"])))
        # Overlaps: the person's spells once this file is in (matched spells take the file's values).
        for number, rows in file_spells.items():
            person = self.found.people.get(number)
            matched_ids: set[int] = set()
            spells: list[tuple[int, dt.date, dt.date | None, Row | None]] = []
            for row, values, org_id in rows:
                spells.append((org_id, values["in_post_from"], values["in_post_to"], row))
            if person is not None:
                for _row, values, org_id in rows:
                    for s in self.found.spells.get(int(person["id"]), []):
                        if s["organization_id"] == org_id and s["in_post_from"] == values["in_post_from"]:
                            matched_ids.add(int(s["id"]))
                for s in self.found.spells.get(int(person["id"]), []):
                    if int(s["id"]) not in matched_ids:
                        spells.append((int(s["organization_id"]), s["in_post_from"], s["in_post_to"], None))
            spells.sort(key=lambda s: s[1])
            for a, b in itertools.pairwise(spells):
                if (a[2] is None or a[2] >= b[1]) and (a[3] is not None or b[3] is not None):
                    until = a[2].isoformat() if a[2] else "至今"
                    for mine, other in ((a, b), (b, a)):
                        if mine[3] is not None and mine[3].ok:
                            where = f"本表第 {other[3].number} 行" if other[3] is not None else "库中已有"
                            mine[3].err(
                                "in_post_from",
                                "employment_overlap",
                                f"与{where}的任职（{a[1].isoformat()} 至 {until}）时间重叠；请先填写原岗位的离岗日期。"
                                if mine is b
                                else f"与{where}的任职（起始 {b[1].isoformat()}）时间重叠；请先填写本段的离岗日期。",
                            )
            self.final_spells[number] = spells
        for row, values, number, pid, match in planned:
            if not row.ok:
                continue
            if match is None:
                self.plan.writes["employment"].append(
                    {
                        "action": "create",
                        "sheet": row.sheet.name,
                        "row": row.number,
                        "id_number": number,
                        "practitioner_id": pid,
                        "organization_id": next(o for r, _, o in file_spells[number] if r is row),
                        **{k: values[k] for k in ("post_type", "duty_level", "in_post_from", "in_post_to")},
                    }
                )
                self.plan.note("employment", "create", row, self._who(number))
                continue
            changes = [k for k in ("post_type", "duty_level", "in_post_to") if values[k] != match[k]]
            if changes:
                self.plan.writes["employment"].append(
                    {
                        "action": "update",
                        "sheet": row.sheet.name,
                        "row": row.number,
                        "id": match["id"],
                        "id_number": number,
                        "practitioner_id": pid,
                        **{k: values[k] for k in ("post_type", "duty_level", "in_post_to")},
                    }
                )
            self.plan.note("employment", "update" if changes else "unchanged", row, self._who(number), changes)

    def _jurisdiction(self) -> None:
        """Where each person of the file belongs once it is in (the employer of the current
        spell, else of the latest, else the household region), as ``refresh_jurisdiction``
        will derive it: a clerk may not import someone out of their own reach."""
        numbers = set(self.new_people) | set(self.final_spells)
        for number in numbers:
            person = self.found.people.get(number)
            spells = self.final_spells.get(number)
            if spells is None and person is not None:
                spells = [
                    (int(s["organization_id"]), s["in_post_from"], s["in_post_to"], None)
                    for s in self.found.spells.get(int(person["id"]), [])
                ]
            spells = spells or []
            current = [s for s in spells if s[1] <= self.today and (s[2] is None or s[2] >= self.today)]
            best = max(current or spells, key=lambda s: s[1], default=None)
            if best is not None:
                region: str | None = self.found.org_regions.get(best[0])
                org: int | None = best[0]
            else:
                region = self.household.get(number, person["household_region_code"] if person else None)
                org = None
            self.jurisdiction[number] = (region, org)
            if not self._may(region, org):
                rows = [r for r, _ in [self.new_people[number]]] if number in self.new_people else []
                rows += [s[3] for s in spells if s[3] is not None]
                target = next((r for r in rows if r.ok), None)
                if target is not None:
                    target.err(
                        "id_number",
                        "out_of_scope",
                        "导入后该人员将不在您的管辖范围内：请填写本辖区的单位或户籍地，跨辖区调动由接收地办理。",
                    )
                    self.bad_people.add(number)
        self._people_plan()

    def about(self, number: str) -> tuple[str | None, int | None]:
        if number in self.jurisdiction:
            return self.jurisdiction[number]
        person = self.found.people[number]
        return person["region_code"], person["organization_id"]

    def _certifications(self) -> None:
        seen: dict[str, int] = {}
        for row, values in self.parsed.rows["certifications"]:
            number = values.get("certificate_number")
            if number is not None and row.ok:
                if number in seen:
                    row.err(
                        "certificate_number",
                        "certificate_number_duplicate",
                        f"证书编号在本表第 {seen[number]} 行已出现。",
                    )
                    continue
                seen[number] = row.number
            who = self._resolve(row, values)
            if who is None or not row.ok:
                continue
            id_number, pid = who
            existing = self.found.certs.get(number or "")
            if existing is not None and existing["practitioner_id"] != pid:
                row.err(
                    "certificate_number",
                    "certificate_number_duplicate",
                    "该证书编号已登记在库中他人名下，不能重复登记；请核对编号。",
                )
                continue
            fields = ("level", "exam_year", "registration_valid_from", "registration_valid_to")
            if existing is not None and values["registration_valid_from"] is None:
                # A blank registration keeps the stored one.
                values["registration_valid_from"] = existing["registration_valid_from"]
                values["registration_valid_to"] = existing["registration_valid_to"]
            if existing is not None and values["registration_authority"] is None:
                values["registration_authority"] = existing["registration_authority"]
            self.file_certs[number or ""] = (id_number, values["exam_year"], values["registration_valid_from"])
            verify = self._verification(row, values, id_number, existing)
            period = {
                "registration_valid_from": values["registration_valid_from"],
                "registration_valid_to": values["registration_valid_to"],
                "registration_authority": values["registration_authority"],
                "period_id": existing["period_id"] if existing else None,
                "verify": verify,
                "verified_on": values["verified_on"] if verify else None,
                "verification_evidence": values["verification_evidence"] if verify else None,
            }
            if existing is None:
                self.plan.writes["certifications"].append(
                    {
                        "action": "create",
                        "sheet": row.sheet.name,
                        "row": row.number,
                        "id_number": id_number,
                        "practitioner_id": pid,
                        "certificate_number": number,
                        **{k: values[k] for k in fields},
                        **period,
                        "period_changed": values["registration_valid_from"] is not None,
                    }
                )
                self.plan.note("certifications", "create", row, f"{number}（{self._who(id_number)}）")
                continue
            changes = [k for k in (*fields, "registration_authority") if values[k] != existing[k]]
            if verify:
                changes.append("verified_on")
            if changes:
                self.plan.writes["certifications"].append(
                    {
                        "action": "update",
                        "sheet": row.sheet.name,
                        "row": row.number,
                        "id": existing["id"],
                        "id_number": id_number,
                        "certificate_number": number,
                        **{k: values[k] for k in fields},
                        **period,
                        "period_changed": any(k.startswith("registration") for k in changes),
                        "facts_changed": any(k in fields for k in changes),
                    }
                )
            self.plan.note(
                "certifications",
                "update" if changes else "unchanged",
                row,
                f"{number}（{self._who(id_number)}）",
                changes,
            )

    def _verification(self, row: Row, values: dict[str, Any], id_number: str, existing: dict[str, Any] | None) -> bool:
        """Is the row's verification date taken? Only from a user who may verify certificates
        where the person belongs; otherwise the certificate is (or stays) pending, and the dry
        run says so on the row."""
        day = values.get("verified_on")
        if day is None:
            return False
        if existing is not None and existing["verification_status"] == "verified" and existing["verified_on"] == day:
            return False  # already so
        if not self.may_verify(id_number):
            self.plan.notice(
                row,
                "verified_on",
                "verification_not_taken",
                f"核验日期 {day} 未采用：您无权核验该地区的证书，导入后为待核验，由辖区民政工作人员核验。",
            )
            return False
        return True

    def _registrations(self) -> None:
        """The 登记记录 sheet: registrations, renewals, suspensions and cancellations of
        certificates in the registry or in this file's 证书 sheet."""
        seen: dict[tuple[str, str, dt.date], int] = {}
        planned: dict[str, list[tuple[dt.date, dt.date, Row | None]]] = defaultdict(list)
        for row, values in self.parsed.rows["registrations"]:
            who = self._resolve(row, values)
            number = values.get("certificate_number")
            if who is None or not row.ok or number is None:
                continue
            id_number, pid = who
            existing = self.found.certs.get(number)
            in_file = self.file_certs.get(number)
            owner_ok = (existing is not None and existing["practitioner_id"] == pid and pid is not None) or (
                in_file is not None and in_file[0] == id_number
            )
            if not owner_ok:
                row.err(
                    "certificate_number",
                    "certificate_unknown",
                    "该证书编号不在库中此人名下，也不在本文件“证书”表中此人的行里；请先登记证书。",
                )
                continue
            if (
                existing is not None
                and existing["verification_status"] == "verified"
                and not self.may_verify(id_number)
            ):
                row.err(
                    "certificate_number",
                    "registration_needs_verifier",
                    "该证书已核验，其登记、暂停、注销记录须由辖区民政工作人员录入。",
                )
                continue
            kind, start, end = values["kind"], values["start_date"], values["end_date"]
            key = (number, kind, start)
            if key in seen:
                row.err("start_date", "row_repeated", f"同一证书同一类别同一起始日期的记录已在第 {seen[key]} 行出现。")
                continue
            seen[key] = row.number
            exam = in_file[1] if in_file else existing["exam_year"] if existing else None
            if kind in ("registration", "renewal") and exam is not None and start.year < exam:
                row.err("start_date", "registration_before_exam", "登记起始日期不能早于考试年度。")
                continue
            if kind == "registration" and in_file is not None and in_file[2] == start:
                # The 证书 sheet's own first registration: written there.
                self.plan.note("registrations", "unchanged", row, f"{number} {start}")
                continue
            stored = [p for p in self.found.periods.get(number, []) if p["kind"] == kind and p["start_date"] == start]
            match = stored[0] if stored else None
            if kind in ("registration", "renewal"):
                planned[number].append((start, end, row))
            authority = values["authority"] or (match["authority"] if match else None)
            note = values["note"] or (match["note"] if match else None)
            if match is not None and (match["end_date"], match["authority"], match["note"]) == (end, authority, note):
                self.plan.note("registrations", "unchanged", row, f"{number} {start}")
                continue
            self.plan.writes["registrations"].append(
                {
                    "action": "create" if match is None else "update",
                    "sheet": row.sheet.name,
                    "row": row.number,
                    "id_number": id_number,
                    "practitioner_id": pid,
                    "certificate_number": number,
                    "kind": kind,
                    "start_date": start,
                    "end_date": end,
                    "authority": authority,
                    "note": note or ("导入更正" if match is not None else None),
                    "replaces_id": match["id"] if match else None,
                }
            )
            self.plan.note(
                "registrations",
                "create" if match is None else "update",
                row,
                f"{number} {start}",
                [] if match is None else ["end_date"],
            )
        # Registration periods of one certificate do not overlap, the stored ones counted.
        for number, rows in planned.items():
            replaced = {
                w["replaces_id"] for w in self.plan.writes["registrations"] if w["certificate_number"] == number
            }
            mine = {(start, row.number) for start, _, row in rows if row is not None}
            periods = list(rows) + [
                (p["start_date"], p["end_date"], None)
                for p in self.found.periods.get(number, [])
                if p["kind"] in ("registration", "renewal")
                and p["id"] not in replaced
                and not any(p["start_date"] == start for start, _ in mine)
            ]
            in_file = self.file_certs.get(number)
            if in_file is not None and in_file[2] is not None and not any(p[0] == in_file[2] for p in periods):
                periods.append((in_file[2], default_registration_end(in_file[2]), None))
            periods.sort(key=lambda p: p[0])
            for a, b in itertools.pairwise(periods):
                if a[1] >= b[0]:
                    for target in (b[2], a[2]):
                        if target is not None and target.ok:
                            target.err(
                                "start_date",
                                "registration_overlaps",
                                f"与该证书的登记有效期 {a[0]} 至 {a[1]} 重叠；如原记录有误，请在系统中更正。",
                            )
                            break
        if any(not row.ok for row, _ in self.parsed.rows["registrations"]):
            bad = {(r.sheet.name, r.number) for r, _ in self.parsed.rows["registrations"] if not r.ok}
            self.plan.writes["registrations"] = [
                w for w in self.plan.writes["registrations"] if (w["sheet"], w["row"]) not in bad
            ]

    def _ce(self) -> None:
        seen: dict[tuple[str, dt.date, str, Decimal], int] = {}
        day_hours: dict[tuple[str, dt.date], list[tuple[Row, str, Decimal]]] = defaultdict(list)
        added: set[int] = set()  # the rows (by identity) that are new records
        for row, values in self.parsed.rows["ce"]:
            who = self._resolve(row, values)
            if who is None or not row.ok:
                continue
            number, pid = who
            key = (number, values["activity_date"], values["course"], values["hours"])
            if key in seen:
                row.err("course", "row_repeated", f"同一人同一天同一课程同一学时的记录已在第 {seen[key]} 行出现。")
                continue
            seen[key] = row.number
            existing = self.found.ce.get((pid, values["activity_date"]), []) if pid is not None else []
            match = next(
                (e for e in existing if e["course"] == values["course"] and e["hours"] == values["hours"]), None
            )
            day_hours[(number, values["activity_date"])].append((row, values["course"], values["hours"]))
            values["unit"] = values["unit"] or (match["unit"] if match is not None else "学时")
            if match is None:
                added.add(id(row))
            fields = ("unit", "category", "provider")
            if match is None:
                self.plan.writes["ce"].append(
                    {
                        "action": "create",
                        "sheet": row.sheet.name,
                        "row": row.number,
                        "id_number": number,
                        "practitioner_id": pid,
                        **{k: values[k] for k in ("activity_date", "hours", "course", *fields)},
                    }
                )
                self.plan.note("ce", "create", row, self._who(number))
                continue
            changes = [k for k in fields if values[k] != match[k]]
            if changes:
                self.plan.writes["ce"].append(
                    {
                        "action": "update",
                        "sheet": row.sheet.name,
                        "row": row.number,
                        "id": match["id"],
                        "id_number": number,
                        **{k: values[k] for k in fields},
                    }
                )
            self.plan.note("ce", "update" if changes else "unchanged", row, self._who(number), changes)
        # A day holds at most 24 hours: the file's records and the registry's other live ones.
        for (number, day), rows in day_hours.items():
            person = self.found.people.get(number)
            in_file = {(course, hours) for _, course, hours in rows}
            others = stored = Decimal(0)
            if person is not None:
                for e in self.found.ce.get((int(person["id"]), day), []):
                    if e["status"] != "rejected":
                        stored += e["hours"]
                        if (e["course"], e["hours"]) not in in_file:
                            others += e["hours"]
            total = others + sum((h for _, _, h in rows), Decimal(0))
            if total > MAX_HOURS_PER_DAY:
                # The rows that add hours are at fault (all of them if none does).
                adding = [r for r, _, _ in rows if id(r) in added] or [r for r, _, _ in rows]
                for row in adding:
                    row.err(
                        "hours",
                        "hours_day_exceeded",
                        f"{mask_id_number(number)} 在 {day} 合计 {total} 学时（库中已登记 {stored}），一天不能超过 24 小时。",
                    )

    def _salaries(self) -> None:
        seen: dict[tuple[str, int], int] = {}
        for row, values in self.parsed.rows["salaries"]:
            who = self._resolve(row, values)
            org = self._org(row, values) if values.get("credit_code") or values.get("org_name") else None
            if who is None or not row.ok:
                continue
            number, pid = who
            key = (number, values["year"])
            if key in seen:
                row.err("year", "salary_year_repeated", f"同一人同一年度的薪酬已在第 {seen[key]} 行出现。")
                continue
            seen[key] = row.number
            existing = self.found.salaries.get((pid, values["year"])) if pid is not None else None
            org_id = int(org["id"]) if org else None
            if existing is None:
                self.plan.writes["salaries"].append(
                    {
                        "action": "create",
                        "sheet": row.sheet.name,
                        "row": row.number,
                        "id_number": number,
                        "practitioner_id": pid,
                        "year": values["year"],
                        "amount": values["amount"],
                        "organization_id": org_id,
                    }
                )
                self.plan.note("salaries", "create", row, f"{self._who(number)} {values['year']} 年")
                continue
            if existing.get("period") == "monthly":
                # The sheet gives annual pay; the registry holds this year as monthly pay. Writing
                # one over the other would change the figure twelvefold: a clerk decides.
                row.err(
                    "amount",
                    "salary_period_conflict",
                    f"人才库中 {values['year']} 年薪酬按月登记（每月 {existing['amount']} 元），"
                    "表格为年薪，请在系统中更正后再导入。",
                )
                continue
            changes = []
            if values["amount"] != existing["amount"]:
                changes.append("amount")
            if org_id is not None and org_id != existing["organization_id"]:
                changes.append("organization_id")
            if changes:
                self.plan.writes["salaries"].append(
                    {
                        "action": "update",
                        "sheet": row.sheet.name,
                        "row": row.number,
                        "id": existing["id"],
                        "id_number": number,
                        "amount": values["amount"],
                        "organization_id": org_id if org_id is not None else existing["organization_id"],
                    }
                )
            self.plan.note(
                "salaries",
                "update" if changes else "unchanged",
                row,
                f"{self._who(number)} {values['year']} 年",
                changes,
            )
