from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Text,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by, distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from registry import bounds, clock, versions
from registry.accounts.actor import Actor, Forbidden, Grant, organization_scope, practitioner_scope
from registry.audit.schemas import AuditEventRead
from registry.audit.service import about, list_events, record, snapshot
from registry.certifications.history import in_force
from registry.certifications.schemas import CertificationRead, PeriodRead
from registry.db import FixedReads, FixedStatement, flush_or_raise
from registry.errors import Conflict, FieldError, InvalidInput, NotFound, Problems
from registry.identity import mask_id_number, mask_phone, parse_id_number
from registry.models import (
    BankAccount,
    Certification,
    CertificationPeriod,
    Employment,
    Organization,
    Practitioner,
    Region,
)
from registry.practitioners.names import name_tokens, normalize_name, query_tokens
from registry.practitioners.schemas import (
    EmploymentCreate,
    EmploymentRead,
    EmploymentUpdate,
    PractitionerCreate,
    PractitionerDetail,
    PractitionerPage,
    PractitionerRead,
    PractitionerSummary,
    PractitionerUpdate,
    RevealRequest,
    RevealResult,
)
from registry.regions.codes import CODE_RE, subtree_bounds
from registry.regions.service import require_region
from registry.schemas import Page

# CJK unified ideographs (all extensions, so 喆 堃 珺 and rarer ones pass), the middle dot of
# minority names, and Latin letters for foreign names.
_NAME = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f·A-Za-z]{1,50}$")
_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")

_CONSTRAINTS = {
    "uq_practitioner_id_number": lambda: Conflict.on_field(
        "id_number", "id_number_duplicate", "该身份证号已登记在库中，请勿重复登记；如需修改请打开原记录。"
    )
}

COUNT_CAP = 10_000


def _check_identity(
    problems: Problems,
    *,
    name: str | None,
    id_number: str | None,
    birth_date: dt.date | None,
    sex: str | None,
    phone: str | None,
    today: dt.date,
) -> dict[str, Any]:
    """Validate what was given and return the normalized values (derived birth date and sex)."""
    values: dict[str, Any] = {}
    if name is not None:
        cleaned = normalize_name(name)
        if not _NAME.match(cleaned):
            problems.add("name", "name_invalid", "姓名只能包含汉字、字母和间隔号“·”。")
        values["name"] = cleaned
    if id_number is not None:
        facts = parse_id_number(id_number, today=today)
        if isinstance(facts, FieldError):
            problems.errors.append(facts)
        else:
            values["id_number"] = facts.number
            derived_birth = facts.birth_date
            derived_sex = facts.sex
            if birth_date is not None and birth_date != derived_birth:
                problems.add(
                    "birth_date",
                    "birth_date_mismatch",
                    f"出生日期 {birth_date.isoformat()} 与身份证号中的 {derived_birth.isoformat()} 不一致。",
                )
            if sex is not None and sex != derived_sex:
                problems.add("sex", "sex_mismatch", "性别与身份证号第 17 位不一致（奇数为男，偶数为女）。")
            values["birth_date"] = derived_birth
            values["sex"] = derived_sex
    if phone is not None and phone.strip():
        cleaned_phone = phone.strip().replace(" ", "")
        if not _PHONE.match(cleaned_phone):
            problems.add("phone", "phone_invalid", "联系电话应为 11 位手机号或带区号的固定电话。")
        values["phone"] = cleaned_phone
    elif phone is not None:
        values["phone"] = None
    return values


async def create_practitioner(
    session: AsyncSession, actor: Actor, data: PractitionerCreate, *, today: dt.date | None = None
) -> Practitioner:
    actor.require("write", "您的角色无权登记社工。")
    today = today or clock.today()
    problems = Problems()
    values = _check_identity(
        problems,
        name=data.name,
        id_number=data.id_number,
        birth_date=data.birth_date,
        sex=data.sex,
        phone=data.phone,
        today=today,
    )
    problems.raise_if_any()
    if data.household_region_code:
        await require_region(session, data.household_region_code, "household_region_code")
    person = Practitioner(
        name=values["name"],
        name_tokens=name_tokens(values["name"]),
        id_number=values["id_number"],
        birth_date=values["birth_date"],
        sex=values["sex"],
        phone=values.get("phone"),
        education=data.education,
        social_work_major=data.social_work_major,
        household_region_code=data.household_region_code or None,
        # Until an employment spell says otherwise, the jurisdiction is the household region.
        region_code=data.household_region_code or None,
    )
    session.add(person)
    await flush_or_raise(session, _CONSTRAINTS)
    if data.employment is not None:
        values = data.employment.model_dump()
        await _check_spell(session, actor, person, values, exclude_id=None, today=today, field_prefix="employment.")
        session.add(Employment(practitioner_id=person.id, **values))
        await session.flush()
        await refresh_jurisdiction(session, today=today, practitioner_id=person.id)
    await session.refresh(person)
    _require_still_in_scope(actor, person, "employment.organization_id" if data.employment else "household_region_code")
    await record(session, actor, "create", "practitioner", person.id, after=snapshot(person), **about(person))
    return person


def _require_still_in_scope(actor: Actor, person: Practitioner, field: str) -> None:
    """A write may not move a record out of the writer's own reach (it would vanish from
    their searches); such a transfer is done by the receiving region."""
    if not actor.may_on("write", region_code=person.region_code, organization_id=person.organization_id):
        raise InvalidInput.on_field(
            field,
            "out_of_scope",
            "保存后该记录将不在您的管辖范围内：请选择本辖区的单位或户籍地，跨辖区调动由接收地办理。",
        )


async def get_practitioner(
    session: AsyncSession, actor: Actor, practitioner_id: int, *, action: str = "read", for_update: bool = False
) -> Practitioner:
    """The record if the actor may see it (else 404, so existence does not leak), and 403 if
    they may see it but not do ``action`` to it."""
    stmt = select(Practitioner).where(Practitioner.id == practitioner_id, practitioner_scope(actor, "read"))
    if for_update:
        stmt = stmt.with_for_update()
    person = (await session.scalars(stmt)).one_or_none()
    if person is None:
        raise NotFound(f"社工 {practitioner_id} 不存在或不在您的管辖范围内。", code="practitioner_not_found")
    if action != "read" and not actor.may_on(
        action, region_code=person.region_code, organization_id=person.organization_id, practitioner_id=person.id
    ):
        raise Forbidden("您的角色无权修改该社工的档案。" if action == "write" else "您的角色无权执行此操作。")
    return person


async def update_practitioner(
    session: AsyncSession,
    actor: Actor,
    practitioner_id: int,
    data: PractitionerUpdate,
    *,
    today: dt.date | None = None,
    if_match: str | None = None,
) -> Practitioner:
    today = today or clock.today()
    person = await get_practitioner(session, actor, practitioner_id, action="write", for_update=True)
    await versions.require(session, Practitioner, person.id, if_match)
    before = snapshot(person)
    changes = data.model_dump(exclude_unset=True)
    problems = Problems()
    # Birth date and sex are always checked against the ID number that will be stored.
    values = _check_identity(
        problems,
        name=changes.get("name"),
        id_number=changes.get("id_number") or person.id_number,
        birth_date=changes.get("birth_date"),
        sex=changes.get("sex"),
        # An explicit null clears the phone number, like an empty string.
        phone=("" if changes["phone"] is None else changes["phone"]) if "phone" in changes else None,
        today=today,
    )
    for key in ("education", "social_work_major"):
        if key in changes and changes[key] is None:
            problems.add(key, "required", "该项不能为空。")
    problems.raise_if_any()
    if changes.get("household_region_code"):
        await require_region(session, changes["household_region_code"], "household_region_code")
    for key in ("name", "id_number", "birth_date", "sex", "phone"):
        if key in values:
            setattr(person, key, values[key])
    if "name" in values:
        person.name_tokens = name_tokens(values["name"])
    for key in ("education", "social_work_major", "household_region_code"):
        if key in changes:
            setattr(person, key, changes[key] or (None if key == "household_region_code" else changes[key]))
    await flush_or_raise(session, _CONSTRAINTS)
    if "household_region_code" in changes:
        await refresh_jurisdiction(session, today=today, practitioner_id=person.id)
    await session.refresh(person)
    _require_still_in_scope(actor, person, "household_region_code")
    await record(
        session, actor, "update", "practitioner", person.id, before=before, after=snapshot(person), **about(person)
    )
    return person


async def reveal(session: AsyncSession, actor: Actor, practitioner_id: int, data: RevealRequest) -> RevealResult:
    """The full ID and phone numbers, shown only on an explicit request that is recorded."""
    person = await get_practitioner(session, actor, practitioner_id, action="reveal")
    await record(
        session,
        actor,
        "reveal",
        "practitioner",
        person.id,
        detail={"fields": sorted(data.fields), "reason": data.reason},
        **about(person),
    )
    account = None
    if "bank_account" in data.fields:
        account = (
            await session.scalars(
                select(BankAccount).where(BankAccount.practitioner_id == person.id).order_by(BankAccount.id.desc())
            )
        ).first()
    return RevealResult(
        id=person.id,
        id_number=person.id_number if "id_number" in data.fields else None,
        phone=person.phone if "phone" in data.fields else None,
        bank_account_number=account.account_number if account else None,
        bank_name=account.bank_name if account else None,
    )


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # born on 29 February: the birthday falls on 1 March
        return dt.date(day.year + years, 3, 1)


def _current_spell(today: Any) -> ColumnElement[bool]:
    return and_(
        Employment.in_post_from <= today,
        or_(Employment.in_post_to.is_(None), Employment.in_post_to >= today),
    )


async def audit_trail(
    session: AsyncSession, actor: Actor, practitioner_id: int, *, cursor: int | None, limit: int
) -> Page[AuditEventRead]:
    actor.require("audit", "只有系统管理员和民政工作人员可以查看审计记录。")
    await get_practitioner(session, actor, practitioner_id)
    return await list_events(session, actor, practitioner_id=practitioner_id, cursor=cursor, limit=limit)


_EMPLOYMENT_FIELDS = (
    "id",
    "practitioner_id",
    "organization_id",
    "post_type",
    "duty_level",
    "in_post_from",
    "in_post_to",
)
_CERTIFICATION_FIELDS = tuple(
    f for f in CertificationRead.model_fields if hasattr(Certification, f) and f != "verified_by_name"
)
_PERIOD_FIELDS = tuple(f for f in PeriodRead.model_fields if hasattr(CertificationPeriod, f))


def _json_list(*pairs: Any, order_by: Any) -> Any:
    """json_agg of json_build_object(pairs), ordered; '[]' when there are none. The keys (names
    of this module's own fields) are written into the statement, not sent as parameters."""
    pairs = tuple(literal_column(f"'{x}'") if isinstance(x, str) else x for x in pairs)
    return func.coalesce(
        func.json_agg(aggregate_order_by(func.json_build_object(*pairs), *order_by)), literal_column("'[]'::json")
    )


@functools.cache
def _detail_parts() -> tuple[Any, Any]:
    """The spells and certificates as JSON, correlated to the practitioner; built once (building
    and keying them cost more than running them)."""
    spells = (
        select(
            _json_list(
                *(x for f in _EMPLOYMENT_FIELDS for x in (f, getattr(Employment, f))),
                "organization_name",
                Organization.name,
                order_by=(Employment.in_post_from.desc(), Employment.id),
            )
        )
        .join(Organization, Organization.id == Employment.organization_id)
        .where(Employment.practitioner_id == Practitioner.id)
        .scalar_subquery()
        .label("spells")
    )
    periods = (
        select(
            _json_list(
                *(x for f in _PERIOD_FIELDS for x in (f, getattr(CertificationPeriod, f))),
                "in_force",
                in_force(),
                order_by=(CertificationPeriod.start_date, CertificationPeriod.id),
            )
        )
        .where(CertificationPeriod.certification_id == Certification.id)
        .correlate(Certification)
        .scalar_subquery()
    )
    certs = (
        select(
            _json_list(
                *(x for f in _CERTIFICATION_FIELDS for x in (f, getattr(Certification, f))),
                "periods",
                periods,
                order_by=(Certification.id,),
            )
        )
        .where(Certification.practitioner_id == Practitioner.id)
        .scalar_subquery()
        .label("certs")
    )
    return spells, certs


@functools.lru_cache(maxsize=512)
def _detail_statement(unrestricted: bool, grants: tuple[Grant, ...]) -> FixedStatement:
    """The record, its region's name, spells, certificates and version for one reader's scope,
    compiled once per set of grants and bound per request."""
    scope = practitioner_scope(Actor(None, "", "", grants=grants, unrestricted=unrestricted), "read")
    spells, certs = _detail_parts()
    columns = [Practitioner.__table__.c[name] for name in _READ_COLUMNS]
    return FixedStatement.of(
        select(
            *columns,
            Region.full_name.label("region_name"),
            spells,
            certs,
            literal_column("practitioner.xmin::text").label("xmin"),
        )
        .outerjoin(Region, Region.code == Practitioner.region_code)
        .where(Practitioner.id == bindparam("practitioner_id", type_=Integer), scope)
    )


async def practitioner_record(
    reads: FixedReads | AsyncSession, actor: Actor, practitioner_id: int, *, today: dt.date | None = None
) -> tuple[PractitionerDetail, str]:
    """The record with its spells and certificates, and its version (``ETag``), in one statement
    (the busiest read of the API: one round trip instead of five), sent as a fixed read."""
    today = today or clock.today()
    if isinstance(reads, AsyncSession):
        reads = FixedReads(None, reads)
    row = await reads.fetchrow(_detail_statement(actor.unrestricted, actor.grants), practitioner_id=practitioner_id)
    if row is None:
        raise NotFound(f"社工 {practitioner_id} 不存在或不在您的管辖范围内。", code="practitioner_not_found")
    employments = []
    for spell in _json(row["spells"]):
        read = EmploymentRead.model_validate(spell)
        read.in_post_today = _in_post_on(read.in_post_from, read.in_post_to, today)
        employments.append(read)
    organization_id = row["organization_id"]
    org_name = next((e.organization_name for e in employments if e.organization_id == organization_id), None)
    detail = PractitionerDetail(
        **_read_fields(row),
        region_name=row["region_name"] if row["region_code"] else None,
        organization_name=org_name,
        employments=employments,
        certifications=[CertificationRead.model_validate(c) for c in _json(row["certs"])],
    )
    return detail, versions.tag(Practitioner, row["id"], row["xmin"])


async def practitioner_detail(
    session: AsyncSession, actor: Actor, practitioner_id: int, *, today: dt.date | None = None
) -> PractitionerDetail:
    detail, _ = await practitioner_record(session, actor, practitioner_id, today=today)
    return detail


def _json(value: Any) -> list[dict[str, Any]]:
    """asyncpg returns json as text (decoded by msgspec: the record's busiest step after the read)."""
    parsed: list[dict[str, Any]] = msgspec.json.decode(value) if isinstance(value, str) else value
    return parsed


# The practitioner's columns that ``PractitionerRead`` shows (the ID number and phone masked):
# all but the search tokens, as the record's statement reads them.
_READ_COLUMNS = tuple(c.name for c in Practitioner.__table__.columns if c.name != "name_tokens")


def _read_fields(row: Any) -> dict[str, Any]:
    """``PractitionerRead``'s fields from a mapping of the practitioner's columns (a driver row)."""
    fields = {c: row[c] for c in _READ_COLUMNS if c not in ("id_number", "phone")}
    fields["id_number_masked"] = mask_id_number(row["id_number"])
    fields["phone_masked"] = mask_phone(row["phone"])
    return fields


def practitioner_read(person: Any) -> PractitionerRead:
    """From a ``Practitioner`` or a row of its columns."""
    return PractitionerRead(**_read_fields({c: getattr(person, c) for c in _READ_COLUMNS}))


def _in_post_on(start: dt.date, end: dt.date | None, day: dt.date) -> bool:
    return start <= day and (end is None or end >= day)


def _employment_read(spell: Employment, org_name: str | None, today: dt.date) -> EmploymentRead:
    read = EmploymentRead.model_validate(spell)
    read.organization_name = org_name
    read.in_post_today = _in_post_on(spell.in_post_from, spell.in_post_to, today)
    return read


# --- employment spells -------------------------------------------------------------------------


async def _check_spell(
    session: AsyncSession,
    actor: Actor,
    person: Practitioner,
    values: dict[str, Any],
    *,
    exclude_id: int | None,
    today: dt.date,
    field_prefix: str = "",
) -> None:
    problems = Problems(prefix=field_prefix)
    start: dt.date = values["in_post_from"]
    end: dt.date | None = values["in_post_to"]
    if end is not None and end < start:
        problems.add("in_post_to", "dates_out_of_order", "离岗日期不能早于到岗日期。")
    if start > today + dt.timedelta(days=366):
        problems.add("in_post_from", "date_too_far", "到岗日期不能晚于一年以后。")
    if start < _add_years(person.birth_date, 16):
        problems.add("in_post_from", "date_before_working_age", "到岗日期早于本人年满 16 周岁，请核对。")
    if values["post_type"] == "station_social_worker" and values.get("duty_level") is None:
        problems.add("duty_level", "duty_level_required", "驻站社工须注明市级或县级督导培训层级。")
    problems.raise_if_any()
    # Only an employer the writer may see: an HR officer records spells at their own organization.
    org = await session.scalar(
        select(Organization.id).where(Organization.id == values["organization_id"], organization_scope(actor, "write"))
    )
    if org is None:
        raise InvalidInput.on_field(
            field_prefix + "organization_id",
            "organization_unknown",
            f"单位 {values['organization_id']} 不存在或不在您的管辖范围内。",
        )
    overlap = select(Employment.id, Employment.in_post_from, Employment.in_post_to).where(
        Employment.practitioner_id == person.id,
        or_(Employment.in_post_to.is_(None), Employment.in_post_to >= start),
        literal(True) if end is None else Employment.in_post_from <= end,
    )
    if exclude_id is not None:
        overlap = overlap.where(Employment.id != exclude_id)
    clash = (await session.execute(overlap.limit(1))).first()
    if clash is not None:
        until = clash.in_post_to.isoformat() if clash.in_post_to else "至今"
        raise Conflict.on_field(
            field_prefix + "in_post_from",
            "employment_overlap",
            f"与已有在岗记录（{clash.in_post_from.isoformat()} 至 {until}）时间重叠；请先填写原岗位的离岗日期。",
        )


async def refresh_jurisdiction(
    session: AsyncSession,
    *,
    today: dt.date,
    practitioner_id: int | None = None,
    practitioner_ids: Sequence[int] | None = None,
) -> None:
    """Point practitioners at the employer of their current spell, else of their latest one.

    Set-based, so the same statement serves one person after an edit and the whole registry
    after an import or at the turn of a day.
    """
    ranked = (
        select(Employment.practitioner_id, Employment.organization_id, Organization.region_code)
        .join(Organization, Organization.id == Employment.organization_id)
        .ext(distinct_on(Employment.practitioner_id))
        .order_by(
            Employment.practitioner_id,
            case((_current_spell(today), 0), else_=1),
            Employment.in_post_from.desc(),
            Employment.id.desc(),
        )
    )
    if practitioner_id is not None:
        ranked = ranked.where(Employment.practitioner_id == practitioner_id)
    if practitioner_ids is not None:
        ranked = ranked.where(Employment.practitioner_id.in_(practitioner_ids))
    best = ranked.subquery()
    stmt = (
        update(Practitioner)
        .where(Practitioner.id == best.c.practitioner_id)
        .where(
            or_(
                Practitioner.organization_id.is_distinct_from(best.c.organization_id),
                Practitioner.region_code.is_distinct_from(best.c.region_code),
            )
        )
        .values(organization_id=best.c.organization_id, region_code=best.c.region_code)
        .execution_options(synchronize_session=False)
    )
    await session.execute(stmt)
    # With no spell at all, the jurisdiction is the household region.
    no_spell = (
        update(Practitioner)
        .where(
            ~exists().where(Employment.practitioner_id == Practitioner.id),
            or_(
                Practitioner.organization_id.is_not(None),
                Practitioner.region_code.is_distinct_from(Practitioner.household_region_code),
            ),
        )
        .values(organization_id=None, region_code=Practitioner.household_region_code)
        .execution_options(synchronize_session=False)
    )
    if practitioner_id is not None:
        no_spell = no_spell.where(Practitioner.id == practitioner_id)
    await session.execute(no_spell)


async def add_employment(
    session: AsyncSession, actor: Actor, practitioner_id: int, data: EmploymentCreate, *, today: dt.date | None = None
) -> EmploymentRead:
    today = today or clock.today()
    person = await get_practitioner(session, actor, practitioner_id, action="write", for_update=True)
    values = data.model_dump()
    await _check_spell(session, actor, person, values, exclude_id=None, today=today)
    spell = Employment(practitioner_id=person.id, **values)
    session.add(spell)
    await session.flush()
    await refresh_jurisdiction(session, today=today, practitioner_id=person.id)
    await session.refresh(person)
    _require_still_in_scope(actor, person, "organization_id")
    await session.refresh(spell)
    await record(session, actor, "create", "employment", spell.id, after=snapshot(spell), **about(person))
    return await get_employment(session, actor, spell.id, today=today)


async def _scoped_spell(session: AsyncSession, actor: Actor, employment_id: int) -> tuple[Employment, str | None]:
    row = (
        await session.execute(
            select(Employment, Organization.name)
            .join(Organization, Organization.id == Employment.organization_id)
            .join(Practitioner, Practitioner.id == Employment.practitioner_id)
            .where(Employment.id == employment_id, practitioner_scope(actor, "read"))
        )
    ).first()
    if row is None:
        raise NotFound(f"在岗记录 {employment_id} 不存在或不在您的管辖范围内。", code="employment_not_found")
    return row[0], row[1]


async def get_employment(
    session: AsyncSession, actor: Actor, employment_id: int, *, today: dt.date | None = None
) -> EmploymentRead:
    spell, org_name = await _scoped_spell(session, actor, employment_id)
    await session.refresh(spell)
    return _employment_read(spell, org_name, today or clock.today())


async def update_employment(
    session: AsyncSession,
    actor: Actor,
    employment_id: int,
    data: EmploymentUpdate,
    *,
    today: dt.date | None = None,
    if_match: str | None = None,
) -> EmploymentRead:
    today = today or clock.today()
    spell, _ = await _scoped_spell(session, actor, employment_id)
    person = await get_practitioner(session, actor, spell.practitioner_id, action="write", for_update=True)
    await versions.require(session, Employment, spell.id, if_match)
    if not actor.may_on("write", region_code=None, organization_id=spell.organization_id) and not actor.may_on(
        "write", region_code=person.region_code
    ):
        # An HR officer may end or correct their own organization's spells, not another employer's.
        raise Forbidden("只能修改本单位的在岗记录。")
    before = snapshot(spell)
    changes = data.model_dump(exclude_unset=True)
    for key in ("organization_id", "post_type", "in_post_from"):
        if key in changes and changes[key] is None:
            raise InvalidInput.on_field(key, "required", "该项不能为空。")
    values = {
        key: changes.get(key, getattr(spell, key))
        for key in ("organization_id", "post_type", "duty_level", "in_post_from", "in_post_to")
    }
    await _check_spell(session, actor, person, values, exclude_id=spell.id, today=today)
    for key, value in values.items():
        setattr(spell, key, value)
    await session.flush()
    await refresh_jurisdiction(session, today=today, practitioner_id=person.id)
    await session.refresh(person)
    _require_still_in_scope(actor, person, "organization_id")
    await session.refresh(spell)
    await record(
        session, actor, "update", "employment", spell.id, before=before, after=snapshot(spell), **about(person)
    )
    return await get_employment(session, actor, spell.id, today=today)


# --- search --------------------------------------------------------------------------------------


@dataclass
class SearchFilters:
    name: str | None = None
    name_match: str = "contains"  # or "prefix"
    id_number: str | None = None
    certificate_number: str | None = None
    region: str | None = None
    organization_id: int | None = None
    level: str | None = None
    post_type: str | None = None
    in_post: bool | None = None
    verification_status: str | None = None
    cursor: str | None = None
    limit: int = 50


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_provinces(actor: Actor, action: str = "read") -> list[str] | None:
    """The provinces (two-digit prefixes) an actor's search is confined to, when every grant for
    ``action`` is a region's; ``None`` when the actor sees the whole country or is scoped by
    organization or person."""
    if actor.unrestricted:
        return None
    grants = list(actor.grants_for(action))
    if not grants or any(not g.region_code or g.role == "admin" for g in grants):
        return None
    return sorted({g.region_code[:2] for g in grants if g.region_code})


def province_tokens(tokens: list[str], provinces: list[str]) -> ColumnElement[bool]:
    """The name tokens within the provinces, through the GIN index on
    registry_province_tokens(name_tokens, region_code) (migration 0008): one lookup finds the
    province's matches, where the plain tokens find the country's and leave the region to a
    second index."""
    expression = func.registry_province_tokens(Practitioner.name_tokens, Practitioner.region_code)
    return or_(*(type_coerce(expression, ARRAY(Text)).contains([f"{p}:{t}" for t in tokens]) for p in provinces))


def _search_scope(actor: Actor, filters: SearchFilters, provinces: list[str] | None) -> ColumnElement[bool]:
    """The actor's read scope, unless the name condition already confines the search to it:
    with province-wide grants only, the province-qualified name tokens match exactly the
    provinces' subtrees, and a second condition on the region would only tempt the planner
    into intersecting the province's whole region index (measured: 8 ms of a 9 ms search)."""
    return true() if _scope_confined(actor, filters, provinces) else practitioner_scope(actor, "read")


def _scope_confined(actor: Actor, filters: SearchFilters, provinces: list[str] | None) -> bool:
    """Whether the search's own conditions already keep it within the actor's read scope."""
    roots = actor.region_roots("read")
    if roots is None:  # unrestricted, or an administrator: practitioner_scope is true()
        return True
    return bool(
        provinces
        and roots
        and filters.name
        and filters.name.strip()
        and all(r.endswith("0000") for r in roots)  # the same grants search_provinces read
    )


def _name_terms(name: str, name_match: str) -> tuple[list[str], str | None]:
    """The tokens a matching name contains, and the LIKE pattern that rechecks them (if any)."""
    prefix = name_match == "prefix"
    tokens, recheck = query_tokens(name, prefix=prefix)
    query = _like_escape(normalize_name(name))
    if prefix and not tokens[0].startswith("^"):
        return tokens, query + "%"
    if recheck:
        return tokens, "%" + query + "%"
    return tokens, None


def _cursor_value(cursor: str | None, problems: Problems) -> int | None:
    if not cursor:
        return None
    if not bounds.digits(cursor) or int(cursor) > bounds.INT_MAX:
        problems.add("cursor", "cursor_invalid", "分页游标无效，请从第一页重新查询。")
        return None
    return int(cursor)


def search_conditions(
    filters: SearchFilters, today: dt.date, provinces: list[str] | None = None
) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    problems = Problems()
    if filters.name and filters.name.strip():
        tokens, pattern = _name_terms(filters.name, filters.name_match)
        if provinces:
            conds.append(province_tokens(tokens, provinces))
        else:
            conds.append(Practitioner.name_tokens.contains(tokens))
        if pattern is not None:
            conds.append(Practitioner.name.like(pattern))
    if filters.id_number:
        conds.append(Practitioner.id_number == filters.id_number.strip().upper())
    if filters.certificate_number:
        conds.append(
            exists().where(
                Certification.practitioner_id == Practitioner.id,
                Certification.certificate_number == filters.certificate_number.strip().upper(),
            )
        )
    if filters.region:
        if not CODE_RE.match(filters.region):
            problems.add("region", "region_unknown", "区划代码应为 6 位数字。")
        else:
            lo, hi = subtree_bounds(filters.region)
            conds.append(Practitioner.region_code.between(lo, hi))
    if filters.organization_id is not None:
        conds.append(Practitioner.organization_id == filters.organization_id)
    if filters.level or filters.verification_status:
        cert = [Certification.practitioner_id == Practitioner.id]
        if filters.level:
            cert.append(Certification.level == filters.level)
        if filters.verification_status:
            cert.append(Certification.verification_status == filters.verification_status)
        conds.append(exists().where(*cert))
    current = [Employment.practitioner_id == Practitioner.id, _current_spell(today)]
    if filters.in_post is False:
        conds.append(~exists().where(*current))
        if filters.post_type:
            conds.append(
                exists().where(Employment.practitioner_id == Practitioner.id, Employment.post_type == filters.post_type)
            )
    elif filters.in_post or filters.post_type:
        if filters.post_type:
            current.append(Employment.post_type == filters.post_type)
        conds.append(exists().where(*current))
    cursor = _cursor_value(filters.cursor, problems)
    if cursor is not None:
        conds.append(Practitioner.id > cursor)
    problems.raise_if_any()
    return conds


_LEVEL_RANK = case((Certification.level == "senior", 3), (Certification.level == "intermediate", 2), else_=1)


def _rows_statement(page_ids: Any, today: Any) -> Any:
    """Names, employer, post and highest certificate for the page's ids only."""
    best_cert = (
        select(Certification.level, Certification.verification_status)
        .where(Certification.practitioner_id == Practitioner.id, Certification.verification_status != "rejected")
        .order_by(_LEVEL_RANK.desc(), Certification.id.desc())
        .limit(1)
        .lateral("best_cert")
    )
    in_post = exists().where(Employment.practitioner_id == Practitioner.id, _current_spell(today))
    return (
        select(
            Practitioner.id,
            Practitioner.name,
            Practitioner.id_number,
            Practitioner.sex,
            Practitioner.birth_date,
            Practitioner.region_code,
            Region.full_name.label("region_name"),
            Practitioner.organization_id,
            Organization.name.label("organization_name"),
            in_post.label("in_post"),
            best_cert.c.level,
            best_cert.c.verification_status,
        )
        .outerjoin(Region, Region.code == Practitioner.region_code)
        .outerjoin(Organization, Organization.id == Practitioner.organization_id)
        .outerjoin(best_cert, literal(True))
        .where(Practitioner.id.in_(page_ids))
        .order_by(Practitioner.id)
    )


@functools.lru_cache(maxsize=64)
def _name_search_statement(provinces: int, like: bool, cursor: bool) -> FixedStatement:
    """A name search's page and capped count in one statement, built once per shape and bound
    per request (building and keying the statement cost more than PostgreSQL running it)."""
    tokens = ARRAY(Text)
    if provinces:
        qualified = type_coerce(
            func.registry_province_tokens(Practitioner.name_tokens, Practitioner.region_code), ARRAY(Text)
        )
        name = or_(*(qualified.contains(bindparam(f"tokens{i}", type_=tokens)) for i in range(provinces)))
    else:
        name = Practitioner.name_tokens.contains(bindparam("tokens", type_=tokens))
    conds: list[ColumnElement[bool]] = [name]
    if like:
        conds.append(Practitioner.name.like(bindparam("pattern", type_=Text)))
    # The matches, up to one past the cap, read once: counted, and (when they are all there) the
    # page taken from them; only past the cap does the page read the name's matches again.
    matched = select(Practitioner.id).where(*conds).limit(COUNT_CAP + 1).cte("matched").prefix_with("MATERIALIZED")
    count = select(func.count()).select_from(matched).scalar_subquery()
    limit = bindparam("limit", type_=Integer)
    after = bindparam("cursor", type_=Integer)
    small = select(matched.c.id).where(count <= COUNT_CAP)
    if cursor:
        small = small.where(matched.c.id > after)
        conds.append(Practitioner.id > after)
    small_page = small.order_by(matched.c.id).limit(limit).subquery("small_page")
    large_page = _first_by_id(select(Practitioner.id).where(*conds), limit)
    page = union_all(
        select(small_page.c.id),
        # A one-time filter: PostgreSQL skips this branch unless the cap was passed.
        select(large_page.c.id).where(count > COUNT_CAP),
    ).subquery("page")
    return FixedStatement.of(
        _rows_statement(select(page.c.id), bindparam("today", type_=Date)).add_columns(count.label("total"))
    )


def _first_by_id(matches: Any, limit: Any) -> Any:
    """The first ``limit`` ids of the name's matches, found through the name index and then
    sorted. ``OFFSET 0`` keeps PostgreSQL from walking the primary key in order instead and
    testing each row's name: with the name's frequency misjudged (statistics after a large
    import) that walk read the whole table, 22 s for a rare name at 2,000,000 people."""
    found = matches.offset(0).subquery("found")
    return select(found.c.id).order_by(found.c.id).limit(limit).subquery("page")


def _only_a_name(filters: SearchFilters) -> bool:
    return bool(filters.name and filters.name.strip()) and not (
        filters.id_number
        or filters.certificate_number
        or filters.region
        or filters.organization_id is not None
        or filters.level
        or filters.post_type
        or filters.in_post is not None
        or filters.verification_status
    )


async def search_practitioners(
    reads: FixedReads | AsyncSession, actor: Actor, filters: SearchFilters, *, today: dt.date | None = None
) -> PractitionerPage:
    """A page of the people ``actor`` may read who match ``filters``, and how many match (capped).
    The common search, a name alone, is one fixed statement (``reads``); any other, built here."""
    today = today or clock.today()
    if isinstance(reads, AsyncSession):
        reads = FixedReads(None, reads)
    session = reads.session
    provinces = search_provinces(actor)
    scope = _search_scope(actor, filters, provinces)
    total: int | None = None
    if filters.name and _only_a_name(filters) and _scope_confined(actor, filters, provinces):
        # The common search, a name within the searcher's provinces (or anywhere, for those who
        # see everything): one cached statement, one round trip.
        problems = Problems()
        cursor = _cursor_value(filters.cursor, problems)
        problems.raise_if_any()
        tokens, pattern = _name_terms(filters.name, filters.name_match)
        params: dict[str, Any] = {"today": today, "limit": filters.limit + 1}
        if provinces:
            params.update({f"tokens{i}": [f"{p}:{t}" for t in tokens] for i, p in enumerate(provinces)})
        else:
            params["tokens"] = tokens
        if pattern is not None:
            params["pattern"] = pattern
        if cursor is not None:
            params["cursor"] = cursor
        statement = _name_search_statement(len(provinces or ()), pattern is not None, cursor is not None)
        rows: Sequence[Any] = await reads.fetch(statement, **params)
        if rows:
            total = rows[0]["total"]
        elif cursor is None:
            total = 0
    else:
        conds = [*search_conditions(filters, today, provinces), scope]
        # The page's ids first (the index work), then the names, employer, post and level for
        # those rows only, not for every match before the sort.
        matches = select(Practitioner.id).where(*conds)
        if filters.name and filters.name.strip():
            page = _first_by_id(matches, filters.limit + 1)
        else:
            page = matches.order_by(Practitioner.id).limit(filters.limit + 1).subquery("page")
        rows = [row._mapping for row in (await session.execute(_rows_statement(select(page.c.id), today))).all()]
    has_more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    items = [
        PractitionerSummary(
            id=r["id"],
            name=r["name"],
            id_number_masked=mask_id_number(r["id_number"]),
            sex=r["sex"],
            birth_date=r["birth_date"],
            region_code=r["region_code"],
            region_name=r["region_name"],
            organization_id=r["organization_id"],
            organization_name=r["organization_name"],
            in_post=r["in_post"],
            highest_level=r["level"],
            highest_level_status=r["verification_status"],
        )
        for r in rows
    ]
    if total is None:
        total, exact = await _capped_count(session, filters, today, scope, provinces)
    else:
        total, exact = min(total, COUNT_CAP), total <= COUNT_CAP
    return PractitionerPage(
        items=items,
        next_cursor=str(items[-1].id) if has_more and items else None,
        total=total,
        total_exact=exact,
    )


async def _capped_count(
    session: AsyncSession,
    filters: SearchFilters,
    today: dt.date,
    scope: ColumnElement[bool],
    provinces: list[str] | None = None,
) -> tuple[int, bool]:
    """Count matches (all pages, ignoring the cursor) up to COUNT_CAP."""
    no_cursor = SearchFilters(**{**filters.__dict__, "cursor": None})
    inner = (
        select(Practitioner.id)
        .where(*search_conditions(no_cursor, today, provinces), scope)
        .limit(COUNT_CAP + 1)
        .subquery()
    )
    count = int(await session.scalar(select(func.count()).select_from(inner)) or 0)
    return min(count, COUNT_CAP), count <= COUNT_CAP
