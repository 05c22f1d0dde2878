"""The public register: a name alone or a certificate number alone shows nothing; both together
show the masked name, level, registration status and period and the region, and nothing else;
each client is limited (429 with a Chinese message) and lookups are counted by day, not logged
one by one."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry import clock
from registry.app import create_app
from registry.config import Settings
from registry.models import AuditEvent, Certification, CertificationPeriod, Practitioner, RegisterLookupDay
from tests.test_certificates import EXT_A, RARE, Town, build_town

START, END = clock.today() - dt.timedelta(days=400), clock.today() + dt.timedelta(days=700)
FIELDS = {"name", "level", "level_label", "status", "status_label", "registered_from", "registered_to", "region"}


@pytest.fixture
async def town(session: AsyncSession) -> Town:
    return await build_town(session)


def client_at(app: object, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
def limited(session_maker: async_sessionmaker[AsyncSession]) -> object:
    return create_app(Settings(register_lookups_per_minute=3), session_maker=session_maker)


async def set_period(session: AsyncSession, pid: int, start: dt.date, end: dt.date) -> None:
    """The person's certificate registered over exactly this period (its other periods gone)."""
    cert = select(Certification.id).where(Certification.practitioner_id == pid).scalar_subquery()
    await session.execute(delete(CertificationPeriod).where(CertificationPeriod.certification_id == cert))
    await session.execute(
        insert(CertificationPeriod).values(certification_id=cert, kind="registration", start_date=start, end_date=end)
    )


async def number_of(session: AsyncSession, pid: int) -> str:
    return (
        await session.scalars(select(Certification.certificate_number).where(Certification.practitioner_id == pid))
    ).one()


async def test_both_name_and_number_are_needed_and_only_the_public_facts_are_shown(
    session_maker: async_sessionmaker[AsyncSession], town: Town, session: AsyncSession
) -> None:
    app = create_app(Settings(register_lookups_per_minute=100), session_maker=session_maker)
    async with client_at(app, "192.0.2.1") as anonymous:
        await _lookups(anonymous, town, session)


async def _lookups(anonymous: httpx.AsyncClient, town: Town, session: AsyncSession) -> None:
    number = await number_of(session, town.rare)
    await set_period(session, town.rare, START, END)
    await session.commit()
    person = await session.get(Practitioner, town.rare)
    assert person is not None
    audit_before = await session.scalar(select(func.count()).select_from(AuditEvent))

    form = await anonymous.get("/register")
    assert form.status_code == 200 and "证书编号" in form.text
    for data in ({"name": RARE}, {"certificate_number": number}, {"name": RARE, "certificate_number": " "}):
        page = await anonymous.post("/register", data=data)
        assert page.status_code == 400 and "请同时填写姓名和证书编号" in page.text
        assert "register-result" not in page.text and "李**珺" not in page.text
        api = await anonymous.post("/api/register", json=data)
        assert api.status_code == 400 and api.json()["code"] == "register_query_incomplete"
        assert "entry" not in api.json()

    # Right number with another person's name, right name with another number: nothing.
    other = await number_of(session, town.ext_a)
    for name, num in ((EXT_A, number), (RARE, other), ("李喆", number)):
        api = await anonymous.post("/api/register", json={"name": name, "certificate_number": num})
        assert api.status_code == 200 and api.json()["found"] is False and api.json()["entry"] is None

    # Spaces and letter case as people type them do not matter.
    api = await anonymous.post("/api/register", json={"name": f" {RARE} ", "certificate_number": f" {number.lower()}"})
    entry = api.json()["entry"]
    assert set(entry) == FIELDS
    assert entry["name"] == "李**珺" and entry["level"] == "intermediate"
    assert entry["status"] == "registered" and entry["status_label"] == "已登记，在有效期内"
    assert entry["registered_from"] == str(START) and entry["registered_to"] == str(END)
    assert entry["region"].endswith("江岸区")

    page = await anonymous.post("/register", data={"name": RARE, "certificate_number": number})
    assert page.status_code == 200 and "李**珺" in page.text and "社会工作师（中级）" in page.text
    assert RARE not in page.text.replace(f'value="{RARE}"', "")  # the full name only in the typed field
    assert person.id_number not in page.text and person.id_number[:6] + "*" not in page.text
    assert "某社区居委会" not in page.text  # no employer

    # An expired registration says so; an unverified certification is not in the register.
    await set_period(session, town.ext_a, dt.date(2019, 1, 1), dt.date(2021, 12, 31))
    await session.commit()
    found = (await anonymous.post("/api/register", json={"name": EXT_A, "certificate_number": other})).json()
    assert found["entry"]["status"] == "expired" and found["entry"]["status_label"] == "登记已过有效期"
    # A cancellation (注销) in force today is said, whatever the period.
    await set_period(session, town.ext_a, START, END)
    cert = select(Certification.id).where(Certification.practitioner_id == town.ext_a).scalar_subquery()
    await session.execute(
        insert(CertificationPeriod).values(
            certification_id=cert, kind="cancellation", start_date=START, note="本人申请注销"
        )
    )
    await session.commit()
    found = (await anonymous.post("/api/register", json={"name": EXT_A, "certificate_number": other})).json()
    assert found["entry"]["status"] == "cancelled" and found["entry"]["status_label"] == "证书登记已注销"
    await session.execute(
        update(Certification).where(Certification.practitioner_id == town.ext_a).values(verification_status="pending")
    )
    await session.commit()
    gone = (await anonymous.post("/api/register", json={"name": EXT_A, "certificate_number": other})).json()
    assert gone["found"] is False

    # Counted by day and outcome; nothing in the audit trail per lookup.
    rows = await session.execute(select(RegisterLookupDay.outcome, RegisterLookupDay.lookups))
    counts = {row.outcome: row.lookups for row in rows}
    assert counts == {"incomplete": 6, "not_found": 4, "found": 4}
    assert await session.scalar(select(func.count()).select_from(AuditEvent)) == audit_before
    seen = await anonymous.get("/api/register/lookups", headers=town.clerk)
    assert seen.status_code == 200
    assert {r["outcome"]: r["lookups"] for r in seen.json()} == counts
    assert (await anonymous.get("/api/register/lookups", headers=town.holder)).status_code == 403


async def test_each_client_is_limited_with_a_chinese_message(
    limited: object, town: Town, session: AsyncSession
) -> None:
    number = await number_of(session, town.rare)
    body = {"name": RARE, "certificate_number": number}
    async with client_at(limited, "192.0.2.10") as one, client_at(limited, "192.0.2.11") as two:
        for _ in range(3):
            assert (await one.post("/api/register", json=body)).json()["found"] is True
        refused = await one.post("/api/register", json=body)
        assert refused.status_code == 429
        assert refused.json()["code"] == "register_rate_limited" and "查询过于频繁" in refused.json()["detail"]
        page = await one.post("/register", data=body)
        assert page.status_code == 429 and "查询过于频繁，请一分钟后再试。" in page.text
        assert "李**珺" not in page.text
        # Another client is not held back by the first.
        assert (await two.post("/api/register", json=body)).json()["found"] is True
    limited_count = await session.scalar(
        select(RegisterLookupDay.lookups).where(RegisterLookupDay.outcome == "limited")
    )
    assert limited_count == 2
