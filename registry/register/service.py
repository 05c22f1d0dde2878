"""Looking a person up in the public register, and counting lookups by day (no row per lookup)."""

from __future__ import annotations

import datetime as dt
import unicodedata

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from registry.certifications.history import certs_of
from registry.identity import mask_name
from registry.models import Certification, Practitioner, Region, RegisterLookupDay
from registry.schemas import LABELS

OUTCOMES = ("found", "not_found", "incomplete", "limited")


class RegisterEntry(BaseModel):
    """Everything the register shows about a person, and nothing else."""

    name: str  # masked
    level: str
    level_label: str
    status: str  # registered / expired / not_yet / unregistered / suspended / cancelled
    status_label: str
    registered_from: dt.date | None
    registered_to: dt.date | None
    region: str


class RegisterAnswer(BaseModel):
    found: bool
    entry: RegisterEntry | None = None
    message: str


STATUS_LABELS = {
    "registered": "已登记，在有效期内",
    "expired": "登记已过有效期",
    "not_yet": "登记尚未生效",
    "unregistered": "持证，尚未登记",
    "suspended": "登记暂停中",
    "cancelled": "证书登记已注销",
}
NOT_FOUND = "没有找到与该姓名和证书编号同时相符的已核验登记记录。请核对后重新输入。"
INCOMPLETE = "请同时填写姓名和证书编号：只凭其中一项不予查询。"
LIMITED = "查询过于频繁，请一分钟后再试。"


def clean(text: str | None) -> str:
    """As typed, without spaces or width differences (全角 letters in a certificate number)."""
    return "".join(unicodedata.normalize("NFKC", text or "").split())


def registration_status(valid_from: dt.date | None, valid_to: dt.date | None, today: dt.date) -> str:
    if valid_from is None or valid_to is None:
        return "unregistered"
    if today < valid_from:
        return "not_yet"
    return "registered" if today <= valid_to else "expired"


async def lookup(session: AsyncSession, name: str, number: str, today: dt.date) -> RegisterEntry | None:
    """The person whose full name and certificate number both match a verified certification.
    The registration period shown is the one running today, else the latest; a suspension or
    cancellation in force today says so."""
    row = (
        await session.execute(
            select(
                Practitioner.id,
                Practitioner.name,
                Certification.id.label("certification_id"),
                Certification.level,
                Region.full_name,
            )
            .join(Practitioner, Practitioner.id == Certification.practitioner_id)
            .outerjoin(Region, Region.code == Practitioner.region_code)
            .where(
                Certification.certificate_number == number,
                Certification.verification_status == "verified",
                Practitioner.name == name,
            )
        )
    ).first()
    if row is None:
        return None
    cert = next(c for c in (await certs_of(session, [row.id]))[row.id] if c.id == row.certification_id)
    period = cert.registration_on(today) or (cert.registrations[-1] if cert.registrations else None)
    hold = cert.hold_on(today)
    status = registration_status(period.start if period else None, period.end if period else None, today)
    if hold is not None:
        status = "cancelled" if hold.kind == "cancellation" else "suspended"
    return RegisterEntry(
        name=mask_name(row.name),
        level=row.level,
        level_label=LABELS[row.level],
        status=status,
        status_label=STATUS_LABELS[status],
        registered_from=period.start if period else None,
        registered_to=period.end if period else None,
        region=row.full_name or "—",
    )


async def count(session: AsyncSession, day: dt.date, outcome: str) -> None:
    stmt = insert(RegisterLookupDay).values(day=day, outcome=outcome, lookups=1)
    await session.execute(
        stmt.on_conflict_do_update(index_elements=["day", "outcome"], set_={"lookups": RegisterLookupDay.lookups + 1})
    )


async def answer(session: AsyncSession, name: str | None, number: str | None, today: dt.date) -> RegisterAnswer:
    """Look up and count; a name alone or a number alone is refused before any query."""
    name, number = clean(name), clean(number).upper()
    if not name or not number:
        await count(session, today, "incomplete")
        return RegisterAnswer(found=False, message=INCOMPLETE)
    entry = await lookup(session, name, number, today)
    await count(session, today, "found" if entry else "not_found")
    if entry is None:
        return RegisterAnswer(found=False, message=NOT_FOUND)
    return RegisterAnswer(found=True, entry=entry, message="找到登记记录。")


async def counts(session: AsyncSession, since: dt.date) -> list[tuple[dt.date, str, int]]:
    rows = await session.execute(
        select(RegisterLookupDay.day, RegisterLookupDay.outcome, RegisterLookupDay.lookups)
        .where(RegisterLookupDay.day >= since)
        .order_by(RegisterLookupDay.day, RegisterLookupDay.outcome)
    )
    return [(r.day, r.outcome, r.lookups) for r in rows]
