from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.accounts.actor import Actor, Forbidden, practitioner_scope
from registry.audit.service import about, record, snapshot
from registry.certifications.schemas import (
    CertificationCreate,
    CertificationRead,
    CertificationReject,
    CertificationUpdate,
)
from registry.db import flush_or_raise
from registry.errors import Conflict, NotFound, Problems
from registry.models import Certification, Practitioner, User
from registry.practitioners.service import get_practitioner

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
        if end <= start:
            problems.add("registration_valid_to", "registration_end_before_start", "登记有效期截止日必须晚于起始日。")
        if start.year < values["exam_year"]:
            problems.add(
                "registration_valid_from",
                "registration_before_exam",
                "登记起始日不能早于考试年份（须先通过考试）。",
            )
        if start > today:
            problems.add("registration_valid_from", "registration_future", "登记起始日不能晚于今天。")
    problems.raise_if_any()
    return values


async def certification_read(session: AsyncSession, cert: Certification) -> CertificationRead:
    read = CertificationRead.model_validate(cert)
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
    cert = Certification(practitioner_id=person.id, verification_status="pending", **values)
    session.add(cert)
    await flush_or_raise(session, _CONSTRAINTS)
    await session.refresh(cert)
    await record(session, actor, "create", "certification", cert.id, after=snapshot(cert), **about(person))
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


async def update_certification(
    session: AsyncSession,
    actor: Actor,
    certification_id: int,
    data: CertificationUpdate,
    *,
    today: dt.date | None = None,
) -> Certification:
    cert, person = await _scoped(session, actor, certification_id, action="write", for_update=True)
    before = snapshot(cert)
    changes = data.model_dump(exclude_unset=True)
    problems = Problems()
    for key in ("level", "certificate_number", "exam_year"):
        if key in changes and changes[key] is None:
            problems.add(key, "required", "该项不能为空。")
    problems.raise_if_any()
    fields = ("level", "certificate_number", "exam_year", "registration_valid_from", "registration_valid_to")
    values = {key: changes.get(key, getattr(cert, key)) for key in fields}
    if "registration_valid_from" in changes and "registration_valid_to" not in changes:
        values["registration_valid_to"] = None  # re-derive the three-year period from the new start
    values = _check(values, today or clock.today())
    changed = any(values[key] != getattr(cert, key) for key in fields)
    for key in fields:
        setattr(cert, key, values[key])
    if changed and cert.verification_status != "pending":
        # A verified fact that changed has to be checked again.
        cert.verification_status = "pending"
        cert.verified_by_id = None
        cert.verified_at = None
        cert.rejection_reason = None
    await flush_or_raise(session, _CONSTRAINTS)
    await session.refresh(cert)
    await record(
        session, actor, "update", "certification", cert.id, before=before, after=snapshot(cert), **about(person)
    )
    return cert


async def verify_certification(session: AsyncSession, actor: Actor, certification_id: int) -> Certification:
    cert, person = await _scoped(session, actor, certification_id, action="verify", for_update=True)
    if cert.verification_status == "verified":
        raise Conflict("该证书已核验，无需重复核验。", code="certification_already_verified")
    before = snapshot(cert)
    cert.verification_status = "verified"
    cert.verified_by_id = actor.user_id
    cert.verified_at = clock.now()
    cert.rejection_reason = None
    await session.flush()
    await session.refresh(cert)
    await record(
        session, actor, "verify", "certification", cert.id, before=before, after=snapshot(cert), **about(person)
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
    cert.rejection_reason = data.reason.strip()
    await session.flush()
    await session.refresh(cert)
    await record(
        session, actor, "reject", "certification", cert.id, before=before, after=snapshot(cert), **about(person)
    )
    return cert
