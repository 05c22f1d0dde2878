from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock, versions
from registry.accounts.actor import Actor, Forbidden, practitioner_scope
from registry.audit.service import about, record, snapshot
from registry.certifications.history import in_force
from registry.certifications.schemas import (
    CertificationCreate,
    CertificationRead,
    CertificationReject,
    CertificationUpdate,
    CertificationVerify,
    PeriodCorrection,
    PeriodCreate,
    PeriodRead,
)
from registry.db import flush_or_raise
from registry.errors import Conflict, InvalidInput, NotFound, Problems
from registry.models import Certification, CertificationPeriod, Practitioner, User
from registry.practitioners.service import get_practitioner
from registry.schemas import LABELS

_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9-]{3,39}$")
# MCA-REG-3Y: a registration is valid for three years (民发〔2009〕44号, arts. 4-7).
REGISTRATION_YEARS = 3

_CONSTRAINTS = {
    "uq_certification_certificate_number": lambda: Conflict.on_field(
        "certificate_number",
        "certificate_number_duplicate",
        "该证书编号已登记，不能重复登记；请核对编号，或在原记录上修改。",
    )
}


def default_registration_end(start: dt.date) -> dt.date:
    """The day before the third anniversary; a 29 February start has its anniversary on
    1 March in a common year (the convention used for ages too), so it ends on 28 February."""
    try:
        end = start.replace(year=start.year + REGISTRATION_YEARS)
    except ValueError:  # registered on 29 February
        end = dt.date(start.year + REGISTRATION_YEARS, 3, 1)
    return end - dt.timedelta(days=1)


def _check(values: dict[str, Any], today: dt.date) -> dict[str, Any]:
    problems = Problems()
    number = str(values["certificate_number"]).strip().upper().replace(" ", "")
    if not _NUMBER.match(number):
        problems.add("certificate_number", "certificate_number_format", "证书编号只能包含字母、数字和连字符。")
    values["certificate_number"] = number
    if values["exam_year"] > today.year:
        problems.add("exam_year", "exam_year_future", "考试年份不能晚于今年。")
    start: dt.date | None = values.get("registration_valid_from")
    end: dt.date | None = values.get("registration_valid_to")
    if start is None and end is not None:
        problems.add(
            "registration_valid_from",
            "registration_start_required",
            "填写登记有效期截止日时须同时填写起始日。",
        )
    if start is not None:
        if end is None:
            end = values["registration_valid_to"] = default_registration_end(start)
        _check_registration(problems, start, end, values["exam_year"], today)
    problems.raise_if_any()
    return values


def _check_registration(
    problems: Problems,
    start: dt.date,
    end: dt.date,
    exam_year: int,
    today: dt.date,
    fields: tuple[str, str] = ("registration_valid_from", "registration_valid_to"),
) -> None:
    if end <= start:
        problems.add(fields[1], "registration_end_before_start", "登记有效期截止日必须晚于起始日。")
    if start.year < exam_year:
        problems.add(fields[0], "registration_before_exam", "登记起始日不能早于考试年份（须先通过考试）。")
    if start > today:
        problems.add(fields[0], "registration_future", "登记起始日不能晚于今天。")


async def periods_of(session: AsyncSession, certification_id: int) -> list[PeriodRead]:
    """Every recorded period of the certificate, corrected ones too (flagged), in date order."""
    corrected = select(CertificationPeriod.replaces_id).where(CertificationPeriod.replaces_id.is_not(None))
    rows = (
        await session.scalars(
            select(CertificationPeriod)
            .where(CertificationPeriod.certification_id == certification_id)
            .order_by(CertificationPeriod.start_date, CertificationPeriod.id)
        )
    ).all()
    replaced = set(
        (await session.scalars(corrected.where(CertificationPeriod.certification_id == certification_id))).all()
    )
    out = []
    for row in rows:
        read = PeriodRead.model_validate(row)
        read.in_force = row.id not in replaced and not row.withdrawn
        out.append(read)
    return out


async def certification_read(session: AsyncSession, cert: Certification) -> CertificationRead:
    data = {f: getattr(cert, f) for f in CertificationRead.model_fields if hasattr(Certification, f)}
    read = CertificationRead.model_validate({**data, "periods": await periods_of(session, cert.id)})
    if cert.verified_by_id is not None:
        read.verified_by_name = await session.scalar(select(User.display_name).where(User.id == cert.verified_by_id))
    return read


async def add_certification(
    session: AsyncSession,
    actor: Actor,
    practitioner_id: int,
    data: CertificationCreate,
    *,
    today: dt.date | None = None,
) -> Certification:
    person = await get_practitioner(session, actor, practitioner_id, action="write")
    values = _check(data.model_dump(), today or clock.today())
    start, end = values.pop("registration_valid_from"), values.pop("registration_valid_to")
    authority = values.pop("registration_authority")
    cert = Certification(practitioner_id=person.id, verification_status="pending", **values)
    session.add(cert)
    await flush_or_raise(session, _CONSTRAINTS)
    await session.refresh(cert)
    after = snapshot(cert)
    if start is not None:
        period = CertificationPeriod(
            certification_id=cert.id,
            kind="registration",
            start_date=start,
            end_date=end,
            authority=authority,
            created_by_id=actor.user_id,
        )
        session.add(period)
        await session.flush()
        after["periods"] = [snapshot(period)]
    await record(session, actor, "create", "certification", cert.id, after=after, **about(person))
    return cert


async def _scoped(
    session: AsyncSession, actor: Actor, certification_id: int, *, action: str = "read", for_update: bool = False
) -> tuple[Certification, Practitioner]:
    stmt = (
        select(Certification, Practitioner)
        .join(Practitioner, Practitioner.id == Certification.practitioner_id)
        .where(Certification.id == certification_id, practitioner_scope(actor, "read"))
    )
    if for_update:
        stmt = stmt.with_for_update(of=Certification)
    row = (await session.execute(stmt)).first()
    if row is None:
        raise NotFound(f"证书记录 {certification_id} 不存在或不在您的管辖范围内。", code="certification_not_found")
    cert, person = row
    if action != "read" and not actor.may_on(
        action, region_code=person.region_code, organization_id=person.organization_id, practitioner_id=person.id
    ):
        raise Forbidden("只有辖区民政工作人员可以核验证书。" if action == "verify" else "您的角色无权修改该证书记录。")
    return cert, person


async def get_certification(session: AsyncSession, actor: Actor, certification_id: int) -> Certification:
    cert, _ = await _scoped(session, actor, certification_id)
    return cert


async def _registrations_in_force(session: AsyncSession, certification_id: int) -> list[CertificationPeriod]:
    return list(
        (
            await session.scalars(
                select(CertificationPeriod)
                .where(
                    CertificationPeriod.certification_id == certification_id,
                    CertificationPeriod.kind.in_(("registration", "renewal")),
                    in_force(),
                )
                .order_by(CertificationPeriod.start_date, CertificationPeriod.id)
            )
        ).all()
    )


async def update_certification(
    session: AsyncSession,
    actor: Actor,
    certification_id: int,
    data: CertificationUpdate,
    *,
    today: dt.date | None = None,
    if_match: str | None = None,
) -> Certification:
    cert, person = await _scoped(session, actor, certification_id, action="write", for_update=True)
    await versions.require(session, Certification, cert.id, if_match)
    before = snapshot(cert)
    changes = data.model_dump(exclude_unset=True)
    problems = Problems()
    for key in ("level", "certificate_number", "exam_year"):
        if key in changes and changes[key] is None:
            problems.add(key, "required", "该项不能为空。")
    problems.raise_if_any()
    registrations = await _registrations_in_force(session, cert.id)
    current = registrations[-1] if registrations else None
    own = ("level", "certificate_number", "exam_year")
    values: dict[str, Any] = {key: changes.get(key, getattr(cert, key)) for key in own}
    values["registration_valid_from"] = changes.get("registration_valid_from", current.start_date if current else None)
    values["registration_valid_to"] = changes.get("registration_valid_to", current.end_date if current else None)
    if "registration_valid_from" in changes and "registration_valid_to" not in changes:
        values["registration_valid_to"] = None  # re-derive the three-year period from the new start
    values = _check(values, today or clock.today())
    period_changed = (values["registration_valid_from"], values["registration_valid_to"]) != (
        (current.start_date, current.end_date) if current else (None, None)
    )
    changed = period_changed or any(values[key] != getattr(cert, key) for key in own)
    for key in own:
        setattr(cert, key, values[key])
    if changed and cert.verification_status != "pending":
        # A verified fact that changed has to be checked again.
        cert.verification_status = "pending"
        cert.verified_by_id = None
        cert.verified_at = None
        cert.verified_on = None
        cert.verification_evidence = None
        cert.rejection_reason = None
    await flush_or_raise(session, _CONSTRAINTS)
    after = snapshot(cert)
    if period_changed:
        # The period is corrected by a new row; the old one stays on record.
        start = values["registration_valid_from"]
        correction = CertificationPeriod(
            certification_id=cert.id,
            kind=current.kind if current else "registration",
            start_date=start if start is not None else (current.start_date if current else today or clock.today()),
            end_date=values["registration_valid_to"] or (current.end_date if current else None),
            authority=current.authority if current else None,
            note="更正登记有效期" if start is not None else "撤销登记记录",
            replaces_id=current.id if current else None,
            withdrawn=start is None,
            created_by_id=actor.user_id,
        )
        session.add(correction)
        await session.flush()
        after["period"] = snapshot(correction)
    await session.refresh(cert)
    await record(session, actor, "update", "certification", cert.id, before=before, after=after, **about(person))
    return cert


def _check_verified_on(cert: Certification, data: CertificationVerify, today: dt.date) -> dt.date:
    day = data.verified_on or today
    problems = Problems()
    if day > today:
        problems.add("verified_on", "verified_on_future", "核验日期不能晚于今天。")
    elif day.year < cert.exam_year:
        problems.add(
            "verified_on", "verified_on_before_exam", f"核验日期不能早于考试年份（{cert.exam_year} 年），请核对。"
        )
    if day < today and not data.evidence:
        problems.add(
            "evidence",
            "evidence_required",
            "补录以前的核验须填写核验依据，例如“2024-03 纸质核验，档案号 …”。",
        )
    problems.raise_if_any()
    return day


async def verify_certification(
    session: AsyncSession,
    actor: Actor,
    certification_id: int,
    data: CertificationVerify | None = None,
    *,
    today: dt.date | None = None,
) -> Certification:
    """Verified on ``data.verified_on`` (today when not given). A verified certificate's day can
    be corrected (a new audited event, with the evidence), never re-verified for nothing."""
    data = data or CertificationVerify()
    cert, person = await _scoped(session, actor, certification_id, action="verify", for_update=True)
    today = today or clock.today()
    correcting = cert.verification_status == "verified"
    if correcting and (data.verified_on is None or data.verified_on == cert.verified_on):
        raise Conflict("该证书已核验，无需重复核验。", code="certification_already_verified")
    day = _check_verified_on(cert, data, today)
    if correcting and not data.evidence:
        raise InvalidInput.on_field("evidence", "evidence_required", "更正核验日期须填写依据（如档案号或核验记录）。")
    before = snapshot(cert)
    cert.verification_status = "verified"
    cert.verified_by_id = actor.user_id
    cert.verified_at = clock.now()
    cert.verified_on = day
    cert.verification_evidence = data.evidence or None
    cert.rejection_reason = None
    await session.flush()
    await session.refresh(cert)
    await record(
        session,
        actor,
        "correct_verification" if correcting else "verify",
        "certification",
        cert.id,
        before=before,
        after=snapshot(cert),
        **about(person),
    )
    return cert


async def reject_certification(
    session: AsyncSession, actor: Actor, certification_id: int, data: CertificationReject
) -> Certification:
    cert, person = await _scoped(session, actor, certification_id, action="verify", for_update=True)
    if cert.verification_status == "rejected":
        raise Conflict("该证书已驳回。", code="certification_already_rejected")
    before = snapshot(cert)
    cert.verification_status = "rejected"
    cert.verified_by_id = actor.user_id
    cert.verified_at = clock.now()
    cert.verified_on = None
    cert.verification_evidence = None
    cert.rejection_reason = data.reason.strip()
    await session.flush()
    await session.refresh(cert)
    await record(
        session, actor, "reject", "certification", cert.id, before=before, after=snapshot(cert), **about(person)
    )
    return cert


# --- the certificate's dated facts -----------------------------------------------------------------


def _check_period(
    problems: Problems, cert: Certification, kind: str, start: dt.date, end: dt.date | None, today: dt.date
) -> dt.date | None:
    """The end a registration gets by default; every problem with the dates in ``problems``."""
    if kind in ("registration", "renewal"):
        end = end or default_registration_end(start)
        _check_registration(problems, start, end, cert.exam_year, today, ("start_date", "end_date"))
    elif kind == "cancellation":
        if end is not None:
            problems.add("end_date", "cancellation_has_no_end", "注销长期有效，不填截止日；恢复须重新登记。")
        if start > today:
            problems.add("start_date", "period_future", "注销日期不能晚于今天。")
    else:
        if end is not None and end < start:
            problems.add("end_date", "period_end_before_start", "暂停截止日不能早于起始日。")
        if start > today:
            problems.add("start_date", "period_future", "暂停起始日不能晚于今天。")
    return end


async def add_period(
    session: AsyncSession, actor: Actor, certification_id: int, data: PeriodCreate, *, today: dt.date | None = None
) -> CertificationPeriod:
    """Record a renewal (or a first registration), a suspension or a cancellation. Only staff who
    may verify certificates in the region: each changes what the certificate is worth."""
    cert, person = await _scoped(session, actor, certification_id, action="verify", for_update=True)
    today = today or clock.today()
    problems = Problems()
    end = _check_period(problems, cert, data.kind, data.start_date, data.end_date, today)
    if data.kind in ("suspension", "cancellation") and not data.note:
        problems.add("note", "reason_required", f"{LABELS[data.kind]}须写明原因。")
    registrations = await _registrations_in_force(session, cert.id)
    if data.kind in ("registration", "renewal") and end is not None:
        clash = next((p for p in registrations if p.start_date <= end and data.start_date <= (p.end_date or end)), None)
        if clash is not None:
            problems.add(
                "start_date",
                "registration_overlaps",
                f"与已登记的有效期（{clash.start_date} 至 {clash.end_date}）重叠；如原记录有误，请更正原记录。",
            )
        if data.kind == "renewal" and not registrations:
            problems.add("kind", "renewal_without_registration", "该证书还没有首次登记记录，请先登记。")
    problems.raise_if_any()
    period = CertificationPeriod(
        certification_id=cert.id,
        kind=data.kind,
        start_date=data.start_date,
        end_date=end,
        authority=data.authority or None,
        note=data.note or None,
        created_by_id=actor.user_id,
    )
    session.add(period)
    await session.flush()
    await session.refresh(period)
    await record(session, actor, "create", "certification_period", period.id, after=snapshot(period), **about(person))
    return period


async def correct_period(
    session: AsyncSession,
    actor: Actor,
    certification_id: int,
    period_id: int,
    data: PeriodCorrection,
    *,
    today: dt.date | None = None,
) -> CertificationPeriod:
    """A new row replacing a recorded period (new dates or authority, or withdrawn as recorded
    in error); the corrected row stays on record and no longer holds."""
    cert, person = await _scoped(session, actor, certification_id, action="verify", for_update=True)
    old = await session.get(CertificationPeriod, period_id)
    if old is None or old.certification_id != cert.id:
        raise NotFound(f"该证书没有编号为 {period_id} 的登记记录。", code="period_not_found")
    if await session.scalar(select(CertificationPeriod.id).where(CertificationPeriod.replaces_id == old.id)):
        raise Conflict("该记录已被更正，请更正最新的记录。", code="period_already_corrected")
    if old.withdrawn:
        raise Conflict("该记录是一次撤销，不能再更正。", code="period_withdrawn")
    today = today or clock.today()
    start = data.start_date or old.start_date
    end = data.end_date if "end_date" in data.model_fields_set else old.end_date
    problems = Problems()
    if not data.withdraw:
        end = _check_period(problems, cert, old.kind, start, end, today)
        if (start, end, data.authority or old.authority) == (old.start_date, old.end_date, old.authority):
            problems.add("start_date", "nothing_to_correct", "更正内容与原记录相同。")
    problems.raise_if_any()
    period = CertificationPeriod(
        certification_id=cert.id,
        kind=old.kind,
        start_date=start,
        end_date=end,
        authority=data.authority or old.authority,
        note=data.reason,
        replaces_id=old.id,
        withdrawn=data.withdraw,
        created_by_id=actor.user_id,
    )
    session.add(period)
    await session.flush()
    await session.refresh(period)
    await record(
        session,
        actor,
        "withdraw" if data.withdraw else "correct",
        "certification_period",
        period.id,
        before=snapshot(old),
        after=snapshot(period),
        **about(person),
    )
    return period
