"""A certificate's dated facts as the evaluator reads them: the periods in force (not replaced
by a correction, not withdrawn) of many certificates at once, and the SQL conditions "registered
over a day" and "neither suspended nor cancelled on a day" for set-based queries."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection
from typing import Any

from sqlalchemy import BigInteger, Date, and_, bindparam, exists, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from registry import clock
from registry.db import driver_fetch
from registry.models import Certification, CertificationPeriod
from registry.rules.model import Cert, Period


def in_force(period: Any = CertificationPeriod) -> Any:
    """The row says what holds: no later row corrects it and it is not a withdrawal."""
    correction = aliased(CertificationPeriod)
    return and_(~period.withdrawn, ~exists().where(correction.replaces_id == period.id))


def registered_over(day: Any, certification_id: Any = Certification.id) -> Any:
    """SQL: the certificate has a registration period in force over ``day`` and no suspension
    or cancellation in force on it (the verification day is the evaluator's to judge)."""
    reg, hold = aliased(CertificationPeriod), aliased(CertificationPeriod)
    registered = (
        select(reg.id)
        .where(
            reg.certification_id == certification_id,
            reg.kind.in_(("registration", "renewal")),
            reg.start_date <= day,
            reg.end_date >= day,
            in_force(reg),
        )
        .exists()
    )
    held = (
        select(hold.id)
        .where(
            hold.certification_id == certification_id,
            hold.kind.in_(("suspension", "cancellation")),
            hold.start_date <= day,
            or_(hold.end_date.is_(None), hold.end_date >= day),
            in_force(hold),
        )
        .exists()
    )
    return and_(registered, ~held)


def verified_day(verified_on: dt.date | None, verified_at: dt.datetime | None) -> dt.date | None:
    if verified_on is not None:
        return verified_on
    return verified_at.astimezone(clock.CHINA).date() if verified_at else None


def period_fact(p: Any) -> Period:
    return Period(p.kind, p.start_date, p.end_date, p.authority, p.note)


async def certs_of(session: AsyncSession, practitioner_ids: Collection[int]) -> dict[int, list[Cert]]:
    """Every certificate of these people with its periods in force: two reads by index, run with
    the driver (a payroll run reads a province's certificates at once)."""
    if not practitioner_ids:
        return {}
    ids = bindparam("ids", list(practitioner_ids), type_=ARRAY(BigInteger))
    rows = await driver_fetch(
        session,
        select(
            Certification.id,
            Certification.practitioner_id,
            Certification.level,
            Certification.certificate_number,
            Certification.verification_status,
            Certification.verified_on,
            Certification.verified_at,
        ).where(Certification.practitioner_id == func.any(ids)),
    )
    periods: dict[int, list[Period]] = defaultdict(list)
    if rows:
        cids = bindparam("cids", [r[0] for r in rows], type_=ARRAY(BigInteger))
        for cid, kind, start, end, authority, note in await driver_fetch(
            session,
            select(
                CertificationPeriod.certification_id,
                CertificationPeriod.kind,
                CertificationPeriod.start_date,
                CertificationPeriod.end_date,
                CertificationPeriod.authority,
                CertificationPeriod.note,
            )
            .where(CertificationPeriod.certification_id == func.any(cids), in_force())
            .order_by(CertificationPeriod.start_date, CertificationPeriod.id),
        ):
            periods[cid].append(Period(kind, start, end, authority, note))
    out: dict[int, list[Cert]] = defaultdict(list)
    for cid, pid, level, number, status, verified_on, verified_at in rows:
        out[pid].append(
            Cert(
                cid,
                level,
                number,
                status,
                verified_on=verified_day(verified_on, verified_at),
                periods=tuple(periods.get(cid, ())),
            )
        )
    return out


def established_on() -> Any:
    """SQL: the day the verification established the certificate (``verified_at``'s China day
    for rows verified before the day was recorded on its own)."""
    return func.coalesce(
        Certification.verified_on, func.cast(func.timezone("Asia/Shanghai", Certification.verified_at), Date)
    )


def verified_by(day: Any) -> Any:
    """SQL: the certificate is verified and the verification established on or before ``day``."""
    return and_(Certification.verification_status == "verified", established_on() <= day)
