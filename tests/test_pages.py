"""Server-rendered pages through the app (the browser tests drive them in Chromium): what they
show, in scope, and the bulk facts behind the dashboard's rates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.models import Organization, Practitioner, SalaryBenchmarkRow, SalaryRecordRow
from registry.reports.service import compliance_rates
from registry.rules.facts import load_facts, load_facts_many
from tests.scene import LOADER, id_number
from tests.test_certificates import EXT_A, JIANGAN, RARE, Town, build_town


@pytest.fixture
async def town(session: AsyncSession) -> Town:
    return await build_town(session)


async def test_bulk_facts_are_the_same_as_one_by_one(session: AsyncSession, town: Town) -> None:
    people = (await session.scalars(select(Practitioner).where(Practitioner.region_code == JIANGAN))).all()
    many = await load_facts_many(session, people)
    for person in people:
        one = await load_facts(session, person)
        bulk = many[person.id]
        assert (bulk.spells, sorted(bulk.certs, key=lambda c: c.id), sorted(bulk.ce, key=repr), bulk.pay) == (
            one.spells,
            sorted(one.certs, key=lambda c: c.id),
            sorted(one.ce, key=repr),
            one.pay,
        )
        assert set(one.benchmarks) <= set(bulk.benchmarks)


async def test_compliance_rates_count_each_persons_decision(session: AsyncSession, town: Town) -> None:
    # 2025 pay against the 2024 benchmark: Jiang'an has no salary rule, so nobody is judged.
    session.add(
        SalaryBenchmarkRow(
            region_code="420000", year=2024, basis="average_social_wage", amount=Decimal(90000), source="测试"
        )
    )
    session.add(
        SalaryRecordRow(
            practitioner_id=town.rare, year=2025, amount=Decimal(120000), period="annual", status="verified"
        )
    )
    await session.commit()
    rates = await compliance_rates(session, LOADER, JIANGAN, dt.date(2025, 12, 31))
    # CE 2025 under MCA-CE-CYCLE: the one with 100 hours met it; the other intermediate holder's
    # registration period is still running (not judged); the one without a certificate has no
    # period at all (not judged).
    assert (rates.ce.met, rates.ce.unmet, rates.ce.undecided) == (1, 0, 2)
    assert rates.ce.rate == Decimal("1.000")
    assert (rates.salary.met, rates.salary.unmet, rates.salary.undecided) == (0, 0, 3)
    assert rates.salary.rate is None


async def test_dashboard_search_and_record_pages(anonymous: httpx.AsyncClient, town: Town) -> None:
    # The first visit queues the region's summary (tests/test_dashboard_summary.py); the worker makes it.
    await anonymous.get("/dashboard", params={"region": JIANGAN}, headers=town.clerk)
    app: Any = anonymous._transport.app  # type: ignore[attr-defined]
    assert await app.state.summary_worker.drain() == 1
    dash = await anonymous.get("/dashboard", params={"region": JIANGAN}, headers=town.clerk)
    assert dash.status_code == 200
    assert "继续教育达标率" in dash.text and 'id="chart-levels"' in dash.text
    # Results as you type come back as the results part alone.
    part = await anonymous.get("/practitioners", params={"name": "喆", "partial": "1"}, headers=town.clerk)
    assert part.status_code == 200 and "<html" not in part.text and RARE in part.text and EXT_A not in part.text
    page = await anonymous.get(f"/practitioners/{town.rare}", headers=town.clerk)
    assert page.status_code == 200 and 'id="decisions"' in page.text and 'id="issue-form"' in page.text
    # Out of scope: not found, as in the API; payroll clerks have no dashboard of Hunan either.
    assert (await anonymous.get(f"/practitioners/{town.rare}", headers=town.outsider)).status_code == 404
    refused = await anonymous.get("/dashboard", params={"region": "430000"}, headers=town.clerk)
    assert refused.status_code == 403 and "管辖范围" in refused.text
    # Not logged in: to the login page, and back afterwards.
    anon = await anonymous.get("/practitioners/1")
    assert anon.status_code == 303 and anon.headers["location"].startswith("/login?next=")


async def test_batch_page_starts_a_job_and_shows_its_progress(anonymous: httpx.AsyncClient, town: Town) -> None:
    form = await anonymous.get("/certificate-batches", headers=town.clerk)
    assert form.status_code == 200 and 'id="batch-form"' in form.text
    started = await anonymous.post(
        "/certificate-batches",
        data={"region_code": JIANGAN, "kind": "registration", "period": "2026-11-01", "format": "zip"},
        headers=town.clerk,
    )
    assert started.status_code == 303
    page_url = started.headers["location"]
    queued = await anonymous.get(page_url, headers=town.clerk)
    assert "排队中" in queued.text and "data-poll=" in queued.text  # the page polls
    app: Any = anonymous._transport.app  # type: ignore[attr-defined]
    assert await app.state.batch_worker.drain() == 1
    done = await anonymous.get(page_url, headers=town.clerk)
    assert "已完成" in done.text and 'id="batch-download"' in done.text and "data-poll=" not in done.text
    assert "新出具 2" in done.text and "不符合条件 1" in done.text
    refused = await anonymous.post(
        "/certificate-batches", data={"region_code": "430202", "kind": "registration"}, headers=town.clerk
    )
    assert refused.status_code == 303 and "problem=" in refused.headers["location"]


async def test_registering_a_practitioner_shows_each_problem_next_to_its_field(
    anonymous: httpx.AsyncClient, session: AsyncSession, town: Town
) -> None:
    before = await session.scalar(select(func.count()).select_from(Practitioner))
    bad = {
        "name": "新社工",
        "id_number": "420102199001011230",  # wrong check digit
        "education": "bachelor",
        "household_region_code": "999999",
        "organization_id": "",
        "in_post_from": "2024-13-01",
    }
    page = await anonymous.post("/practitioners/new", data=bad, headers=town.clerk)
    assert page.status_code == 422
    assert 'id="error-employment-in_post_from"' in page.text
    assert await session.scalar(select(func.count()).select_from(Practitioner)) == before
    page = await anonymous.post("/practitioners/new", data=bad | {"in_post_from": ""}, headers=town.clerk)
    assert page.status_code == 422 and 'id="error-id_number"' in page.text and "校验" in page.text
    assert await session.scalar(select(func.count()).select_from(Practitioner)) == before
    org = await session.scalar(select(Organization.id).where(Organization.region_code == JIANGAN))
    good = bad | {
        "id_number": id_number(JIANGAN, "19900101"),
        "household_region_code": JIANGAN,
        "organization_id": str(org),
        "post_type": "community_worker",
        "in_post_from": "2024-03-01",
    }
    done = await anonymous.post("/practitioners/new", data=good, headers=town.clerk)
    assert done.status_code == 303 and "message=" in done.headers["location"]
    assert await session.scalar(select(func.count()).select_from(Practitioner)) == before + 1


async def test_import_page_shows_problems_by_row_and_column_then_commits(
    anonymous: httpx.AsyncClient, session: AsyncSession, town: Town
) -> None:
    app: Any = anonymous._transport.app  # type: ignore[attr-defined]
    bad = "姓名,公民身份号码,学历,户籍地区划代码\r\n张三,420102199001011230,本科,420102\r\n".encode("utf-8-sig")
    started = await anonymous.post("/imports", files={"file": ("人员.csv", bad, "text/csv")}, headers=town.clerk)
    assert started.status_code == 303, started.text
    page_url = started.headers["location"]
    assert "排队中" in (await anonymous.get(page_url, headers=town.clerk)).text
    await app.state.import_worker.drain()
    checked = await anonymous.get(page_url, headers=town.clerk)
    assert 'id="import-problems"' in checked.text and "公民身份号码" in checked.text
    assert 'id="import-commit"' not in checked.text  # nothing to commit while there are problems
    good = f"姓名,公民身份号码,学历,户籍地区划代码\r\n张三,{id_number(JIANGAN, '19900101')},本科,{JIANGAN}\r\n"
    started = await anonymous.post(
        "/imports", files={"file": ("人员.csv", good.encode("utf-8-sig"), "text/csv")}, headers=town.clerk
    )
    page_url = started.headers["location"]
    await app.state.import_worker.drain()
    checked = await anonymous.get(page_url, headers=town.clerk)
    assert 'id="import-commit"' in checked.text and 'id="import-counts"' in checked.text
    before = await session.scalar(select(func.count()).select_from(Practitioner))
    committed = await anonymous.post(f"{page_url}/commit", headers=town.clerk)
    assert committed.status_code == 303 and "message=" in committed.headers["location"]
    await app.state.import_worker.drain()
    assert 'id="import-committed"' in (await anonymous.get(page_url, headers=town.clerk)).text
    assert await session.scalar(select(func.count()).select_from(Practitioner)) == before + 1
