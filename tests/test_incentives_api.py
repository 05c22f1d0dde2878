"""The incentive rules through the API: CE records, salaries, awards, decisions, policy versions
and region figures. Refusals are checked for their code and for nothing written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.certifications.schemas import CertificationCreate, CertificationVerify
from registry.certifications.service import add_certification, verify_certification
from registry.models import AuditEvent, AwardRow, CeRecordRow, PolicyRuleRow
from registry.organizations.schemas import OrganizationCreate
from registry.organizations.service import create_organization
from registry.practitioners.schemas import EmploymentCreate, PractitionerCreate
from registry.practitioners.service import add_employment, create_practitioner
from tests.accounts import bearer, make_token, make_user
from tests.problems import assert_problem
from tests.scene import LOADER, Scene, build_scene, id_number


@pytest.fixture
async def scene(session: AsyncSession) -> Scene:
    return await build_scene(session)


async def rows(session: AsyncSession, model: type[Any]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def ce_payload(**overrides: Any) -> dict[str, Any]:
    payload = {
        "activity_date": "2026-05-10",
        "hours": "4.0",
        "unit": "小时",
        "category": "training",
        "provider": "株洲市社会工作协会",
        "course": "社区社会工作实务",
    }
    payload.update(overrides)
    return payload


# --- continuing education ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"hours": "-2"}, "hours_not_positive", "hours"),
        ({"hours": "0"}, "hours_not_positive", "hours"),
        ({"hours": "24.5"}, "hours_impossible", "hours"),
        ({"hours": "2.25"}, "hours_precision", "hours"),
        ({"activity_date": "2099-01-01"}, "date_future", "activity_date"),
        ({"activity_date": "1975-01-01"}, "date_before_working_age", "activity_date"),
    ],
)
async def test_impossible_ce_input_is_refused(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene, overrides: dict[str, str], code: str, field: str
) -> None:
    before = (await rows(session, CeRecordRow), await rows(session, AuditEvent))
    response = await anonymous.post(
        f"/api/practitioners/{scene.a.p}/ce-records", json=ce_payload(**overrides), headers=scene.headers("self")
    )
    assert_problem(response, 422, code, field)
    assert (await rows(session, CeRecordRow), await rows(session, AuditEvent)) == before


async def test_more_than_24_hours_on_one_day_is_refused(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    url = f"/api/practitioners/{scene.a.p}/ce-records"
    assert (await anonymous.post(url, json=ce_payload(hours="16"), headers=scene.headers("hr"))).status_code == 201
    before = await rows(session, CeRecordRow)
    response = await anonymous.post(url, json=ce_payload(hours="8.5", unit="学时"), headers=scene.headers("self"))
    body = assert_problem(response, 422, "hours_impossible", "hours")
    assert "24" in body["detail"]
    assert await rows(session, CeRecordRow) == before
    # Exactly 24 in a day is possible (a residential course), and another day is fine.
    assert (await anonymous.post(url, json=ce_payload(hours="8"), headers=scene.headers("self"))).status_code == 201


async def test_bad_unit_or_category_is_a_validation_error(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    url = f"/api/practitioners/{scene.a.p}/ce-records"
    assert_problem(
        await anonymous.post(url, json=ce_payload(unit="分钟"), headers=scene.headers("self")), 422, "validation_error"
    )
    assert_problem(
        await anonymous.post(url, json=ce_payload(category="旅游"), headers=scene.headers("self")),
        422,
        "validation_error",
    )


async def test_only_verified_hours_count(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    self_, clerk = scene.headers("self"), scene.headers("clerk")
    url = f"/api/practitioners/{scene.a.p}/ce-records"
    submitted = (await anonymous.post(url, json=ce_payload(hours="6.5", category="supervision"), headers=self_)).json()
    assert submitted["status"] == "pending" and submitted["submitted_by_id"] == scene.users["self"].id
    totals = (
        await anonymous.get(f"/api/practitioners/{scene.a.p}/ce-totals", params={"year": 2026}, headers=self_)
    ).json()
    assert totals["verified"] == {} and totals["pending_records"] == 2  # the scene's record and this one
    # The practitioner cannot verify their own record; the clerk can.
    assert_problem(await anonymous.post(f"/api/ce-records/{submitted['id']}/verify", headers=self_), 403, "forbidden")
    verified = await anonymous.post(f"/api/ce-records/{submitted['id']}/verify", headers=clerk)
    assert verified.status_code == 200 and verified.json()["status"] == "verified"
    totals = (
        await anonymous.get(f"/api/practitioners/{scene.a.p}/ce-totals", params={"year": 2026}, headers=self_)
    ).json()
    assert totals["verified"] == {"supervision": {"小时": "6.5"}}
    queue = (await anonymous.get("/api/ce-records", headers=clerk)).json()
    assert [r["id"] for r in queue["items"]] == [scene.a.ce]


async def test_a_clerk_cannot_verify_what_they_submitted(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    clerk = scene.headers("clerk")
    record = (
        await anonymous.post(f"/api/practitioners/{scene.a.p}/ce-records", json=ce_payload(), headers=clerk)
    ).json()
    assert_problem(await anonymous.post(f"/api/ce-records/{record['id']}/verify", headers=clerk), 403, "own_submission")


# --- decisions ---------------------------------------------------------------------------------------


async def _verify_cert(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    response = await anonymous.post(f"/api/certifications/{scene.a.c}/verify", headers=scene.headers("clerk"))
    assert response.status_code == 200


async def test_decisions_carry_citations_that_resolve_to_the_catalogue(
    anonymous: httpx.AsyncClient, scene: Scene
) -> None:
    await _verify_cert(anonymous, scene)
    headers = scene.headers("clerk")
    body = (
        await anonymous.get(
            f"/api/practitioners/{scene.a.p}/decisions", params={"as_of": "2026-11-22"}, headers=headers
        )
    ).json()
    questions = {d["question"] for d in body["decisions"]}
    assert {"allowance", "ce", "salary", "qualification", "award"} <= questions
    findings = [f for d in body["decisions"] for f in d["findings"]]
    assert findings
    catalogue: dict[tuple[str, int], dict[str, Any]] = {}
    for rule_id in {f["rule_id"] for f in findings}:
        versions = await anonymous.get(f"/api/policies/{rule_id}", headers=headers)
        assert versions.status_code == 200, rule_id
        for v in versions.json():
            catalogue[(v["rule_id"], v["version"])] = v
    for finding in findings:
        entry = catalogue[(finding["rule_id"], finding["version"])]
        assert finding["citation"] == entry["citation"]
        assert entry["document_number"] in finding["citation"] and entry["clause"] in finding["citation"]
        assert finding["text"]


async def test_past_month_keeps_its_answer_after_a_new_version(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    """A Hubei community worker: this year's rule pays 100; a raise from next January does not
    touch this month."""
    clerk_b = scene.headers("admin")
    other = await make_user(session, "hubei-clerk", {"role": "civil_affairs", "region_code": "420000"})
    hubei = bearer(await make_token(session, other))
    await session.commit()
    person = scene.b.p2  # at the second (community) employer of county B, Hubei
    spell = (await anonymous.get(f"/api/practitioners/{person}", headers=hubei)).json()["employments"][0]
    await anonymous.patch(f"/api/employments/{spell['id']}", json={"post_type": "community_worker"}, headers=hubei)
    cert = await anonymous.post(
        f"/api/practitioners/{person}/certifications",
        json={
            "level": "assistant",
            "certificate_number": "HB2020000001",
            "exam_year": 2020,
            "registration_valid_from": "2025-01-10",
        },
        headers=hubei,
    )
    await anonymous.post(f"/api/certifications/{cert.json()['id']}/verify", headers=hubei)

    async def allowance(as_of: str) -> dict[str, Any]:
        body = (
            await anonymous.get(f"/api/practitioners/{person}/decisions", params={"as_of": as_of}, headers=hubei)
        ).json()
        return next(d for d in body["decisions"] if d["question"] == "allowance")

    # This month: the certificate verified today counts by its cut-off (the month's last day).
    today = clock.today()
    next_year = dt.date(today.year + 1, 1, 15)
    before = await allowance(today.isoformat())
    assert before["outcome"] is True and Decimal(before["amount"]) == 100
    assert before["findings"][0]["rule_ref"].startswith("HB-ALW-100-200 v2")
    new = await anonymous.post(
        "/api/policies/HB-ALW-100-200/versions",
        json={
            "effective_from": next_year.replace(day=1).isoformat(),
            "params": {
                "post_types": ["community_worker"],
                "amounts": {"assistant": "150", "intermediate": "250", "senior": "350"},
                "amount_unit": "元/月",
                "floor": True,
            },
            "document_number": "鄂民政发〔2026〕99号",
            "clause": "三",
        },
        headers=clerk_b,
    )
    assert new.status_code == 201, new.text
    assert new.json()["version"] == 3
    assert await allowance(today.isoformat()) == before
    after = await allowance(next_year.isoformat())
    assert Decimal(after["amount"]) == 150 and after["findings"][0]["rule_ref"] == "HB-ALW-100-200 v3"


async def test_a_floor_cannot_be_lowered(anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene) -> None:
    before = await rows(session, PolicyRuleRow)
    response = await anonymous.post(
        "/api/policies/HB-ALW-100-200/versions",
        json={
            "region_code": "420100",
            "effective_from": "2026-12-01",
            "params": {
                "post_types": ["community_worker"],
                "amounts": {"assistant": "80", "intermediate": "200"},
                "floor": True,
            },
        },
        headers=scene.headers("admin"),
    )
    assert_problem(response, 422, "below_floor", "params.amounts.assistant")
    outside = await anonymous.post(
        "/api/policies/HB-ALW-100-200/versions",
        json={"region_code": "350200", "effective_from": "2026-12-01"},
        headers=scene.headers("admin"),
    )
    assert_problem(outside, 422, "region_outside_rule", "region_code")
    assert await rows(session, PolicyRuleRow) == before


# --- salaries ----------------------------------------------------------------------------------------


async def test_salary_report_lists_who_is_paid_below_the_benchmark(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    admin, clerk, hr = scene.headers("admin"), scene.headers("clerk"), scene.headers("hr")
    # Hunan's rule covers station social workers; make the scene's worker one.
    person = (await anonymous.get(f"/api/practitioners/{scene.a.p}", headers=clerk)).json()
    spell = person["employments"][0]["id"]
    await anonymous.patch(
        f"/api/employments/{spell}", json={"post_type": "station_social_worker", "duty_level": "county"}, headers=clerk
    )
    # The city publishes no figure for the county; the province's is used.
    bench = await anonymous.put(
        "/api/salary-benchmarks",
        json={
            "region_code": "430000",
            "year": 2024,
            "basis": "average_social_wage",
            "amount": "80000",
            "source": "湖南省统计局",
        },
        headers=admin,
    )
    assert bench.status_code == 200, bench.text
    pay = await anonymous.post(
        f"/api/practitioners/{scene.a.p}/salaries",
        json={"year": 2025, "amount": "7500", "period": "monthly"},
        headers=hr,
    )
    assert pay.status_code == 201
    assert (await anonymous.post(f"/api/salaries/{pay.json()['id']}/verify", headers=clerk)).status_code == 200
    report = (
        await anonymous.get(f"/api/organizations/{scene.a.o}/salary-report", params={"year": 2025}, headers=hr)
    ).json()
    assert [line["practitioner_id"] for line in report["below"]] == [scene.a.p]
    line = report["below"][0]
    # 7,500 × 12 = 90,000 against 1.2 × 80,000 = 96,000.
    assert Decimal(line["annual_pay"]) == 90000 and Decimal(line["threshold"]) == 96000
    assert Decimal(line["shortfall"]) == 6000
    assert line["rule_ref"] == "HN-SAL-1.2 v1" and "430000" in line["explanation"]
    # A second record for the same year is a conflict; impossible amounts are refused.
    again = await anonymous.post(
        f"/api/practitioners/{scene.a.p}/salaries", json={"year": 2025, "amount": "96000"}, headers=hr
    )
    assert_problem(again, 409, "salary_year_duplicate", "year")
    assert_problem(
        await anonymous.post(
            f"/api/practitioners/{scene.a.p}/salaries", json={"year": 2023, "amount": "-1"}, headers=hr
        ),
        422,
        "amount_not_positive",
        "amount",
    )


# --- awards ------------------------------------------------------------------------------------------


async def _xiamen(session: AsyncSession) -> tuple[int, dict[str, str], dict[str, str]]:
    org = await create_organization(
        session, LOADER, OrganizationCreate(name="思明区社会工作服务中心", org_type="service_org", region_code="350203")
    )
    person = await create_practitioner(
        session,
        LOADER,
        PractitionerCreate(name="陈晓燕", id_number=id_number("350203", "19850303"), education="master"),
    )
    await add_employment(
        session,
        LOADER,
        person.id,
        EmploymentCreate(organization_id=org.id, post_type="service_org_staff", in_post_from=dt.date(2018, 1, 1)),
    )
    first = await make_user(session, "xm-clerk-1", {"role": "civil_affairs", "region_code": "350200"})
    second = await make_user(session, "xm-clerk-2", {"role": "civil_affairs", "region_code": "350203"})
    one, two = bearer(await make_token(session, first)), bearer(await make_token(session, second))
    await session.commit()
    return person.id, one, two


async def test_award_amounts_come_from_the_catalogue_and_need_a_second_person(
    anonymous: httpx.AsyncClient, session: AsyncSession
) -> None:
    person, one, two = await _xiamen(session)
    nominated = await anonymous.post(
        "/api/awards",
        json={
            "practitioner_id": person,
            "programme": "municipal_leading_talent",
            "amount": "999999",
            "nominated_on": "2026-11-01",
        },
        headers=one,
    )
    assert nominated.status_code == 201, nominated.text
    award = nominated.json()
    assert Decimal(award["amount"]) == 50000 and award["rule_id"] == "XM-LT-AWARD"
    assert_problem(
        await anonymous.post(f"/api/awards/{award['id']}/approve", json={}, headers=one), 403, "own_nomination"
    )
    early = await anonymous.post(f"/api/awards/{award['id']}/approve", json={"approved_on": "2020-01-01"}, headers=two)
    assert_problem(early, 422, "dates_out_of_order", "approved_on")
    approved = await anonymous.post(
        f"/api/awards/{award['id']}/approve", json={"approved_on": "2026-11-02"}, headers=two
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert_problem(
        await anonymous.post(f"/api/awards/{award['id']}/pay", json={"paid_on": "2026-11-01"}, headers=one),
        422,
        "dates_out_of_order",
        "paid_on",
    )
    paid = await anonymous.post(f"/api/awards/{award['id']}/pay", json={"paid_on": "2026-11-20"}, headers=one)
    assert paid.status_code == 200 and paid.json()["paid_on"] == "2026-11-20"


async def test_award_guards_refuse_and_write_nothing(anonymous: httpx.AsyncClient, session: AsyncSession) -> None:
    person, one, _ = await _xiamen(session)
    first = await anonymous.post(
        "/api/awards", json={"practitioner_id": person, "programme": "national_leading_talent"}, headers=one
    )
    assert first.status_code == 201
    before = (await rows(session, AwardRow), await rows(session, AuditEvent))
    again = await anonymous.post(
        "/api/awards", json={"practitioner_id": person, "programme": "national_leading_talent"}, headers=one
    )
    assert_problem(again, 409, "award_not_allowed", "programme")
    excluded = await anonymous.post(
        "/api/awards", json={"practitioner_id": person, "programme": "municipal_leading_talent"}, headers=one
    )
    body = assert_problem(excluded, 409, "award_not_allowed", "programme")
    assert "不重复" in body["detail"]
    elsewhere = await anonymous.post(
        "/api/awards",
        json={"practitioner_id": person, "programme": "outstanding_social_worker", "round": 2026},
        headers=one,
    )
    assert_problem(elsewhere, 422, "award_programme_unknown", "programme")
    future = await anonymous.post(
        "/api/awards",
        json={"practitioner_id": person, "programme": "municipal_leading_talent", "nominated_on": "2099-01-01"},
        headers=one,
    )
    assert_problem(future, 422, "date_future", "nominated_on")
    assert (await rows(session, AwardRow), await rows(session, AuditEvent)) == before
    # Once the national nomination is turned down, the municipal award is open again.
    rejected = await anonymous.post(f"/api/awards/{first.json()['id']}/reject", json={"reason": "未入选"}, headers=one)
    assert rejected.status_code == 200
    retry = await anonymous.post(
        "/api/awards", json={"practitioner_id": person, "programme": "municipal_leading_talent"}, headers=one
    )
    assert retry.status_code == 201


async def test_repeatable_commendation_needs_its_year_and_is_once_a_year(
    anonymous: httpx.AsyncClient, scene: Scene
) -> None:
    clerk = scene.headers("clerk")
    url = "/api/awards"
    no_round = await anonymous.post(
        url, json={"practitioner_id": scene.a.p2, "programme": "outstanding_social_worker"}, headers=clerk
    )
    assert_problem(no_round, 422, "award_round_required", "round")
    body = {"practitioner_id": scene.a.p2, "programme": "outstanding_social_worker", "round": 2026}
    assert (await anonymous.post(url, json=body, headers=clerk)).status_code == 201
    assert_problem(await anonymous.post(url, json=body, headers=clerk), 409, "award_duplicate", "programme")
    assert (await anonymous.post(url, json={**body, "round": 2025}, headers=clerk)).status_code == 201


# --- region figures ----------------------------------------------------------------------------------

TIANYUAN = "430211"  # 株洲市天元区: nothing else in the test database lives there


async def test_region_figures_match_a_hand_computed_fixture(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    async def org(name: str, kind: str) -> int:
        return (
            await create_organization(
                session, LOADER, OrganizationCreate(name=name, org_type=kind, region_code=TIANYUAN)
            )
        ).id

    station, s1, s2 = (
        await org("天元区社工站", "grassroots_station"),
        await org("甲社工中心", "service_org"),
        await org("乙社工中心", "service_org"),
    )

    async def person(
        name: str,
        education: str,
        major: bool,
        org_id: int,
        post: str,
        start: str,
        end: str | None = None,
        cert: tuple[str, str, str] | None = None,
    ) -> None:
        p = await create_practitioner(
            session,
            LOADER,
            PractitionerCreate(name=name, id_number=id_number(TIANYUAN), education=education, social_work_major=major),
        )
        await add_employment(
            session,
            LOADER,
            p.id,
            EmploymentCreate(
                organization_id=org_id,
                post_type=post,
                duty_level="county" if post == "station_social_worker" else None,
                in_post_from=dt.date.fromisoformat(start),
                in_post_to=dt.date.fromisoformat(end) if end else None,
            ),
        )
        if cert:
            level, reg_from, status = cert
            c = await add_certification(
                session,
                LOADER,
                p.id,
                CertificationCreate(
                    level=level,
                    certificate_number=f"TY{id_number(TIANYUAN)[-8:]}",
                    exam_year=int(reg_from[:4]),
                    registration_valid_from=dt.date.fromisoformat(reg_from),
                ),
            )
            if status == "verified":
                # Checked when it was registered (figures as of a day count what was verified by then).
                on = dt.date.fromisoformat(reg_from)
                await verify_certification(
                    session, LOADER, c.id, CertificationVerify(verified_on=on, evidence=f"{on} 登记时核验")
                )

    sw = "station_social_worker"
    await person("甲一", "bachelor", True, station, sw, "2022-01-01")  # qualified: social-work degree
    await person("甲二", "associate", False, station, sw, "2022-01-01", cert=("assistant", "2022-01-01", "verified"))
    await person("甲三", "secondary", False, station, sw, "2022-01-01")  # not qualified
    await person("甲四", "bachelor", True, station, sw, "2023-07-01")  # starts after the date
    await person(
        "乙一",
        "bachelor",
        False,
        s1,
        "service_org_staff",
        "2020-01-01",
        cert=("intermediate", "2019-03-01", "verified"),
    )
    await person(
        "乙二", "master", False, s1, "service_org_staff", "2020-01-01", cert=("senior", "2020-03-01", "pending")
    )
    await person("乙三", "bachelor", True, s1, "service_org_staff", "2020-01-01")
    await person("丙一", "associate", True, s2, "service_org_staff", "2021-01-01")  # an associate degree is not enough
    await person("丙二", "bachelor", True, s2, "service_org_staff", "2019-01-01", "2022-12-31")  # left before the date
    await session.commit()

    response = await anonymous.get(
        f"/api/regions/{TIANYUAN}/figures", params={"as_of": "2023-06-30"}, headers=scene.headers("admin")
    )
    assert response.status_code == 200, response.text
    f = response.json()
    assert f["practitioners"] == 9
    assert f["in_post"] == 7
    assert f["in_post_by_post_type"] == {"service_org_staff": 4, "station_social_worker": 3}
    assert f["certified_by_level"] == {"assistant": 1, "intermediate": 1}
    # 乙一's registration (2019-03-01, three years) lapsed in 2022.
    assert f["registration_valid_by_level"] == {"assistant": 1}
    assert f["organizations_by_type"] == {"grassroots_station": 1, "service_org": 2}
    assert (f["station_staff"], f["station_staff_qualified"]) == (3, 2)
    targets = {t["rule_id"]: t for t in f["targets"]}
    qual = targets["HN-STA-QUAL"]
    assert (Decimal(qual["target"]), Decimal(qual["actual"]), qual["met"]) == (Decimal("0.50"), Decimal("0.6667"), True)
    shares = {s["name"]: s for s in f["organizations_share"]}
    assert (shares["甲社工中心"]["staff"], shares["甲社工中心"]["qualified"], shares["甲社工中心"]["met"]) == (
        3,
        2,
        True,
    )
    assert (shares["乙社工中心"]["staff"], shares["乙社工中心"]["qualified"], shares["乙社工中心"]["met"]) == (
        1,
        0,
        False,
    )
    org_third = targets["ZZ-ORG-THIRD"]
    assert (Decimal(org_third["target"]), Decimal(org_third["actual"]), org_third["met"]) == (2, 1, False)
    assert "ZZ-TARGET-2020" not in targets  # ended in 2020
    assert targets["HN-STA-HOURS"]["met"] is None
    assert all(t["citation"] for t in f["targets"])
    # The next year's target is higher; the same staff then fall short of nothing new but the figure moves.
    later = (
        await anonymous.get(
            f"/api/regions/{TIANYUAN}/figures", params={"as_of": "2024-06-30"}, headers=scene.headers("admin")
        )
    ).json()
    assert "HN-STA-QUAL" not in {t["rule_id"] for t in later["targets"]}  # the plan ended in 2023
