"""Continuing-education records: submitted by the practitioner or their employer, verified by
civil-affairs staff; only verified hours count towards any requirement."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from registry import clock
from registry.accounts.actor import Actor, Forbidden, practitioner_scope
from registry.audit.service import about, record, snapshot
from registry.education.schemas import CeRecordCreate, CeRecordRead, CeRecordReject, CeYearTotals
from registry.errors import Conflict, InvalidInput, NotFound, Problems, RegistryError
from registry.models import CeEvidence, CeRecordRow, Organization, Practitioner, Region, RoleGrant, User
from registry.models.policy import EVIDENCE_MAX_BYTES
from registry.practitioners.service import get_practitioner
from registry.regions.codes import subtree_bounds
from registry.schemas import Page

MAX_HOURS_PER_DAY = Decimal(24)


async def submit(
    session: AsyncSession, actor: Actor, practitioner_id: int, data: CeRecordCreate, *, today: dt.date | None = None
) -> CeRecordRow:
    today = today or clock.today()
    person = await get_practitioner(session, actor, practitioner_id, action="submit_ce", for_update=True)
    problems = Problems()
    hours = data.hours
    if hours <= 0:
        problems.add("hours", "hours_not_positive", "学时数必须大于 0。")
    elif hours != hours.quantize(Decimal("0.1")):
        problems.add("hours", "hours_precision", "学时数最多保留一位小数（如 2.5）。")
    elif hours > MAX_HOURS_PER_DAY:
        problems.add("hours", "hours_impossible", "一天的学时数不能超过 24。")
    if data.activity_date > today:
        problems.add("activity_date", "date_future", "活动日期不能晚于今天。")
    elif data.activity_date < person.birth_date.replace(year=person.birth_date.year + 16):
        problems.add("activity_date", "date_before_working_age", "活动日期早于本人年满 16 周岁，请核对。")
    problems.raise_if_any()
    # A class hour is never longer than an hour, so a day can hold at most 24 of either unit
    # together; checked against the day's other records (rejected ones do not count).
    same_day = await session.scalar(
        select(func.coalesce(func.sum(CeRecordRow.hours), 0)).where(
            CeRecordRow.practitioner_id == person.id,
            CeRecordRow.activity_date == data.activity_date,
            CeRecordRow.status != "rejected",
        )
    )
    already = Decimal(str(same_day or 0))
    if already + hours > MAX_HOURS_PER_DAY:
        raise InvalidInput.on_field(
            "hours",
            "hours_impossible",
            f"{data.activity_date} 已登记 {already} 学时，再加 {hours} 将超过一天 24 小时。",
        )
    row = CeRecordRow(
        practitioner_id=person.id,
        activity_date=data.activity_date,
        hours=hours,
        unit=data.unit,
        category=data.category,
        provider=data.provider.strip(),
        course=data.course.strip(),
        evidence_note=(data.evidence_note or "").strip() or None,
        status="pending",
        submitted_by_id=actor.user_id,
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    await record(session, actor, "create", "ce_record", row.id, after=snapshot(row), **about(person))
    return row


async def _scoped(
    session: AsyncSession, actor: Actor, record_id: int, *, for_update: bool = False
) -> tuple[CeRecordRow, Practitioner]:
    stmt = (
        select(CeRecordRow, Practitioner)
        .join(Practitioner, Practitioner.id == CeRecordRow.practitioner_id)
        .where(CeRecordRow.id == record_id, practitioner_scope(actor, "read"))
    )
    if for_update:
        stmt = stmt.with_for_update(of=CeRecordRow)
    row = (await session.execute(stmt)).first()
    if row is None:
        raise NotFound(f"继续教育记录 {record_id} 不存在或不在您的管辖范围内。", code="ce_record_not_found")
    return row[0], row[1]


async def get_record(session: AsyncSession, actor: Actor, record_id: int) -> CeRecordRow:
    return (await _scoped(session, actor, record_id))[0]


async def _decide(session: AsyncSession, actor: Actor, record_id: int, status: str, reason: str | None) -> CeRecordRow:
    row, person = await _scoped(session, actor, record_id, for_update=True)
    if not actor.may_on("verify", region_code=person.region_code, organization_id=person.organization_id):
        raise Forbidden("只有辖区民政工作人员可以核验继续教育记录。")
    if row.submitted_by_id is not None and row.submitted_by_id == actor.user_id:
        raise Forbidden("不能核验自己提交的记录，请由其他工作人员核验。", code="own_submission")
    if row.status == status:
        raise Conflict("该记录已是此状态。", code=f"ce_record_already_{status}")
    if status == "verified":
        await _check_day(session, row)
    before = snapshot(row)
    row.status = status
    row.verified_by_id = actor.user_id
    row.verified_at = clock.now()
    row.rejection_reason = reason
    await session.flush()
    await session.refresh(row)
    action = "verify" if status == "verified" else "reject"
    await record(session, actor, action, "ce_record", row.id, before=before, after=snapshot(row), **about(person))
    return row


async def _check_day(session: AsyncSession, row: CeRecordRow) -> None:
    """The day's hours with this record counted, as on submission (rejected records do not
    count): a rejected record verified after all must still fit into the day."""
    # Submissions lock the practitioner's row; so does this, so neither misses the other.
    await session.execute(select(Practitioner.id).where(Practitioner.id == row.practitioner_id).with_for_update())
    others = await session.scalar(
        select(func.coalesce(func.sum(CeRecordRow.hours), 0)).where(
            CeRecordRow.practitioner_id == row.practitioner_id,
            CeRecordRow.activity_date == row.activity_date,
            CeRecordRow.status != "rejected",
            CeRecordRow.id != row.id,
        )
    )
    already = Decimal(str(others or 0))
    if already + row.hours > MAX_HOURS_PER_DAY:
        raise Conflict(
            f"{row.activity_date} 已有 {already} 学时的其他记录，再核验本记录的 {row.hours} 将超过一天 24 小时。",
            code="hours_impossible",
        )


async def verify(session: AsyncSession, actor: Actor, record_id: int) -> CeRecordRow:
    return await _decide(session, actor, record_id, "verified", None)


async def reject(session: AsyncSession, actor: Actor, record_id: int, data: CeRecordReject) -> CeRecordRow:
    return await _decide(session, actor, record_id, "rejected", data.reason.strip())


async def list_for_practitioner(
    session: AsyncSession, actor: Actor, practitioner_id: int, *, year: int | None
) -> Sequence[CeRecordRow]:
    person = await get_practitioner(session, actor, practitioner_id)
    stmt = select(CeRecordRow).where(CeRecordRow.practitioner_id == person.id)
    if year is not None:
        stmt = stmt.where(extract("year", CeRecordRow.activity_date) == year)
    return (await session.scalars(stmt.order_by(CeRecordRow.activity_date, CeRecordRow.id))).all()


async def year_totals(session: AsyncSession, actor: Actor, practitioner_id: int, year: int) -> CeYearTotals:
    rows = await list_for_practitioner(session, actor, practitioner_id, year=year)
    verified: dict[str, dict[str, Decimal]] = {}
    for r in rows:
        if r.status == "verified":
            by_unit = verified.setdefault(r.category, {})
            by_unit[r.unit] = by_unit.get(r.unit, Decimal(0)) + r.hours
    return CeYearTotals(year=year, verified=verified, pending_records=sum(r.status == "pending" for r in rows))


async def queue(
    session: AsyncSession, actor: Actor, *, status: str, cursor: int | None, limit: int
) -> Page[CeRecordRead]:
    """The verification queue: records in the caller's scope, oldest first."""
    actor.require("verify", "只有民政工作人员可以查看继续教育核验队列。")
    stmt = (
        select(CeRecordRow)
        .join(Practitioner, Practitioner.id == CeRecordRow.practitioner_id)
        .where(CeRecordRow.status == status, practitioner_scope(actor, "verify"))
        .order_by(CeRecordRow.id)
        .limit(limit + 1)
    )
    if cursor is not None:
        stmt = stmt.where(CeRecordRow.id > cursor)
    rows = list((await session.scalars(stmt)).all())
    has_more = len(rows) > limit
    rows = rows[:limit]
    return Page[CeRecordRead](
        items=[CeRecordRead.model_validate(r) for r in rows],
        next_cursor=str(rows[-1].id) if has_more and rows else None,
        total=len(rows),
        total_exact=not has_more and cursor is None,
    )


# --- evidence files ------------------------------------------------------------------------------

_MAGIC = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)


def evidence_problem(data: bytes) -> tuple[str, str] | None:
    """What is wrong with an evidence file, as (code, message); None when it may be stored. The
    type is read from the file's first bytes, never from its name or the browser's word."""
    if not data:
        return "evidence_empty", "证明材料文件是空的，请重新选择。"
    if len(data) > EVIDENCE_MAX_BYTES:
        return "evidence_too_large", f"证明材料不能超过 {EVIDENCE_MAX_BYTES // (1024 * 1024)} MB，请压缩后再上传。"
    if not any(data.startswith(magic) for magic, _, _ in _MAGIC):
        return "evidence_type", "证明材料只能是 PDF、JPG 或 PNG 文件。"
    return None


async def attach_evidence(session: AsyncSession, row: CeRecordRow, filename: str, data: bytes) -> CeEvidence:
    """Store the file of a record just submitted (checked with ``evidence_problem`` first)."""
    content_type, suffix = next((t, s) for magic, t, s in _MAGIC if data.startswith(magic))
    name = "".join(ch for ch in filename.replace("\\", "/").rsplit("/", 1)[-1] if ch.isprintable())[:150]
    if not name.lower().endswith(suffix) and not (suffix == ".jpg" and name.lower().endswith(".jpeg")):
        name = (name or "证明材料") + suffix
    evidence = CeEvidence(
        ce_record_id=row.id,
        filename=name,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
    )
    session.add(evidence)
    await session.flush()
    return evidence


async def get_evidence(session: AsyncSession, actor: Actor, record_id: int) -> CeEvidence:
    """The file of a record the caller may read (staff in scope, the holder)."""
    await _scoped(session, actor, record_id)
    evidence = await session.scalar(select(CeEvidence).where(CeEvidence.ce_record_id == record_id))
    if evidence is None:
        raise NotFound("该记录没有上传证明材料。", code="evidence_not_found")
    return evidence


# --- the verification queue on a page -------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilters:
    status: str = "pending"
    region: str | None = None
    organization_id: int | None = None
    category: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    submitted_by: str | None = None  # "self": by the holder; "staff": recorded on their behalf


@dataclass(frozen=True)
class QueueRow:
    id: int
    practitioner_id: int
    name: str
    organization_name: str | None
    region_name: str | None
    activity_date: dt.date
    hours: Decimal
    unit: str
    category: str
    provider: str
    course: str
    evidence_note: str | None
    evidence_name: str | None
    submitted_by: str | None
    on_behalf: bool


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    total: int
    next_cursor: int | None


async def queue_page(
    session: AsyncSession, actor: Actor, filters: QueueFilters, *, cursor: int | None, limit: int = 50
) -> QueuePage:
    """The queue as staff read it: names, employer and region, the file; every filter; a total;
    keyset pages oldest first, so every record can be reached."""
    actor.require("verify", "只有民政工作人员可以查看继续教育核验队列。")
    holder = aliased(RoleGrant)
    by_holder = (
        select(holder.id)
        .where(holder.user_id == CeRecordRow.submitted_by_id, holder.practitioner_id == CeRecordRow.practitioner_id)
        .exists()
    )
    conds = [CeRecordRow.status == filters.status, practitioner_scope(actor, "verify")]
    if filters.region:
        lo, hi = subtree_bounds(filters.region)
        conds.append(Practitioner.region_code.between(lo, hi))
    if filters.organization_id is not None:
        conds.append(Practitioner.organization_id == filters.organization_id)
    if filters.category:
        conds.append(CeRecordRow.category == filters.category)
    if filters.date_from:
        conds.append(CeRecordRow.activity_date >= filters.date_from)
    if filters.date_to:
        conds.append(CeRecordRow.activity_date <= filters.date_to)
    if filters.submitted_by == "self":
        conds.append(by_holder)
    elif filters.submitted_by == "staff":
        conds.append(~by_holder)
    base = select(CeRecordRow.id).join(Practitioner, Practitioner.id == CeRecordRow.practitioner_id).where(*conds)
    total = int(await session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    page_ids = base.order_by(CeRecordRow.id).limit(limit + 1)
    if cursor is not None:
        page_ids = page_ids.where(CeRecordRow.id > cursor)
    ids = list((await session.scalars(page_ids)).all())
    more = len(ids) > limit
    ids = ids[:limit]
    rows = (
        await session.execute(
            select(
                CeRecordRow,
                Practitioner.name,
                Organization.name,
                Region.full_name,
                CeEvidence.filename,
                User.display_name,
                by_holder,
            )
            .join(Practitioner, Practitioner.id == CeRecordRow.practitioner_id)
            .outerjoin(Organization, Organization.id == Practitioner.organization_id)
            .outerjoin(Region, Region.code == Practitioner.region_code)
            .outerjoin(CeEvidence, CeEvidence.ce_record_id == CeRecordRow.id)
            .outerjoin(User, User.id == CeRecordRow.submitted_by_id)
            .where(CeRecordRow.id.in_(ids))
            .order_by(CeRecordRow.id)
        )
    ).all()
    return QueuePage(
        rows=[
            QueueRow(
                id=r.id,
                practitioner_id=r.practitioner_id,
                name=name,
                organization_name=org,
                region_name=region,
                activity_date=r.activity_date,
                hours=r.hours,
                unit=r.unit,
                category=r.category,
                provider=r.provider,
                course=r.course,
                evidence_note=r.evidence_note,
                evidence_name=file,
                submitted_by=who,
                on_behalf=not own,
            )
            for r, name, org, region, file, who, own in rows
        ],
        total=total,
        next_cursor=ids[-1] if more and ids else None,
    )


@dataclass
class BulkOutcome:
    done: list[int] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


async def decide_many(
    session: AsyncSession, actor: Actor, record_ids: list[int], decision: str, reason: str | None
) -> BulkOutcome:
    """Verify or reject several records: each on its own savepoint, so one refused record (one's
    own submission, a full day) leaves the others decided and is reported with its reason."""
    outcome = BulkOutcome()
    if decision == "reject":
        data = CeRecordReject(reason=reason or "")  # raises ValidationError without a reason
    for record_id in dict.fromkeys(record_ids):
        try:
            async with session.begin_nested():
                if decision == "verify":
                    await verify(session, actor, record_id)
                else:
                    await reject(session, actor, record_id, data)
        except RegistryError as exc:
            outcome.refused.append((record_id, exc.message))
        else:
            outcome.done.append(record_id)
    return outcome
