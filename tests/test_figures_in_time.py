"""Region figures as of a day count only the organizations that existed that day; a rule the
registry can only report still states the year's target; a benchmark taken from a parent region
is named by name and code."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.models import Organization, SalaryBenchmarkRow, SalaryRecordRow
from registry.practitioners.schemas import EmploymentCreate, PractitionerCreate
from registry.practitioners.service import add_employment, create_practitioner
from tests.problems import assert_problem
from tests.scene import LOADER, Scene, build_scene, id_number

TIANYUAN = "430211"  # 株洲市天元区: nothing else in the test database lives there


@pytest.fixture
async def scene(session: AsyncSession) -> Scene:
    return await build_scene(session)


async def _org(client: httpx.AsyncClient, scene: Scene, name: str, kind: str, **dates: str) -> httpx.Response:
    return await client.post(
        "/api/organizations",
        json={"name": name, "org_type": kind, "region_code": TIANYUAN, **dates},
        headers=scene.headers("admin"),
    )


async def _figures(client: httpx.AsyncClient, scene: Scene, day: str) -> dict[str, Any]:
    response = await client.get(
        f"/api/regions/{TIANYUAN}/figures", params={"as_of": day}, headers=scene.headers("admin")
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_figures_count_the_organizations_that_existed_that_day(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    made = [
        await _org(anonymous, scene, "老牌社工中心", "service_org", founded_on="2015-04-01"),
        await _org(anonymous, scene, "新设社工中心", "service_org", founded_on="2023-03-01"),
        await _org(anonymous, scene, "已注销社工中心", "service_org", founded_on="2016-01-01", closed_on="2021-12-31"),
        await _org(anonymous, scene, "日期未登记社工中心", "service_org"),
    ]
    assert all(r.status_code == 201 for r in made), [r.text for r in made]
    assert made[2].json()["closed_on"] == "2021-12-31"
    counts = {
        day: (await _figures(anonymous, scene, day))["organizations_by_type"].get("service_org", 0)
        for day in ("2020-06-30", "2022-06-30", "2023-06-30")
    }
    # 2020: the old one, the later closed one, the undated one; 2022: the closed one is gone;
    # 2023: the new one is there.
    assert counts == {"2020-06-30": 3, "2022-06-30": 2, "2023-06-30": 3}

    # Dates out of order, or in the future, are refused and nothing is written.
    before = await session.scalar(select(func.count()).select_from(Organization))
    assert_problem(
        await _org(anonymous, scene, "倒序社工中心", "service_org", founded_on="2020-01-01", closed_on="2019-01-01"),
        422,
        "closed_before_founded",
        "closed_on",
    )
    future = (dt.date.today() + dt.timedelta(days=400)).isoformat()
    assert_problem(
        await _org(anonymous, scene, "未来社工中心", "service_org", founded_on=future),
        422,
        "founded_future",
        "founded_on",
    )
    assert await session.scalar(select(func.count()).select_from(Organization)) == before
    # Closing an organization later is a change of its record.
    closed = await anonymous.patch(
        f"/api/organizations/{made[1].json()['id']}", json={"closed_on": "2024-01-31"}, headers=scene.headers("admin")
    )
    assert closed.status_code == 200, closed.text
    assert (await _figures(anonymous, scene, "2024-06-30"))["organizations_by_type"]["service_org"] == 2


async def test_a_report_only_rule_states_the_years_target(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    for day, value, pct in (
        ("2021-06-30", "0.30", "30.0%"),
        ("2022-06-30", "0.40", "40.0%"),
        ("2023-06-30", "0.50", "50.0%"),
    ):
        hours = next(t for t in (await _figures(anonymous, scene, day))["targets"] if t["rule_id"] == "HN-STA-HOURS")
        assert Decimal(hours["target"]) == Decimal(value), day
        assert f"{day[:4]} 年目标 {pct}" in hours["text"]
        assert hours["actual"] is None and hours["met"] is None  # no data to measure it


async def test_a_parent_regions_benchmark_is_named(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    station = await _org(anonymous, scene, "天元区社工站", "grassroots_station")
    person = await create_practitioner(
        session, LOADER, PractitionerCreate(name="对标人", id_number=id_number(TIANYUAN), education="bachelor")
    )
    await add_employment(
        session,
        LOADER,
        person.id,
        EmploymentCreate(
            organization_id=station.json()["id"],
            post_type="station_social_worker",
            duty_level="county",
            in_post_from=dt.date(2021, 1, 1),
        ),
    )
    # Only the city (株洲市) published the 2021 figure; the county did not.
    session.add(
        SalaryBenchmarkRow(
            region_code="430200", year=2021, basis="average_social_wage", amount=Decimal(60000), source="统计公报"
        )
    )
    session.add(
        SalaryRecordRow(practitioner_id=person.id, year=2022, amount=Decimal(80000), period="annual", status="verified")
    )
    await session.commit()
    response = await anonymous.get(
        f"/api/practitioners/{person.id}/decisions", params={"as_of": "2023-03-01"}, headers=scene.headers("admin")
    )
    assert response.status_code == 200, response.text
    pay = next(d for d in response.json()["decisions"] if d["question"] == "salary")
    text = pay["findings"][0]["text"]
    assert "株洲市（430200）" in text and "取上级区划数据" in text
    assert pay["findings"][0]["figures"]["benchmark_region_name"] == "株洲市"
