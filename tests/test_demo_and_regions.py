from __future__ import annotations

import datetime as dt

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.demo import seed_demo
from registry.identity import IdFacts, parse_id_number
from registry.models import Certification, CertificationPeriod, Employment, Practitioner


async def test_regions_api(client: httpx.AsyncClient) -> None:
    provinces = (await client.get("/api/regions")).json()
    assert {"420000", "430000", "620000", "350000"} <= {r["code"] for r in provinces}
    cities = (await client.get("/api/regions", params={"parent": "430000"})).json()
    assert any(r["code"] == "430200" and r["name"] == "株洲市" for r in cities)
    one = await client.get("/api/regions/350203")
    assert one.json()["full_name"] == "福建省厦门市思明区"
    missing = await client.get("/api/regions/999999")
    assert missing.status_code == 404
    assert missing.json()["code"] == "region_not_found"


async def test_demo_data_is_valid_varied_and_reproducible(session: AsyncSession) -> None:
    summary = await seed_demo(session, practitioners=300, seed=7, today=dt.date(2026, 11, 22))
    assert summary.practitioners == 300
    rows = (await session.execute(select(Practitioner.id_number, Practitioner.birth_date, Practitioner.sex))).all()
    for number, birth, sex in rows:
        facts = parse_id_number(number)
        assert isinstance(facts, IdFacts)
        assert (facts.birth_date, facts.sex) == (birth, sex)
    levels = set((await session.scalars(select(Certification.level).distinct())).all())
    assert levels == {"assistant", "intermediate", "senior"}
    statuses = set((await session.scalars(select(Certification.verification_status).distinct())).all())
    assert statuses == {"pending", "verified", "rejected"}
    posts = set((await session.scalars(select(Employment.post_type).distinct())).all())
    assert {"community_worker", "station_social_worker", "service_org_staff", "civil_affairs_staff"} <= posts
    current = select(CertificationPeriod.id).where(
        CertificationPeriod.certification_id == Certification.id, CertificationPeriod.end_date >= dt.date(2026, 11, 22)
    )
    lapsed = await session.scalar(select(func.count()).select_from(Certification).where(~current.exists()))
    assert lapsed and lapsed > 0
    # Renewals are periods of their own, the first registration kept beside them.
    renewals = await session.scalar(
        select(func.count()).select_from(CertificationPeriod).where(CertificationPeriod.kind == "renewal")
    )
    assert renewals and renewals > 0
    # Everyone with a spell has a jurisdiction derived from it.
    assert not await session.scalar(
        select(func.count())
        .select_from(Practitioner)
        .where(Practitioner.region_code.is_(None), Practitioner.id.in_(select(Employment.practitioner_id)))
    )
    first = sorted(n for n, _, _ in rows)
    await session.rollback()

    await seed_demo(session, practitioners=300, seed=7, today=dt.date(2026, 11, 22))
    again = sorted((await session.scalars(select(Practitioner.id_number))).all())
    assert again == first
