"""The dashboard's summary per region and period (issue 16, "a dashboard that answers at once"):
kept by the queue worker, equal to the figures computed on the fly, refreshed after the writes
that change them, read by the page with its "as of" time; all as the service's own role."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry import clock
from registry.certifications.service import verify_certification
from registry.db import SERVICE_LOGIN
from registry.demo import seed_demo
from registry.models import (
    Certification,
    Organization,
    Practitioner,
    PractitionerOutcome,
    RegionSummary,
    SummaryRefresh,
)
from registry.practitioners.schemas import EmploymentCreate, PractitionerCreate
from registry.practitioners.service import create_practitioner
from registry.reports.jobs import SummaryWorker
from registry.reports.service import compliance_rates, country_figures, region_figures
from registry.reports.summary import ancestors, country_summary, figures_of, queue_refresh, rates_of
from tests.accounts import as_user
from tests.scene import LOADER, id_number
from tests.test_certificates import JIANGAN, Town, build_town

# Every column of a summary row but its key and when it was made.
FIGURES = tuple(
    c.key
    for c in RegionSummary.__table__.columns
    if c.key not in ("region_code", "period", "level", "as_of", "refreshed_at")
)


def _figures(row: RegionSummary) -> dict[str, Any]:
    return {k: getattr(row, k) for k in FIGURES}


async def _rows(session: AsyncSession) -> dict[str, RegionSummary]:
    session.expunge_all()  # the worker wrote them in its own session
    period = clock.today().year
    return {
        r.region_code: r for r in (await session.scalars(select(RegionSummary).where(RegionSummary.period == period)))
    }


async def _assert_as_computed_now(session: AsyncSession, row: RegionSummary) -> None:
    """Every figure of the row is what the on-the-fly computation gives today."""
    today = clock.today()
    assert row.as_of == today
    live = await region_figures(session, LOADER, row.region_code, today)
    assert figures_of(row) == live, row.region_code
    assert (row.practitioners, row.in_post, row.station_staff, row.station_staff_qualified) == (
        live.practitioners,
        live.in_post,
        live.station_staff,
        live.station_staff_qualified,
    )
    assert row.certified == sum(live.certified_by_level.values())
    assert row.registration_valid == sum(live.registration_valid_by_level.values())
    rates = await compliance_rates(session, LOADER, row.region_code, today)
    assert rates_of(row) == rates, row.region_code


@pytest.fixture
async def demo(session: AsyncSession, as_owner: Any) -> None:
    await seed_demo(session, practitioners=300, seed=7, today=dt.date(2026, 11, 22))
    await session.commit()
    # Statistics of the seeded registry (ANALYZE counts the test's own uncommitted rows), as the
    # autovacuum keeps them in production: with the template's empty statistics PostgreSQL once
    # chose a plan for a region's registered certificates that ran for minutes on 300 people.
    async with as_owner():
        for table in ("practitioner", "certification", "certification_period", "employment", "organization"):
            await session.execute(text(f"ANALYZE {table}"))


async def _refresh(session_maker: async_sessionmaker[AsyncSession], session: AsyncSession, kind: str = "full") -> int:
    await queue_refresh(session, kind=kind)
    await session.commit()
    return await SummaryWorker(session_maker).drain()


async def test_the_full_refresh_gives_every_figure_the_live_computation_gives(
    session: AsyncSession, session_maker: async_sessionmaker[AsyncSession], demo: None
) -> None:
    # The worker runs as the service's least-privilege role, as in production.
    assert await session.scalar(text("SELECT current_user")) == SERVICE_LOGIN
    assert await _refresh(session_maker, session) == 1
    session.expunge_all()
    job = (await session.scalars(select(SummaryRefresh).where(SummaryRefresh.kind == "full"))).one()
    assert job.status == "done" and job.people == 300, job.error
    rows = await _rows(session)
    levels = {lvl: [r for r in rows.values() if r.level == lvl] for lvl in (1, 2, 3)}
    assert all(levels.values()), "a row at province, city and county"
    assert job.regions == len(rows)
    for row in rows.values():
        await _assert_as_computed_now(session, row)
    # Regions with people or organizations, and every region above them, have a row.
    counties = set((await session.scalars(select(Practitioner.region_code).distinct())).all()) - {None}
    assert {a for c in counties if c for a in ancestors(c)} <= set(rows)
    assert sum(r.practitioners for r in levels[1]) == 300
    # Something was judged (otherwise the comparison above proves little).
    assert sum(r.ce_met + r.ce_unmet for r in levels[1]) > 0
    # The administrator's country view reads the provinces' rows: the same as computed on the fly.
    admin = LOADER
    found = await country_summary(session, admin, clock.today().year)
    assert found is not None
    country, refreshed = found
    live = await country_figures(session, admin, clock.today())
    assert country.provinces == live.provinces and refreshed == min(r.refreshed_at for r in levels[1])


async def test_a_write_queues_a_refresh_that_changes_exactly_the_affected_figures(
    session: AsyncSession, session_maker: async_sessionmaker[AsyncSession], demo: None
) -> None:
    await _refresh(session_maker, session)
    before = {code: _figures(r) for code, r in (await _rows(session)).items()}

    # A new practitioner in one county, and a certificate verified in a county of another province.
    org = (await session.scalars(select(Organization).where(Organization.region_code.like("42%")).limit(1))).one()
    created = await create_practitioner(
        session,
        LOADER,
        PractitionerCreate(
            name="汇总新人",
            id_number=id_number(org.region_code),
            education="bachelor",
            employment=EmploymentCreate(
                organization_id=org.id, post_type="community_worker", in_post_from=dt.date(2025, 1, 1)
            ),
        ),
    )
    pending = (
        await session.execute(
            select(Certification.id, Practitioner.region_code)
            .join(Practitioner, Practitioner.id == Certification.practitioner_id)
            .where(Certification.verification_status == "pending", ~Practitioner.region_code.like("42%"))
            .order_by(Certification.id)
            .limit(1)
        )
    ).one()
    await verify_certification(session, LOADER, pending.id, today=clock.today())
    await session.commit()

    # The writes queued refreshes (through their audit events) naming who and where.
    queued = (await session.scalars(select(SummaryRefresh).where(SummaryRefresh.status == "queued"))).all()
    assert {created.id, (await session.get(Certification, pending.id)).practitioner_id} <= {  # type: ignore[union-attr]
        i for q in queued for i in (q.practitioner_ids or ())
    }
    assert all(q.kind == "delta" for q in queued)
    # One run takes them all.
    assert await SummaryWorker(session_maker).drain() == 1
    session.expunge_all()
    done = (await session.scalars(select(SummaryRefresh).where(SummaryRefresh.kind == "delta"))).all()
    assert all(q.status == "done" for q in done)
    assert len({q.merged_into for q in done if q.merged_into}) <= 1

    after = await _rows(session)
    affected = ancestors(str(created.region_code)) | ancestors(pending.region_code)
    changed = {code for code, r in after.items() if _figures(r) != before.get(code)}
    assert changed <= affected | {org.region_code}, changed - affected
    for code in ancestors(str(created.region_code)):
        assert after[code].practitioners == before[code]["practitioners"] + 1
    for code in ancestors(pending.region_code):
        assert after[code].figures["certified_by_level"] != before[code]["figures"]["certified_by_level"]
    for code in affected:
        await _assert_as_computed_now(session, after[code])


async def test_a_refresh_naming_more_people_than_a_statement_takes_parameters_runs(
    session: AsyncSession, session_maker: async_sessionmaker[AsyncSession], demo: None
) -> None:
    """An import of 100,000 people queues one refresh naming them all (found by the national
    benchmark: the refresh failed, a parameter per id passing PostgreSQL's 32,767)."""
    await _refresh(session_maker, session)
    person = (await session.scalars(select(Practitioner).order_by(Practitioner.id).limit(1))).one()
    outcome = await session.get(PractitionerOutcome, person.id)
    assert outcome is not None
    await session.delete(outcome)  # judged again only if the refresh reaches them
    ids = [person.id, *range(10**9, 10**9 + 40_000)]  # the others are gone (deleted since)
    session.add(SummaryRefresh(kind="delta", practitioner_ids=ids))
    await session.commit()
    assert await SummaryWorker(session_maker).drain() == 1
    session.expunge_all()
    job = (await session.scalars(select(SummaryRefresh).where(SummaryRefresh.kind == "delta"))).one()
    assert job.status == "done", job.error
    assert await session.get(PractitionerOutcome, person.id) is not None
    row = (await _rows(session))[str(person.region_code)]
    await _assert_as_computed_now(session, row)


async def test_the_page_reads_the_summary_says_when_and_says_so_when_there_is_none(
    anonymous: httpx.AsyncClient, session: AsyncSession, town: Town
) -> None:
    app: Any = anonymous._transport.app  # type: ignore[attr-defined]
    first = await anonymous.get("/dashboard", params={"region": JIANGAN}, headers=town.clerk)
    assert first.status_code == 200
    assert "数据正在准备中" in first.text and 'data-poll="3000"' in first.text and "达标率" not in first.text
    queued = (await session.scalars(select(SummaryRefresh).where(SummaryRefresh.status == "queued"))).all()
    assert any(JIANGAN in (q.region_codes or ()) for q in queued)
    # Asking again queues nothing more.
    await anonymous.get("/dashboard", params={"region": JIANGAN}, headers=town.clerk)
    again = (await session.scalars(select(SummaryRefresh).where(SummaryRefresh.status == "queued"))).all()
    assert len(again) == len(queued)
    assert await app.state.summary_worker.drain() == 1

    page = await anonymous.get("/dashboard", params={"region": JIANGAN}, headers=town.clerk)
    assert page.status_code == 200 and "数据正在准备中" not in page.text
    row = await session.get(RegionSummary, (JIANGAN, clock.today().year))
    assert row is not None
    local = row.refreshed_at.astimezone(clock.CHINA).strftime("%Y-%m-%d %H:%M")
    assert re.search(r"数据截至 \d{4}-\d{2}-\d{2} \d{2}:\d{2}", page.text)
    assert f"数据截至 {local}" in page.text
    # The three people of the town, their rates with numerator and denominator.
    assert 'id="kpi-practitioners">3<' in page.text and "继续教育达标率" in page.text
    # Out of scope: refused before anything is queued.
    refused = await anonymous.get("/dashboard", params={"region": "430000"}, headers=town.clerk)
    assert refused.status_code == 403

    # The administrator's country view: none yet, a full refresh is queued, then the provinces.
    admin = await as_user(anonymous, session, "sum-admin", {"role": "admin"})
    empty = await anonymous.get("/dashboard", headers=admin)
    assert empty.status_code == 200 and "数据正在准备中" in empty.text
    full = await session.scalar(
        select(SummaryRefresh).where(SummaryRefresh.kind == "full", SummaryRefresh.status == "queued")
    )
    assert full is not None
    assert await app.state.summary_worker.drain() == 1
    country = await anonymous.get("/dashboard", headers=admin)
    assert 'id="provinces"' in country.text and "湖北省" in country.text and "数据截至 " in country.text


@pytest.fixture
async def town(session: AsyncSession) -> Town:
    return await build_town(session)


async def test_the_daily_schedule_queues_one_full_refresh_a_day(session: AsyncSession) -> None:
    from registry.reports.summary import schedule_daily

    today = clock.today()
    assert await schedule_daily(session, today) is True
    assert await schedule_daily(session, today) is False
    await session.commit()
    fulls = (await session.scalars(select(SummaryRefresh).where(SummaryRefresh.kind == "full"))).all()
    assert len([f for f in fulls if f.status == "queued"]) >= 1
    # The next day, another.
    assert await schedule_daily(session, today + dt.timedelta(days=1)) is True
