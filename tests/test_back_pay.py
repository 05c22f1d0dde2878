"""Late verification and payroll: the run after a verification carries back pay for the closed
months the certificate was valid and registered (within the look-back window), never for a
suspended month, and recovers a paid month whose certificate is later found not valid; closed
runs stay as closed (the hash chain verifies) and a second run pays nothing twice."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.certifications.schemas import CertificationCreate
from registry.certifications.service import add_certification
from registry.models import PolicyRuleRow
from registry.organizations.schemas import OrganizationCreate
from registry.organizations.service import create_organization
from registry.practitioners.schemas import EmploymentCreate, PractitionerCreate
from registry.practitioners.service import add_employment, create_practitioner
from tests.accounts import bearer, make_token, make_user
from tests.scene import LOADER, id_number
from tests.test_certificate_history import month_start

XILING = "420502"  # 宜昌市西陵区


@dataclass
class Town:
    late: int  # registered eight months ago, verified today
    suspended: int  # the same, with a suspension in the fifth month back
    revoked: int  # verified long ago and paid; cancelled back-dated afterwards
    certs: dict[int, int]
    clerk: dict[str, str]
    approver: dict[str, str]


async def _town(session: AsyncSession) -> Town:
    org = await create_organization(
        session, LOADER, OrganizationCreate(name="西陵社区居委会", org_type="community", region_code=XILING)
    )
    registered = month_start(8) + dt.timedelta(days=3)  # registration began eight months ago
    ids: list[int] = []
    certs: dict[int, int] = {}
    for n, reg_from in enumerate((registered, registered, dt.date(2022, 5, 1))):
        person = await create_practitioner(
            session,
            LOADER,
            PractitionerCreate(
                name="补发甲乙丙"[n] + "某", id_number=id_number(XILING, "19900101"), education="bachelor"
            ),
        )
        await add_employment(
            session,
            LOADER,
            person.id,
            EmploymentCreate(organization_id=org.id, post_type="community_worker", in_post_from=dt.date(2015, 1, 1)),
        )
        cert = await add_certification(
            session,
            LOADER,
            person.id,
            CertificationCreate(
                level="assistant",
                certificate_number=f"XL{person.id:08d}",
                exam_year=reg_from.year - 1,
                registration_valid_from=reg_from,
                registration_valid_to=dt.date(2030, 12, 31),
            ),
        )
        ids.append(person.id)
        certs[person.id] = cert.id
    clerk = await make_user(session, "xl-payroll", {"role": "payroll_clerk", "region_code": XILING})
    approver = await make_user(session, "xl-approver", {"role": "civil_affairs", "region_code": XILING})
    town = Town(
        late=ids[0],
        suspended=ids[1],
        revoked=ids[2],
        certs=certs,
        clerk=bearer(await make_token(session, clerk)),
        approver=bearer(await make_token(session, approver)),
    )
    await session.commit()
    return town


async def _run(client: httpx.AsyncClient, town: Town, month: dt.date, *, close: bool = True) -> dict[str, Any]:
    response = await client.post(
        "/api/payroll-runs", json={"region_code": XILING, "month": f"{month:%Y-%m}"}, headers=town.clerk
    )
    assert response.status_code == 201, response.text
    run = response.json()
    if close:
        for step, who in (("submit", town.clerk), ("approve", town.approver), ("close", town.clerk)):
            done = await client.post(f"/api/payroll-runs/{run['id']}/{step}", headers=who)
            assert done.status_code == 200, done.text
            run = done.json()
        assert run["content_hash"]
    return run


async def _lines(client: httpx.AsyncClient, town: Town, run_id: int) -> list[dict[str, Any]]:
    page = await client.get(f"/api/payroll-runs/{run_id}/lines", params={"limit": 1000}, headers=town.clerk)
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


async def _verify(client: httpx.AsyncClient, town: Town, person: int, body: dict[str, Any] | None = None) -> None:
    kwargs: dict[str, Any] = {"json": body} if body is not None else {}
    response = await client.post(f"/api/certifications/{town.certs[person]}/verify", headers=town.approver, **kwargs)
    assert response.status_code == 200, response.text


async def _chain_ok(client: httpx.AsyncClient, town: Town) -> dict[str, Any]:
    check = await client.get("/api/payroll-runs/verify-chain", params={"region": XILING}, headers=town.clerk)
    assert check.status_code == 200, check.text
    body: dict[str, Any] = check.json()
    return body


def _months(lines: list[dict[str, Any]], person: int) -> dict[str, Decimal]:
    return {
        line["corrects_month"][:7]: Decimal(line["amount"])
        for line in lines
        if line["practitioner_id"] == person and line["kind"] == "adjustment"
    }


async def test_late_verification_is_back_paid_once_within_the_window(
    anonymous: httpx.AsyncClient, session: AsyncSession
) -> None:
    town = await _town(session)
    # The long-verified holder is paid every month; the two others are pending.
    await _verify(anonymous, town, town.revoked, {"verified_on": "2022-06-01", "evidence": "2022-06 纸质核验"})
    closed = [await _run(anonymous, town, month_start(k)) for k in range(8, 2, -1)]  # months 8..3 back
    first_lines = await _lines(anonymous, town, closed[0]["id"])
    assert {line["practitioner_id"] for line in first_lines} == {town.revoked}
    hashes = [(r["id"], r["content_hash"]) for r in closed]

    # Today: the two certificates are verified; one was suspended in the fifth month back; the
    # third is found cancelled from the fourth month back (both months 4 and 3 were paid).
    await _verify(anonymous, town, town.late)
    await _verify(anonymous, town, town.suspended)
    suspension = await anonymous.post(
        f"/api/certifications/{town.certs[town.suspended]}/periods",
        json={
            "kind": "suspension",
            "start_date": month_start(5).isoformat(),
            "end_date": (month_start(4) - dt.timedelta(days=1)).isoformat(),
            "note": "未按期参加年度检查",
        },
        headers=town.approver,
    )
    assert suspension.status_code == 201, suspension.text
    cancelled = await anonymous.post(
        f"/api/certifications/{town.certs[town.revoked]}/periods",
        json={"kind": "cancellation", "start_date": month_start(4).isoformat(), "note": "查实已离开社工岗位并申请注销"},
        headers=town.approver,
    )
    assert cancelled.status_code == 201, cancelled.text

    nxt = await _run(anonymous, town, month_start(2), close=False)
    lines = await _lines(anonymous, town, nxt["id"])
    # Not paid as this month's regular line: verified after its cut-off day.
    assert not [x for x in lines if x["kind"] == "regular"]
    expected = {f"{month_start(k):%Y-%m}": Decimal(100) for k in range(8, 2, -1)}
    assert _months(lines, town.late) == expected
    assert _months(lines, town.suspended) == {m: a for m, a in expected.items() if m != f"{month_start(5):%Y-%m}"}
    assert _months(lines, town.revoked) == {
        f"{month_start(4):%Y-%m}": Decimal(-100),
        f"{month_start(3):%Y-%m}": Decimal(-100),
    }
    for line in lines:
        assert line["month"] == month_start(2).isoformat() and line["rule_id"] == "HB-ALW-100-200"
        assert line["corrects_month"] is not None and "REG-BACKPAY-12M" in line["basis"]
        if line["amount"].startswith("-"):
            assert line["reason"] == "登记无效扣回" and "注销" in line["basis"]
            assert line["corrects_line_id"] is not None  # the closed line it recovers
        else:
            month = line["corrects_month"][:7]
            assert line["reason"] == "迟延核验补发"
            assert f"补发 {month}：应发 100 元，已发 0 元" in line["basis"] and "核验，晚于" in line["basis"]
    assert Decimal(nxt["total_amount"]) == 100 * (6 + 5) - 200
    # Recomputing the draft rewrites the computed lines, not adds to them.
    again = await anonymous.post(f"/api/payroll-runs/{nxt['id']}/compute", headers=town.clerk)
    assert again.status_code == 200, again.text
    assert len(await _lines(anonymous, town, nxt["id"])) == len(lines)

    for step, who in (("submit", town.clerk), ("approve", town.approver), ("close", town.clerk)):
        assert (await anonymous.post(f"/api/payroll-runs/{nxt['id']}/{step}", headers=who)).status_code == 200
    # The closed runs stay exactly as closed, and the chain verifies.
    for run_id, digest in hashes:
        assert (await anonymous.get(f"/api/payroll-runs/{run_id}", headers=town.clerk)).json()["content_hash"] == digest
    chain = await _chain_ok(anonymous, town)
    assert chain["ok"] is True and chain["runs_checked"] == 7

    # The second run pays none of them again; it back-pays the one month closed since (two back).
    second = await _run(anonymous, town, month_start(1), close=False)
    later = await _lines(anonymous, town, second["id"])
    assert _months(later, town.late) == {f"{month_start(2):%Y-%m}": Decimal(100)}
    assert _months(later, town.suspended) == {f"{month_start(2):%Y-%m}": Decimal(100)}
    assert _months(later, town.revoked) == {}


async def test_the_window_is_a_catalogue_parameter(anonymous: httpx.AsyncClient, session: AsyncSession) -> None:
    town = await _town(session)
    # A province version of the rule with a three-month window.
    session.add(
        PolicyRuleRow(
            rule_id="REG-BACKPAY-12M",
            version=2,
            kind="back_pay",
            title="迟延核验补发（三个月）",
            region_code="420000",
            effective_from=dt.date(2020, 1, 1),
            params={"months": 3},
            issuer="湖北省民政厅",
            document_title="测试文件",
            document_number="鄂民〔2026〕1号",
            clause="三",
            source="test",
            trust="official",
        )
    )
    await session.commit()
    for k in range(8, 2, -1):
        await _run(anonymous, town, month_start(k))
    await _verify(anonymous, town, town.late)
    nxt = await _run(anonymous, town, month_start(2), close=False)
    lines = await _lines(anonymous, town, nxt["id"])
    assert _months(lines, town.late) == {f"{month_start(k):%Y-%m}": Decimal(100) for k in (5, 4, 3)}
    assert all("REG-BACKPAY-12M v2" in x["basis"] for x in lines if x["practitioner_id"] == town.late)
    assert clock.today() > month_start(2)
