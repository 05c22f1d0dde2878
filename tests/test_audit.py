"""The audit trail: append-only in the database itself, and one row per write with the values
before and after, who did it and the request it came from."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from registry.models import AuditEvent
from tests.scene import Scene, build_scene, certificate_number, id_number


@pytest.fixture
async def scene(session: AsyncSession) -> Scene:
    return await build_scene(session)


async def _events(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET actor_name = 'someone else'",
        "DELETE FROM audit_event",
        "TRUNCATE audit_event",
    ],
)
async def test_the_database_refuses_to_change_the_trail(
    session: AsyncSession, scene: Scene, statement: str, as_owner: Any
) -> None:
    """Twice over: the service's role has no such privilege, and even the tables' owner meets
    the append-only trigger."""
    before = await _events(session)
    assert before > 0
    nested = await session.begin_nested()
    with pytest.raises(DBAPIError, match="permission denied"):
        await session.execute(text(statement))
    await nested.rollback()
    async with as_owner():
        nested = await session.begin_nested()
        with pytest.raises(DBAPIError, match="append-only"):
            await session.execute(text(statement))
        await nested.rollback()
    assert await _events(session) == before


async def _write_once(
    session: AsyncSession,
    client: httpx.AsyncClient,
    headers: dict[str, str],
    method: str,
    url: str,
    body: Any = None,
) -> tuple[httpx.Response, AuditEvent]:
    """Do one write and return its response and the single audit row it added."""
    before = await _events(session)
    response = await client.request(method, url, json=body, headers={**headers, "X-Request-ID": "req-audit-test-1"})
    assert response.status_code < 300, response.text
    assert response.headers["x-request-id"] == "req-audit-test-1"
    assert await _events(session) == before + 1, "exactly one audit row per write"
    event = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))).one()
    assert event.request_id == "req-audit-test-1"
    return response, event


async def test_practitioner_create_and_update(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    clerk = scene.headers("clerk")
    number = id_number(scene.a.region, "19880808")
    response, event = await _write_once(
        session,
        anonymous,
        clerk,
        "POST",
        "/api/practitioners",
        {"name": "周新", "id_number": number, "education": "master", "household_region_code": scene.a.region},
    )
    pid = response.json()["id"]
    assert (event.action, event.entity_type, event.entity_id) == ("create", "practitioner", str(pid))
    assert event.actor_user_id == scene.users["clerk"].id and event.actor_name == "user-clerk"
    assert event.before is None
    assert event.after is not None
    assert event.after["name"] == "周新" and event.after["id_number"] == number and event.after["education"] == "master"
    assert "name_tokens" not in event.after
    assert (event.region_code, event.practitioner_id) == (scene.a.region, pid)

    _, event = await _write_once(
        session, anonymous, clerk, "PATCH", f"/api/practitioners/{pid}", {"education": "doctor", "phone": "13912345678"}
    )
    assert (event.action, event.entity_type, event.entity_id) == ("update", "practitioner", str(pid))
    assert event.before is not None and event.after is not None
    assert (event.before["education"], event.after["education"]) == ("master", "doctor")
    assert (event.before["phone"], event.after["phone"]) == (None, "13912345678")
    assert event.before["name"] == event.after["name"] == "周新"


async def test_employment_create_and_update(anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene) -> None:
    hr = scene.headers("hr")
    response, event = await _write_once(
        session,
        anonymous,
        hr,
        "POST",
        f"/api/practitioners/{scene.a.p}/employments",
        {"organization_id": scene.a.o, "post_type": "other", "in_post_from": "2012-03-01", "in_post_to": "2013-02-28"},
    )
    eid = response.json()["id"]
    assert (event.action, event.entity_type, event.entity_id) == ("create", "employment", str(eid))
    assert (
        event.after is not None and event.after["in_post_from"] == "2012-03-01" and event.after["post_type"] == "other"
    )
    assert event.practitioner_id == scene.a.p and event.organization_id == scene.a.o

    _, event = await _write_once(
        session, anonymous, hr, "PATCH", f"/api/employments/{eid}", {"in_post_to": "2013-06-30"}
    )
    assert (event.action, event.entity_type) == ("update", "employment")
    assert event.before is not None and event.after is not None
    assert (event.before["in_post_to"], event.after["in_post_to"]) == ("2013-02-28", "2013-06-30")


async def test_certification_create_update_verify_reject(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    clerk = scene.headers("clerk")
    number = certificate_number()
    response, event = await _write_once(
        session,
        anonymous,
        scene.headers("hr"),
        "POST",
        f"/api/practitioners/{scene.a.p}/certifications",
        {"level": "intermediate", "certificate_number": number, "exam_year": 2021},
    )
    cid = response.json()["id"]
    assert (event.action, event.entity_type, event.actor_name) == ("create", "certification", "user-hr")
    assert event.after is not None and event.after["certificate_number"] == number

    _, event = await _write_once(session, anonymous, clerk, "PATCH", f"/api/certifications/{cid}", {"exam_year": 2020})
    assert event.before is not None and event.after is not None
    assert (event.action, event.before["exam_year"], event.after["exam_year"]) == ("update", 2021, 2020)

    _, event = await _write_once(session, anonymous, clerk, "POST", f"/api/certifications/{cid}/verify")
    assert event.before is not None and event.after is not None
    assert (event.action, event.before["verification_status"], event.after["verification_status"]) == (
        "verify",
        "pending",
        "verified",
    )
    assert event.after["verified_by_id"] == scene.users["clerk"].id

    _, event = await _write_once(
        session, anonymous, clerk, "POST", f"/api/certifications/{cid}/reject", {"reason": "证书信息与原件不符"}
    )
    assert event.before is not None and event.after is not None
    assert (event.action, event.before["verification_status"], event.after["verification_status"]) == (
        "reject",
        "verified",
        "rejected",
    )
    assert event.after["rejection_reason"] == "证书信息与原件不符"


async def test_organization_create_and_update(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    clerk = scene.headers("clerk")
    response, event = await _write_once(
        session,
        anonymous,
        clerk,
        "POST",
        "/api/organizations",
        {"name": "荷塘区新建社工站", "org_type": "grassroots_station", "region_code": scene.a.region},
    )
    oid = response.json()["id"]
    assert (event.action, event.entity_type, event.entity_id, event.region_code) == (
        "create",
        "organization",
        str(oid),
        scene.a.region,
    )
    _, event = await _write_once(
        session, anonymous, clerk, "PATCH", f"/api/organizations/{oid}", {"name": "荷塘区月塘社工站"}
    )
    assert event.before is not None and event.after is not None
    assert (event.before["name"], event.after["name"]) == ("荷塘区新建社工站", "荷塘区月塘社工站")


async def test_users_grants_and_tokens(anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene) -> None:
    admin = scene.headers("admin")
    response, event = await _write_once(
        session,
        anonymous,
        admin,
        "POST",
        "/api/users",
        {
            "username": "new-clerk",
            "display_name": "新民政员",
            "password": "Welcome-2026-x",
            "grants": [{"role": "civil_affairs", "region_code": scene.a.region}],
        },
    )
    uid = response.json()["id"]
    assert (event.action, event.entity_type, event.entity_id) == ("create", "user", str(uid))
    assert event.after is not None and "password_hash" not in event.after
    assert event.after["grants"][0]["role"] == "civil_affairs"

    _, event = await _write_once(session, anonymous, admin, "PATCH", f"/api/users/{uid}", {"display_name": "张民政"})
    assert event.before is not None and event.after is not None
    assert (event.before["display_name"], event.after["display_name"]) == ("新民政员", "张民政")

    response, event = await _write_once(
        session,
        anonymous,
        admin,
        "POST",
        f"/api/users/{uid}/grants",
        {"role": "payroll_clerk", "region_code": "430200"},
    )
    gid = response.json()["id"]
    assert (event.action, event.entity_type, event.after and event.after["region_code"]) == (
        "create",
        "role_grant",
        "430200",
    )
    _, event = await _write_once(session, anonymous, admin, "DELETE", f"/api/users/{uid}/grants/{gid}")
    assert (event.action, event.entity_type, event.after) == ("delete", "role_grant", None)
    assert event.before is not None and event.before["role"] == "payroll_clerk"

    response, event = await _write_once(
        session, anonymous, scene.headers("clerk"), "POST", "/api/tokens", {"name": "报表脚本"}
    )
    token = response.json()
    assert (event.action, event.entity_type, event.entity_id) == ("create", "api_token", str(token["id"]))
    assert event.after is not None and "token_hash" not in event.after and token["token"] not in str(event.after)
    _, event = await _write_once(session, anonymous, scene.headers("clerk"), "DELETE", f"/api/tokens/{token['id']}")
    assert event.before is not None and event.after is not None
    assert (event.action, event.before["revoked_at"]) == ("revoke", None)
    assert event.after["revoked_at"] is not None


async def test_refused_write_leaves_no_audit_row(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    # The sex that contradicts the ID number: generated IDs take theirs from a counter, so it
    # depends on which tests ran before.
    record = (await anonymous.get(f"/api/practitioners/{scene.a.p}", headers=scene.headers("clerk"))).json()
    wrong = "F" if record["sex"] == "M" else "M"
    before = await _events(session)
    response = await anonymous.patch(
        f"/api/practitioners/{scene.a.p}", json={"sex": wrong}, headers=scene.headers("clerk")
    )
    assert response.status_code == 422
    response = await anonymous.patch(
        f"/api/practitioners/{scene.b.p}", json={"education": "master"}, headers=scene.headers("clerk")
    )
    assert response.status_code == 404
    assert await _events(session) == before


async def test_record_trail_masks_numbers_and_is_scoped(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    clerk = scene.headers("clerk")
    await anonymous.patch(f"/api/practitioners/{scene.a.p}", json={"phone": "13712345678"}, headers=clerk)
    trail = (await anonymous.get(f"/api/practitioners/{scene.a.p}/audit", headers=clerk)).json()["items"]
    update = next(e for e in trail if e["action"] == "update")
    assert update["after"]["phone"] == "137****5678"
    create = next(e for e in trail if e["action"] == "create" and e["entity_type"] == "practitioner")
    assert "*" * 10 in create["after"]["id_number"]
    assert {e["practitioner_id"] for e in trail} == {scene.a.p}
    other = await anonymous.get(f"/api/practitioners/{scene.b.p}/audit", headers=clerk)
    assert other.status_code == 404


async def test_incentive_records(anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene) -> None:
    """CE records, pay, benchmarks, awards and policy versions: one row each, before and after."""
    self_, clerk, hr, admin = (scene.headers(r) for r in ("self", "clerk", "hr", "admin"))
    response, event = await _write_once(
        session,
        anonymous,
        self_,
        "POST",
        f"/api/practitioners/{scene.a.p}/ce-records",
        {
            "activity_date": "2026-06-01",
            "hours": "3.5",
            "unit": "学时",
            "category": "academic",
            "provider": "省社工学会",
            "course": "年会",
        },
    )
    ce = response.json()["id"]
    assert (event.action, event.entity_type, event.actor_name) == ("create", "ce_record", "user-self")
    assert event.after is not None and event.after["hours"] == "3.5" and event.after["status"] == "pending"
    _, event = await _write_once(session, anonymous, clerk, "POST", f"/api/ce-records/{ce}/verify")
    assert event.before is not None and event.after is not None
    assert (event.action, event.before["status"], event.after["status"]) == ("verify", "pending", "verified")

    response, event = await _write_once(
        session, anonymous, hr, "POST", f"/api/practitioners/{scene.a.p}/salaries", {"year": 2025, "amount": "88000"}
    )
    assert (event.action, event.entity_type) == ("create", "salary_record")
    assert event.after is not None and event.after["amount"] == "88000.00"
    _, event = await _write_once(
        session, anonymous, clerk, "POST", f"/api/salaries/{response.json()['id']}/reject", {"reason": "与工资表不符"}
    )
    assert event.after is not None and (event.action, event.after["rejection_reason"]) == ("reject", "与工资表不符")

    body = {
        "region_code": "430200",
        "year": 2024,
        "basis": "average_social_wage",
        "amount": "76000",
        "source": "株洲市统计局",
    }
    _, event = await _write_once(session, anonymous, admin, "PUT", "/api/salary-benchmarks", body)
    assert (event.action, event.before) == ("create", None)
    _, event = await _write_once(
        session, anonymous, admin, "PUT", "/api/salary-benchmarks", {**body, "amount": "76500"}
    )
    assert event.before is not None and event.after is not None
    assert (event.action, event.before["amount"], event.after["amount"]) == ("update", "76000.00", "76500.00")

    response, event = await _write_once(
        session,
        anonymous,
        clerk,
        "POST",
        "/api/awards",
        {"practitioner_id": scene.a.p2, "programme": "outstanding_social_worker", "round": 2026},
    )
    assert (event.action, event.entity_type, event.practitioner_id) == ("create", "award", scene.a.p2)
    _, event = await _write_once(
        session, anonymous, clerk, "POST", f"/api/awards/{scene.a.aw2}/pay", {"paid_on": "2026-11-01"}
    )
    assert event.before is not None and event.after is not None
    assert (event.action, event.before["status"], event.after["status"]) == ("pay", "approved", "paid")

    _, event = await _write_once(
        session,
        anonymous,
        admin,
        "POST",
        "/api/policies/XM-CE-80/versions",
        {"effective_from": "2027-01-01", "params": {"min_hours": "90", "unit": "学时", "class_hour_minutes": 45}},
    )
    assert (event.action, event.entity_type, event.entity_id) == ("create", "policy_rule", "XM-CE-80 v2")
    assert event.after is not None and event.after["params"]["min_hours"] == "90"
