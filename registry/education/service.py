"""Continuing-education records: submitted by the practitioner or their employer, verified by
civil-affairs staff; only verified hours count towards any requirement."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.accounts.actor import Actor, Forbidden, practitioner_scope
from registry.audit.service import about, record, snapshot
from registry.education.schemas import CeRecordCreate, CeRecordRead, CeRecordReject, CeYearTotals
from registry.errors import Conflict, InvalidInput, NotFound, Problems
from registry.models import CeRecordRow, Practitioner
from registry.practitioners.service import get_practitioner
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
