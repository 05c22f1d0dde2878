"""Fixes from the code review: back pay pending in two open runs, who may approve a run, salary
records after a rejection, jurisdictions' own versions of a rule, re-verified CE records, one
audit row for a new run and what the closing hash covers."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from decimal import Decimal
from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.service import actor_for_user
from registry.certifications.schemas import CertificationCreate
from registry.certifications.service import add_certification
from registry.db import create_engine, create_session_maker
from registry.models import AuditEvent, Certification, CertificationPeriod, PayrollLine, PayrollRun
from registry.organizations.schemas import OrganizationCreate
from registry.organizations.service import create_organization
from registry.payroll import service as payroll
from registry.payroll.schemas import AdjustmentCreate, RunCreate
from registry.practitioners.schemas import EmploymentCreate, PractitionerCreate
from registry.practitioners.service import add_employment, create_practitioner
from tests import test_payroll_concurrency as concurrency
from tests.conftest import TestDatabases
from tests.problems import assert_problem
from tests.scene import LOADER, Scene, build_scene, id_number
from tests.test_payroll import World, _build, close_run, create, lines


@pytest.fixture
async def world(session: AsyncSession) -> World:
    return await _build(session)


@pytest.fixture
async def scene(session: AsyncSession) -> Scene:
    return await build_scene(session)


async def _verified_on(session: AsyncSession, practitioner_id: int, day: dt.date) -> None:
    await session.execute(
        update(Certification)
        .where(Certification.practitioner_id == practitioner_id)
        .values(verified_at=dt.datetime(day.year, day.month, day.day, 10, tzinfo=dt.UTC))
    )
    await session.commit()


async def _adjust(
    client: httpx.AsyncClient, headers: dict[str, str], run_id: int, practitioner_id: int, month: str
) -> httpx.Response:
    return await client.post(
        f"/api/payroll-runs/{run_id}/adjustments",
        json={"practitioner_id": practitioner_id, "corrects_month": month, "reason": "证书核验日期补录"},
        headers=headers,
    )


# --- 2: the same back pay in two open runs -----------------------------------------------------------


async def test_back_pay_pending_in_an_open_run_is_not_added_to_another(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    august = await create(anonymous, world.clerk, "420000", "2026-08")
    await close_run(anonymous, world, august["id"])
    # f's certificate was in fact verified on 20 August: August is owed, once.
    await _verified_on(session, world.people["f"], dt.date(2026, 8, 20))
    september = await create(anonymous, world.clerk, "420000", "2026-09")
    october = await create(anonymous, world.clerk, "420000", "2026-10")
    first = await _adjust(anonymous, world.clerk, september["id"], world.people["f"], "2026-08")
    assert first.status_code == 201, first.text
    before = len(await lines(anonymous, world.clerk, october["id"]))
    second = await _adjust(anonymous, world.clerk, october["id"], world.people["f"], "2026-08")
    body = assert_problem(second, 409, "adjustment_pending")
    assert f"批次 {september['id']}" in body["detail"] and "2026-08" in body["detail"]
    assert len(await lines(anonymous, world.clerk, october["id"])) == before
    # Once September is closed, its back pay counts as paid: nothing is left to correct.
    await close_run(anonymous, world, september["id"])
    assert_problem(
        await _adjust(anonymous, world.clerk, october["id"], world.people["f"], "2026-08"),
        422,
        "nothing_to_correct",
        "practitioner_id",
    )


async def test_back_pay_refused_while_an_open_overlapping_run_pays_the_month(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    august = await create(anonymous, world.clerk, "420000", "2026-08")
    await close_run(anonymous, world, august["id"])
    # Someone in Yiling district, entered after August was closed: a district run pays August.
    org = await create_organization(
        session, LOADER, OrganizationCreate(name="夷陵区某社区", org_type="community", region_code="420506")
    )
    person = await create_practitioner(
        session,
        LOADER,
        PractitionerCreate(name="测试夷陵", id_number=id_number("420506", "19880101"), education="bachelor"),
    )
    await add_employment(
        session,
        LOADER,
        person.id,
        EmploymentCreate(organization_id=org.id, post_type="community_worker", in_post_from=dt.date(2015, 1, 1)),
    )
    await add_certification(
        session,
        LOADER,
        person.id,
        CertificationCreate(
            level="assistant",
            certificate_number="HB20209999",
            exam_year=2024,
            registration_valid_from=dt.date(2025, 1, 1),
        ),
    )
    await session.execute(
        update(Certification).where(Certification.practitioner_id == person.id).values(verification_status="verified")
    )
    await _verified_on(session, person.id, dt.date(2025, 1, 10))
    district = await create(anonymous, world.clerk, "420506", "2026-08")
    assert person.id in await lines(anonymous, world.clerk, district["id"])
    september = await create(anonymous, world.clerk, "420000", "2026-09")
    body = assert_problem(
        await _adjust(anonymous, world.clerk, september["id"], person.id, "2026-08"), 409, "adjustment_pending"
    )
    assert f"批次 {district['id']}" in body["detail"]


# --- 4: nobody approves their own work ---------------------------------------------------------------


async def test_who_recomputed_a_run_cannot_approve_it(anonymous: httpx.AsyncClient, world: World) -> None:
    run = await create(anonymous, world.clerk, "420000", "2026-10")
    recomputed = await anonymous.post(f"/api/payroll-runs/{run['id']}/compute", headers=world.both)
    assert recomputed.status_code == 200 and recomputed.json()["computed_by_id"] != run["computed_by_id"]
    assert (await anonymous.post(f"/api/payroll-runs/{run['id']}/submit", headers=world.clerk)).status_code == 200
    assert_problem(
        await anonymous.post(f"/api/payroll-runs/{run['id']}/approve", headers=world.both), 403, "own_payroll_run"
    )
    assert (await anonymous.post(f"/api/payroll-runs/{run['id']}/approve", headers=world.approver)).status_code == 200


async def test_who_added_an_adjustment_cannot_approve_the_run(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    september = await create(anonymous, world.clerk, "420000", "2026-09")
    await close_run(anonymous, world, september["id"])
    await _verified_on(session, world.people["f"], dt.date(2026, 9, 20))
    october = await create(anonymous, world.clerk, "420000", "2026-10")
    assert (await _adjust(anonymous, world.both, october["id"], world.people["f"], "2026-09")).status_code == 201
    assert (await anonymous.post(f"/api/payroll-runs/{october['id']}/submit", headers=world.clerk)).status_code == 200
    assert_problem(
        await anonymous.post(f"/api/payroll-runs/{october['id']}/approve", headers=world.both), 403, "own_payroll_run"
    )
    assert (
        await anonymous.post(f"/api/payroll-runs/{october['id']}/approve", headers=world.approver)
    ).status_code == 200


# --- 5: salary records -------------------------------------------------------------------------------


async def test_a_corrected_salary_record_after_a_rejection(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    hr, clerk = scene.headers("hr"), scene.headers("clerk")
    url = f"/api/practitioners/{scene.a.p}/salaries"
    wrong = await anonymous.post(url, json={"year": 2025, "amount": "8800"}, headers=hr)
    assert wrong.status_code == 201
    rejected = await anonymous.post(
        f"/api/salaries/{wrong.json()['id']}/reject", json={"reason": "填成了月薪"}, headers=clerk
    )
    assert rejected.status_code == 200
    corrected = await anonymous.post(url, json={"year": 2025, "amount": "88000"}, headers=hr)
    assert corrected.status_code == 201, corrected.text
    # Two live records of a year still cannot be: neither a third one, nor reviving the rejected one.
    assert_problem(
        await anonymous.post(url, json={"year": 2025, "amount": "90000"}, headers=hr), 409, "salary_year_duplicate"
    )
    assert_problem(
        await anonymous.post(f"/api/salaries/{wrong.json()['id']}/verify", headers=clerk), 409, "salary_year_duplicate"
    )
    assert (await anonymous.post(f"/api/salaries/{corrected.json()['id']}/verify", headers=clerk)).status_code == 200


async def test_a_clerk_cannot_verify_a_salary_they_submitted(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    clerk = scene.headers("clerk")
    own = await anonymous.post(
        f"/api/practitioners/{scene.a.p}/salaries", json={"year": 2025, "amount": "88000"}, headers=clerk
    )
    assert own.status_code == 201
    assert_problem(
        await anonymous.post(f"/api/salaries/{own.json()['id']}/verify", headers=clerk), 403, "own_submission"
    )
    assert_problem(
        await anonymous.post(f"/api/salaries/{own.json()['id']}/reject", json={"reason": "核对"}, headers=clerk),
        403,
        "own_submission",
    )


# --- 6: a jurisdiction's own version, then the province's next one ---------------------------------


HB_PARAMS: dict[str, Any] = {
    "post_types": ["community_worker"],
    "amounts": {"assistant": "120", "intermediate": "220", "senior": "320"},
    "amount_unit": "元/月",
    "floor": True,
}


async def test_a_province_version_after_a_city_version(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    admin = scene.headers("admin")
    url = "/api/policies/HB-ALW-100-200/versions"
    city = await anonymous.post(
        url,
        json={
            "region_code": "420100",
            "effective_from": "2027-01-01",
            "params": {**HB_PARAMS, "amounts": {"assistant": "150", "intermediate": "260", "senior": "380"}},
        },
        headers=admin,
    )
    assert city.status_code == 201, city.text
    assert (city.json()["version"], city.json()["region_code"]) == (3, "420100")
    province = await anonymous.post(
        url, json={"region_code": "420000", "effective_from": "2027-01-01", "params": HB_PARAMS}, headers=admin
    )
    assert province.status_code == 201, province.text
    assert (province.json()["version"], province.json()["region_code"]) == (4, "420000")
    # Still never outside the rule's own region, nor widened to the whole country.
    for region in ("350200", None):
        assert_problem(
            await anonymous.post(url, json={"region_code": region, "effective_from": "2027-02-01"}, headers=admin),
            422,
            "region_outside_rule",
            "region_code",
        )


# --- 8: re-verifying a rejected CE record ----------------------------------------------------------


async def test_reverifying_a_rejected_ce_record_rechecks_the_day(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    self_, clerk = scene.headers("self"), scene.headers("clerk")
    url = f"/api/practitioners/{scene.a.p}/ce-records"
    payload = {
        "activity_date": "2026-05-10",
        "unit": "小时",
        "category": "training",
        "provider": "株洲市社会工作协会",
        "course": "社区社会工作实务",
    }
    long_day = (await anonymous.post(url, json={**payload, "hours": "16"}, headers=self_)).json()
    rejected = await anonymous.post(
        f"/api/ce-records/{long_day['id']}/reject", json={"reason": "日期有误"}, headers=clerk
    )
    assert rejected.status_code == 200
    other = await anonymous.post(url, json={**payload, "hours": "10"}, headers=self_)
    assert other.status_code == 201
    body = assert_problem(
        await anonymous.post(f"/api/ce-records/{long_day['id']}/verify", headers=clerk), 409, "hours_impossible"
    )
    assert "24" in body["detail"]
    # The other record of the day is fine to verify.
    assert (await anonymous.post(f"/api/ce-records/{other.json()['id']}/verify", headers=clerk)).status_code == 200


# --- 10: one audit row for a new run; the hash covers every column a reader sees --------------------


async def test_creating_a_run_writes_one_audit_row(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    run = await create(anonymous, world.clerk, "420000", "2026-10")
    events = (
        await session.scalars(
            select(AuditEvent).where(AuditEvent.entity_type == "payroll_run", AuditEvent.entity_id == str(run["id"]))
        )
    ).all()
    assert [e.action for e in events] == ["create"]
    event = events[0]
    assert event.after is not None and event.after["line_count"] == 5
    assert event.detail is not None and event.detail["lines"] == 5 and Decimal(event.detail["total"]) == 860
    # A later recompute is its own event.
    await anonymous.post(f"/api/payroll-runs/{run['id']}/compute", headers=world.clerk)
    actions = (
        await session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.entity_type == "payroll_run", AuditEvent.entity_id == str(run["id"]))
            .order_by(AuditEvent.id)
        )
    ).all()
    assert list(actions) == ["create", "compute"]


@pytest.mark.parametrize(
    ("column", "value"),
    [("organization_name", "另一个单位"), ("basis", "改过的依据"), ("reason", "改过的原因")],
)
async def test_verify_chain_covers_unit_basis_and_reason(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World, column: str, value: str, as_owner: Any
) -> None:
    run = await create(anonymous, world.clerk, "420000", "2026-09")
    await close_run(anonymous, world, run["id"])
    check = "/api/payroll-runs/verify-chain"
    ok = (await anonymous.get(check, params={"region": "420000"}, headers=world.approver)).json()
    assert ok["ok"] is True
    async with as_owner():
        await session.execute(text("ALTER TABLE payroll_line DISABLE TRIGGER payroll_line_guard"))
        target = await session.scalar(select(PayrollLine.id).where(PayrollLine.run_id == run["id"]).limit(1))
        await session.execute(update(PayrollLine).where(PayrollLine.id == target).values({column: value}))
        await session.execute(text("ALTER TABLE payroll_line ENABLE TRIGGER payroll_line_guard"))
    await session.commit()
    broken = (await anonymous.get(check, params={"region": "420000"}, headers=world.approver)).json()
    assert (broken["ok"], broken["broken_run_id"]) == (False, run["id"])


async def test_runs_closed_under_the_first_hash_format_still_verify(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World, as_owner: Any
) -> None:
    """Runs closed before the hash covered unit, basis and reason keep their format 1 hash; a
    run closed under the current format cannot be passed off as format 1."""
    run = await create(anonymous, world.clerk, "420000", "2026-09")
    closed = await close_run(anonymous, world, run["id"])
    assert closed["hash_version"] == payroll.HASH_VERSION == 3
    row = await session.get(PayrollRun, run["id"], populate_existing=True)
    assert row is not None
    legacy = hashlib.sha256(
        payroll._canonical(row, await payroll._lines(session, row.id), row.previous_hash, version=1)
    ).hexdigest()
    assert legacy != row.content_hash
    check = "/api/payroll-runs/verify-chain"

    async def set_run(**values: Any) -> dict[str, Any]:
        async with as_owner():
            await session.execute(text("ALTER TABLE payroll_run DISABLE TRIGGER payroll_run_guard"))
            await session.execute(update(PayrollRun).where(PayrollRun.id == run["id"]).values(**values))
            await session.execute(text("ALTER TABLE payroll_run ENABLE TRIGGER payroll_run_guard"))
        await session.commit()
        return dict((await anonymous.get(check, params={"region": "420000"}, headers=world.approver)).json())

    assert (await set_run(hash_version=1))["ok"] is False
    assert (await set_run(hash_version=1, content_hash=legacy))["ok"] is True


# --- 2 again, on two real connections ----------------------------------------------------------------


async def _same_back_pay_at_once(url: str) -> list[str]:
    engine = create_engine(url, pool_size=4)
    maker = create_session_maker(engine)
    try:
        ids = await concurrency._setup(maker)
        async with maker() as session:
            actors = {k: await actor_for_user(session, v) for k, v in ids.items()}
        async with maker() as session, session.begin():
            august = await payroll.create_run(
                session, actors["clerk"], RunCreate(region_code="420000", month="2026-08")
            )
        async with maker() as session, session.begin():
            await payroll.submit(session, actors["clerk"], august.id)
            await payroll.approve(session, actors["a1"], august.id)
            await payroll.close(session, actors["clerk"], august.id)
        drafts = []
        for month in ("2026-09", "2026-10"):
            async with maker() as session, session.begin():
                run = await payroll.create_run(session, actors["clerk"], RunCreate(region_code="420000", month=month))
                drafts.append(run.id)
        async with maker() as session, session.begin():
            person = await session.scalar(select(PayrollLine.practitioner_id).where(PayrollLine.run_id == august.id))
            assert person is not None
            # Registered only from 15 September: August's 100 yuan is to be recovered, once.
            # A corrected period: a new row replacing the old one.
            old = (
                await session.scalars(
                    select(CertificationPeriod)
                    .join(Certification, Certification.id == CertificationPeriod.certification_id)
                    .where(Certification.practitioner_id == person)
                )
            ).one()
            session.add(
                CertificationPeriod(
                    certification_id=old.certification_id,
                    kind=old.kind,
                    start_date=dt.date(2026, 9, 15),
                    end_date=old.end_date,
                    note="登记日期更正",
                    replaces_id=old.id,
                )
            )
        data = AdjustmentCreate(practitioner_id=person, corrects_month="2026-08", reason="登记日期更正")
        results = await concurrency._both(
            maker, *(partial(payroll.add_adjustment, actor=actors["clerk"], run_id=r, data=data) for r in drafts)
        )
        async with maker() as session:
            amounts = (
                await session.scalars(
                    select(PayrollLine.amount).where(
                        PayrollLine.kind == "adjustment", PayrollLine.practitioner_id == person
                    )
                )
            ).all()
            assert amounts == [Decimal(-100)], amounts
        return concurrency._codes(results)
    finally:
        await engine.dispose()


def test_the_same_back_pay_added_to_two_drafts_at_once(databases: TestDatabases) -> None:
    url = databases.migrated("registry_review_fixes_concurrency")
    assert asyncio.run(_same_back_pay_at_once(databases.service(url))) == ["adjustment_pending", "ok"]
