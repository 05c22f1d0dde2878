"""Monthly allowance payroll on a hand-built Hubei fixture: who is paid, how much and why;
the states and who may move them; the diff; adjustments; exports read back; the hash chain."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import anyio
import httpx
import openpyxl
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry.certifications.schemas import CertificationCreate
from registry.certifications.service import add_certification
from registry.models import AuditEvent, Certification, Organization, PayrollLine, PolicyRuleRow
from registry.organizations.schemas import OrganizationCreate
from registry.organizations.service import create_organization
from registry.payroll import export
from registry.practitioners.schemas import EmploymentCreate, PractitionerCreate
from registry.practitioners.service import add_employment, create_practitioner
from tests.accounts import bearer, make_token, make_user
from tests.problems import assert_problem
from tests.scene import LOADER, id_number

YICHANG = "420502"  # 宜昌市西陵区
JIANGAN = "420102"  # 武汉市江岸区 (Wuhan raises the allowance from 2026-10)
CW, SO, SW = "community_worker", "service_org_staff", "station_social_worker"


@dataclass
class World:
    people: dict[str, int]
    clerk: dict[str, str]  # payroll clerk of Hubei
    approver: dict[str, str]  # civil-affairs staff of Hubei
    approver2: dict[str, str]
    county_clerk: dict[str, str]  # civil-affairs staff of Jiang'an only
    both: dict[str, str]  # one user holding both roles for Hubei


async def _build(session: AsyncSession) -> World:
    orgs: dict[str, int] = {}
    for key, region, kind in (
        ("yc_comm", YICHANG, "community"),
        ("yc_org", YICHANG, "service_org"),
        ("wh_comm", JIANGAN, "community"),
        ("wh_org", JIANGAN, "service_org"),
        ("wh_station", JIANGAN, "grassroots_station"),
    ):
        orgs[key] = (
            await create_organization(
                session, LOADER, OrganizationCreate(name=f"{key}单位", org_type=kind, region_code=region)
            )
        ).id
    people: dict[str, int] = {}

    async def person(
        key: str,
        spells: list[tuple[str, str, str, str | None]],
        cert: tuple[str, str, str | None, str] | None,
    ) -> None:
        """spells: (org, post, from, to); cert: (level, registration from, explicit end, verified on)."""
        region = YICHANG if spells and spells[0][0].startswith("yc") else JIANGAN
        p = await create_practitioner(
            session,
            LOADER,
            PractitionerCreate(name=f"测试{key}", id_number=id_number(region, "19880101"), education="bachelor"),
        )
        people[key] = p.id
        for org, post, start, end in spells:
            await add_employment(
                session,
                LOADER,
                p.id,
                EmploymentCreate(
                    organization_id=orgs[org],
                    post_type=post,
                    duty_level="county" if post == SW else None,
                    in_post_from=dt.date.fromisoformat(start),
                    in_post_to=dt.date.fromisoformat(end) if end else None,
                ),
            )
        if cert:
            level, reg_from, reg_to, verified_on = cert
            c = await add_certification(
                session,
                LOADER,
                p.id,
                CertificationCreate(
                    level=level,
                    certificate_number=f"HB{p.id:08d}",
                    exam_year=int(reg_from[:4]) - 1,
                    registration_valid_from=dt.date.fromisoformat(reg_from),
                    registration_valid_to=dt.date.fromisoformat(reg_to) if reg_to else None,
                ),
            )
            await session.execute(
                update(Certification)
                .where(Certification.id == c.id)
                .values(
                    verification_status="verified",
                    verified_at=dt.datetime.fromisoformat(verified_on + "T10:00:00+08:00"),
                )
            )

    await person("a", [("yc_comm", CW, "2015-01-01", None)], ("assistant", "2025-01-01", None, "2025-01-10"))
    await person("b", [("yc_comm", CW, "2015-01-01", None)], ("senior", "2025-01-01", None, "2025-01-10"))
    await person("c", [("wh_comm", CW, "2015-01-01", None)], ("intermediate", "2025-01-01", None, "2025-01-10"))
    # Left community work on 15 October for a service organization: not in post as one on the 31st.
    await person(
        "d",
        [("wh_comm", CW, "2015-01-01", "2026-10-15"), ("wh_org", SO, "2026-10-16", None)],
        ("assistant", "2025-01-01", None, "2025-01-10"),
    )
    # The other way round: a community worker from 16 October.
    await person(
        "e",
        [("yc_org", SO, "2015-01-01", "2026-10-15"), ("yc_comm", CW, "2026-10-16", None)],
        ("assistant", "2025-01-01", None, "2025-01-10"),
    )
    # Certificate verified on 5 November: too late for October.
    await person("f", [("yc_comm", CW, "2015-01-01", None)], ("assistant", "2025-01-01", None, "2026-11-05"))
    # Registration ended on 30 October, the day before the cut-off.
    await person("g", [("yc_comm", CW, "2015-01-01", None)], ("assistant", "2023-10-31", "2026-10-30", "2023-11-10"))
    # Registration ending on the cut-off day itself still counts.
    await person("h", [("yc_comm", CW, "2015-01-01", None)], ("assistant", "2023-11-01", "2026-10-31", "2023-11-10"))
    await person("i", [("wh_station", SW, "2015-01-01", None)], ("intermediate", "2025-01-01", None, "2025-01-10"))
    await person("j", [("yc_comm", CW, "2015-01-01", "2026-09-30")], ("assistant", "2025-01-01", None, "2025-01-10"))
    # A senior holder registered 2019-2021: paid under version 1 in December 2020.
    await person("s", [("yc_comm", CW, "2015-01-01", None)], ("senior", "2019-01-01", None, "2019-02-01"))

    # Wuhan raises the allowance above the Hubei floor from October 2026 (an admin's version).
    session.add(
        PolicyRuleRow(
            rule_id="HB-ALW-100-200",
            version=3,
            kind="allowance",
            title="武汉市社区工作者职业津贴",
            region_code="420100",
            effective_from=dt.date(2026, 10, 1),
            params={
                "post_types": [CW],
                "amounts": {"assistant": "150", "intermediate": "260", "senior": "380"},
                "amount_unit": "元/月",
                "floor": True,
            },
            issuer="武汉市民政局",
            document_title="测试文件",
            document_number="武民〔2026〕1号",
            clause="二",
            source="test",
            trust="official",
        )
    )
    clerk = await make_user(session, "hb-payroll", {"role": "payroll_clerk", "region_code": "420000"})
    approver = await make_user(session, "hb-approver", {"role": "civil_affairs", "region_code": "420000"})
    approver2 = await make_user(session, "hb-approver2", {"role": "civil_affairs", "region_code": "420000"})
    county = await make_user(session, "ja-clerk", {"role": "civil_affairs", "region_code": JIANGAN})
    both = await make_user(
        session,
        "hb-both",
        {"role": "payroll_clerk", "region_code": "420000"},
        {"role": "civil_affairs", "region_code": "420000"},
    )
    world = World(
        people=people,
        clerk=bearer(await make_token(session, clerk)),
        approver=bearer(await make_token(session, approver)),
        approver2=bearer(await make_token(session, approver2)),
        county_clerk=bearer(await make_token(session, county)),
        both=bearer(await make_token(session, both)),
    )
    await session.commit()
    return world


@pytest.fixture
async def world(session: AsyncSession) -> World:
    return await _build(session)


async def create(client: httpx.AsyncClient, headers: dict[str, str], region: str, month: str) -> dict[str, Any]:
    response = await client.post("/api/payroll-runs", json={"region_code": region, "month": month}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def lines(client: httpx.AsyncClient, headers: dict[str, str], run_id: int) -> dict[int, dict[str, Any]]:
    page = (await client.get(f"/api/payroll-runs/{run_id}/lines", params={"limit": 1000}, headers=headers)).json()
    return {line["practitioner_id"]: line for line in page["items"]}


async def close_run(client: httpx.AsyncClient, w: World, run_id: int) -> dict[str, Any]:
    assert (await client.post(f"/api/payroll-runs/{run_id}/submit", headers=w.clerk)).status_code == 200
    assert (await client.post(f"/api/payroll-runs/{run_id}/approve", headers=w.approver)).status_code == 200
    closed = await client.post(f"/api/payroll-runs/{run_id}/close", headers=w.clerk)
    assert closed.status_code == 200, closed.text
    return closed.json()


def by_key(w: World, paid: dict[int, dict[str, Any]]) -> dict[str, Decimal]:
    names = {v: k for k, v in w.people.items()}
    return {names[pid]: Decimal(line["amount"]) for pid, line in paid.items() if pid in names}


async def test_the_right_people_amounts_and_reasons(anonymous: httpx.AsyncClient, world: World) -> None:
    run = await create(anonymous, world.clerk, "420000", "2026-10")
    assert run["status"] == "draft" and run["cutoff"] == "2026-10-31"
    paid = await lines(anonymous, world.clerk, run["id"])
    assert by_key(world, paid) == {
        "a": Decimal(100),  # assistant, Yichang: the Hubei amount
        "b": Decimal(300),  # senior under version 2
        "c": Decimal(260),  # intermediate in Wuhan: the raised local amount
        "e": Decimal(100),  # became a community worker mid-month
        "h": Decimal(100),  # registration ends on the cut-off day
    }
    assert Decimal(run["total_amount"]) == 860 and run["line_count"] == 5
    c = paid[world.people["c"]]
    assert (c["rule_id"], c["rule_version"]) == ("HB-ALW-100-200", 3)
    assert "武民〔2026〕1号" in c["basis"] and c["id_number_masked"].count("*") == 10
    b = paid[world.people["b"]]
    assert b["rule_version"] == 2 and "征求意见稿" not in b["basis"]  # v2's own citation
    assert all(f["citation"] for f in b["findings"])
    assert run["rule_versions"]["HB-ALW-100-200"] in (2, 3)
    # The decisions API says the same about those left out, with the reasons.
    for key, fragment in (
        ("d", "岗位为社工机构专职人员"),
        ("f", "核验通过，晚于 2026-10-31"),  # verified after the cut-off: not yet valid on that day
        ("g", "届满"),
        ("i", "驻站社工"),
    ):
        body = (
            await anonymous.get(
                f"/api/practitioners/{world.people[key]}/decisions",
                params={"as_of": "2026-10-31"},
                headers=world.approver,
            )
        ).json()
        allowance = next(d for d in body["decisions"] if d["question"] == "allowance")
        assert allowance["outcome"] is False, key
        assert fragment in allowance["summary"] or any(fragment in f["text"] for f in allowance["findings"]), (
            key,
            allowance,
        )


async def test_senior_holder_under_version_1(anonymous: httpx.AsyncClient, world: World) -> None:
    run = await create(anonymous, world.clerk, "420500", "2020-12")
    paid = await lines(anonymous, world.clerk, run["id"])
    line = paid[world.people["s"]]
    assert Decimal(line["amount"]) == 200 and line["rule_version"] == 1
    assert "按中级标准" in line["basis"]


async def test_diff_against_the_previous_closed_run(anonymous: httpx.AsyncClient, world: World) -> None:
    september = await create(anonymous, world.clerk, "420000", "2026-09")
    assert by_key(world, await lines(anonymous, world.clerk, september["id"])) == {
        "a": 100,
        "b": 300,
        "c": 200,  # Wuhan's raise starts in October
        "d": 100,
        "g": 100,
        "h": 100,
        "j": 100,  # left on 30 September, the cut-off day: still in post
    }
    closed = await close_run(anonymous, world, september["id"])
    assert closed["status"] == "closed" and len(closed["content_hash"]) == 64
    october = await create(anonymous, world.clerk, "420000", "2026-10")
    assert october["previous_run_id"] == september["id"]
    diff = (await anonymous.get(f"/api/payroll-runs/{october['id']}/diff", headers=world.approver)).json()
    names = {v: k for k, v in world.people.items()}
    assert {names[e["practitioner_id"]] for e in diff["added"]} == {"e"}
    dropped = {names[e["practitioner_id"]]: e["reason"] for e in diff["dropped"]}
    assert set(dropped) == {"d", "g", "j"}
    assert "岗位为社工机构专职人员" in dropped["d"] and "届满" in dropped["g"] and "不在岗" in dropped["j"]
    assert "每月不低于" not in dropped["d"]  # the reason, not the amount it would have been
    changed = {names[e["practitioner_id"]]: e for e in diff["changed"]}
    assert set(changed) == {"c"}
    assert (Decimal(changed["c"]["previous_amount"]), Decimal(changed["c"]["amount"])) == (200, 260)
    assert "v2" in changed["c"]["reason"] and "v3" in changed["c"]["reason"]


async def _october_with_back_pay_for_september(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World
) -> tuple[dict[str, Any], httpx.Response]:
    """September closed; f's certificate was in fact verified on 20 September (entered late), so
    September is owed: October's draft with that adjustment added, and the adjustment response."""
    september = await create(anonymous, world.clerk, "420000", "2026-09")
    await close_run(anonymous, world, september["id"])
    await session.execute(
        update(Certification)
        .where(Certification.practitioner_id == world.people["f"])
        .values(verified_at=dt.datetime(2026, 9, 20, 10, tzinfo=dt.UTC))
    )
    await session.commit()
    october = await create(anonymous, world.clerk, "420000", "2026-10")
    response = await anonymous.post(
        f"/api/payroll-runs/{october['id']}/adjustments",
        json={"practitioner_id": world.people["f"], "corrects_month": "2026-09", "reason": "证书核验日期补录"},
        headers=world.clerk,
    )
    assert response.status_code == 201, response.text
    return october, response


async def test_adjustment_for_a_closed_month(anonymous: httpx.AsyncClient, session: AsyncSession, world: World) -> None:
    october, response = await _october_with_back_pay_for_september(anonymous, session, world)
    line = response.json()
    assert (line["kind"], Decimal(line["amount"]), line["corrects_month"]) == ("adjustment", 100, "2026-09-01")
    assert "补发 2026-09" in line["basis"]
    # Nothing to correct for someone paid right; a month without a closed run cannot be corrected.
    assert_problem(
        await anonymous.post(
            f"/api/payroll-runs/{october['id']}/adjustments",
            json={"practitioner_id": world.people["a"], "corrects_month": "2026-09", "reason": "核对"},
            headers=world.clerk,
        ),
        422,
        "nothing_to_correct",
        "practitioner_id",
    )
    assert_problem(
        await anonymous.post(
            f"/api/payroll-runs/{october['id']}/adjustments",
            json={"practitioner_id": world.people["a"], "corrects_month": "2026-08", "reason": "核对"},
            headers=world.clerk,
        ),
        422,
        "month_not_closed",
        "corrects_month",
    )
    # Recomputing the draft keeps the adjustment; f is now paid for October too (a regular line).
    recomputed = (await anonymous.post(f"/api/payroll-runs/{october['id']}/compute", headers=world.clerk)).json()
    assert recomputed["line_count"] == 7 and Decimal(recomputed["total_amount"]) == 860 + 100 + 100
    # Numbered on after the computed lines, the adjustment last.
    numbered = (
        await session.execute(
            select(PayrollLine.seq, PayrollLine.kind)
            .where(PayrollLine.run_id == october["id"])
            .order_by(PayrollLine.seq)
        )
    ).all()
    assert [seq for seq, _ in numbered] == list(range(1, 8)) and numbered[-1].kind == "adjustment"
    diff = (await anonymous.get(f"/api/payroll-runs/{october['id']}/diff", headers=world.clerk)).json()
    assert [e["practitioner_id"] for e in diff["adjustments"]] == [world.people["f"]]


async def test_approval_rules(anonymous: httpx.AsyncClient, session: AsyncSession, world: World) -> None:
    run = await create(anonymous, world.both, "420000", "2026-10")
    rid = run["id"]
    # Approving a draft: not yet submitted.
    assert_problem(
        await anonymous.post(f"/api/payroll-runs/{rid}/approve", headers=world.approver), 409, "payroll_run_state"
    )
    assert (await anonymous.post(f"/api/payroll-runs/{rid}/submit", headers=world.both)).status_code == 200
    # The preparer holds the approving role too, and still may not approve their own run.
    assert_problem(await anonymous.post(f"/api/payroll-runs/{rid}/approve", headers=world.both), 403, "own_payroll_run")
    # A county clerk does not cover the province's run: not even visible.
    assert_problem(
        await anonymous.post(f"/api/payroll-runs/{rid}/approve", headers=world.county_clerk),
        404,
        "payroll_run_not_found",
    )
    # A payroll clerk cannot approve.
    assert_problem(await anonymous.post(f"/api/payroll-runs/{rid}/approve", headers=world.clerk), 403, "forbidden")
    # A submitted run cannot change: no recompute, no adjustment, and the database refuses edits.
    assert_problem(
        await anonymous.post(f"/api/payroll-runs/{rid}/compute", headers=world.both), 409, "payroll_run_state"
    )
    assert_problem(
        await anonymous.post(
            f"/api/payroll-runs/{rid}/adjustments",
            json={"practitioner_id": world.people["a"], "corrects_month": "2026-09", "reason": "核对"},
            headers=world.both,
        ),
        409,
        "payroll_run_state",
    )
    nested = await session.begin_nested()
    with pytest.raises(DBAPIError, match="cannot be changed"):
        await session.execute(update(PayrollLine).where(PayrollLine.run_id == rid).values(amount=999))
    await nested.rollback()
    approved = await anonymous.post(f"/api/payroll-runs/{rid}/approve", headers=world.approver)
    assert approved.status_code == 200
    assert_problem(
        await anonymous.post(f"/api/payroll-runs/{rid}/approve", headers=world.approver2), 409, "payroll_run_state"
    )
    closed = (await anonymous.post(f"/api/payroll-runs/{rid}/close", headers=world.both)).json()
    assert closed["status"] == "closed"
    assert_problem(await anonymous.delete(f"/api/payroll-runs/{rid}", headers=world.both), 409, "payroll_run_state")
    # The same region and month cannot be run again; corrections go into a later month.
    again = await anonymous.post(
        "/api/payroll-runs", json={"region_code": "420000", "month": "2026-10"}, headers=world.clerk
    )
    assert_problem(again, 409, "payroll_run_exists")


async def test_return_to_draft(anonymous: httpx.AsyncClient, world: World) -> None:
    run = await create(anonymous, world.clerk, "420000", "2026-10")
    await anonymous.post(f"/api/payroll-runs/{run['id']}/submit", headers=world.clerk)
    returned = await anonymous.post(
        f"/api/payroll-runs/{run['id']}/return", json={"reason": "请核对武汉市标准"}, headers=world.approver
    )
    assert returned.status_code == 200
    assert (returned.json()["status"], returned.json()["returned_reason"]) == ("draft", "请核对武汉市标准")
    assert (await anonymous.post(f"/api/payroll-runs/{run['id']}/compute", headers=world.clerk)).status_code == 200


async def test_a_person_is_paid_once_a_month_across_overlapping_runs(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await create(anonymous, world.clerk, "420000", "2026-10")
    before = await session.scalar(select(func.count()).select_from(PayrollLine))
    overlapping = await anonymous.post(
        "/api/payroll-runs", json={"region_code": YICHANG, "month": "2026-10"}, headers=world.clerk
    )
    assert_problem(overlapping, 409, "payroll_person_already_paid")
    assert await session.scalar(select(func.count()).select_from(PayrollLine)) == before


async def test_bad_run_requests(anonymous: httpx.AsyncClient, world: World) -> None:
    for body, code, field in (
        ({"region_code": "420000", "month": "2026-13"}, "month_invalid", "month"),
        ({"region_code": "420000", "month": "2099-01"}, "month_future", "month"),
        ({"region_code": "429999", "month": "2026-10"}, "region_unknown", "region_code"),
        ({"region_code": "430000", "month": "2026-10"}, "out_of_scope", "region_code"),
    ):
        assert_problem(await anonymous.post("/api/payroll-runs", json=body, headers=world.clerk), 422, code, field)


# --- exports -----------------------------------------------------------------------------------------


async def test_csv_export(anonymous: httpx.AsyncClient, session: AsyncSession, world: World) -> None:
    run = await create(anonymous, world.clerk, "420000", "2026-10")
    response = await anonymous.get(f"/api/payroll-runs/{run['id']}/export.csv", headers=world.clerk)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["序号", "姓名", "身份证号", "证书等级", "证书编号", "单位", "区划", "月份", "金额", "依据"]
    body = rows[1:]
    assert len(body) == 5
    assert sum(Decimal(r[8]) for r in body) == Decimal(run["total_amount"])
    assert all(r[2][4:14] == "*" * 10 for r in body)
    assert all("HB-ALW-100-200" in r[9] for r in body)
    assert {r[7] for r in body} == {"2026-10"}
    assert any("武汉市" in r[6] for r in body)
    event = (
        await session.scalars(select(AuditEvent).where(AuditEvent.action == "export").order_by(AuditEvent.id.desc()))
    ).first()
    assert event is not None and event.detail == {"format": "csv", "full_ids": False, "lines": 5}


async def test_full_ids_export_is_audited_and_limited(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    run = await create(anonymous, world.clerk, "420000", "2026-10")
    full = await anonymous.get(
        f"/api/payroll-runs/{run['id']}/export.csv",
        params={"full_ids": "true", "reason": "报财务代发"},
        headers=world.clerk,
    )
    rows = list(csv.reader(io.StringIO(full.content.decode("utf-8-sig"))))[1:]
    # Written so that Excel/WPS keep all 18 digits: ="420502…".
    assert all(r[2].startswith('="') and r[2].endswith('"') and len(r[2]) == 21 and "*" not in r[2] for r in rows)
    # Recorded as a reveal, with the reason (tests/test_payroll_sheets.py: asked for, once).
    event = (
        await session.scalars(select(AuditEvent).where(AuditEvent.action == "reveal").order_by(AuditEvent.id.desc()))
    ).first()
    assert event is not None and event.detail is not None and event.detail["full_ids"] is True
    assert event.detail["reason"] == "报财务代发"


async def test_xlsx_export(anonymous: httpx.AsyncClient, world: World, tmp_path: Any) -> None:
    september = await create(anonymous, world.clerk, "420000", "2026-09")
    closed = await close_run(anonymous, world, september["id"])
    response = await anonymous.get(f"/api/payroll-runs/{september['id']}/export.xlsx", headers=world.approver)
    assert response.status_code == 200
    path = tmp_path / "run.xlsx"
    path.write_bytes(response.content)
    book = openpyxl.load_workbook(path, data_only=True)
    assert book.sheetnames == ["发放明细", "依据全文", "批次信息"]
    sheet = book["发放明细"]
    # Title and run line above the headings (the print layout: tests/test_payroll_sheets.py).
    assert [c.value for c in sheet[3]] == [
        "序号",
        "姓名",
        "身份证号",
        "证书等级",
        "证书编号",
        "单位",
        "区划",
        "月份",
        "金额",
        "依据",
    ]
    assert sheet.freeze_panes == "A4"
    data = list(sheet.iter_rows(min_row=4, values_only=True))
    body = [r for r in data if isinstance(r[0], int)]
    total = next(r for r in data if r[1] == "合计")
    assert len(body) == 7
    assert Decimal(str(total[8])) == Decimal(closed["total_amount"]) == 1000
    assert sum(Decimal(str(r[8])) for r in body) == 1000
    assert all(str(r[2])[4:14] == "*" * 10 for r in body)
    assert sheet.cell(row=4, column=9).number_format == "#,##0.00"
    formula_book = openpyxl.load_workbook(path)
    total_row = 4 + data.index(total)
    assert str(formula_book["发放明细"].cell(row=total_row, column=9).value).startswith("=SUBTOTAL(9,I4:")
    meta = dict(book["批次信息"].iter_rows(values_only=True))
    assert meta["月份"] == "2026-09" and meta["状态"] == "已关闭"
    assert meta["本批次哈希（SHA-256）"] == closed["content_hash"]
    assert "hb-approver" in meta["审批人"] or "（" in meta["审批人"]
    assert "HB-ALW-100-200 v2" in meta["规则版本"]
    assert "湖北省" in meta["区划"]


# --- the hash chain ----------------------------------------------------------------------------------


async def test_verify_chain_detects_a_tampered_line(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World, as_owner: Any
) -> None:
    for month in ("2026-08", "2026-09"):
        run = await create(anonymous, world.clerk, "420000", month)
        await close_run(anonymous, world, run["id"])
    ok = (
        await anonymous.get("/api/payroll-runs/verify-chain", params={"region": "420000"}, headers=world.approver)
    ).json()
    assert (ok["ok"], ok["runs_checked"]) == (True, 2)
    # Someone with the table owner's rights switches the guard off and edits a paid line.
    async with as_owner():
        await session.execute(text("ALTER TABLE payroll_line DISABLE TRIGGER payroll_line_guard"))
        target = await session.scalar(select(PayrollLine.id).order_by(PayrollLine.run_id, PayrollLine.seq).limit(1))
        await session.execute(update(PayrollLine).where(PayrollLine.id == target).values(amount=Decimal("1000.00")))
        await session.execute(text("ALTER TABLE payroll_line ENABLE TRIGGER payroll_line_guard"))
    await session.commit()
    broken = (
        await anonymous.get("/api/payroll-runs/verify-chain", params={"region": "420000"}, headers=world.approver)
    ).json()
    assert broken["ok"] is False and broken["broken_run_id"] is not None
    assert "哈希不符" in broken["problem"]


async def test_adjustment_is_limited_to_people_of_the_run_region(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    september = await create(anonymous, world.clerk, "420000", "2026-09")
    await close_run(anonymous, world, september["id"])
    october = await create(anonymous, world.clerk, "420000", "2026-10")
    # Someone in Hunan, outside the clerk's scope: answered as if unknown, nothing written.
    outsider = await create_practitioner(
        session,
        LOADER,
        PractitionerCreate(
            name="湖南某人", id_number=id_number("430202"), household_region_code="430202", education="bachelor"
        ),
    )
    await session.commit()
    before = await session.scalar(select(func.count()).select_from(PayrollLine))
    response = await anonymous.post(
        f"/api/payroll-runs/{october['id']}/adjustments",
        json={"practitioner_id": outsider.id, "corrects_month": "2026-09", "reason": "补发"},
        headers=world.clerk,
    )
    assert_problem(response, 404, "practitioner_not_found")
    assert "湖南某人" not in response.text
    assert await session.scalar(select(func.count()).select_from(PayrollLine)) == before


async def test_a_month_whose_cutoff_has_not_passed_cannot_be_run(anonymous: httpx.AsyncClient, world: World) -> None:
    from registry import clock

    this_month = clock.today().strftime("%Y-%m")
    response = await anonymous.post(
        "/api/payroll-runs", json={"region_code": "420000", "month": this_month}, headers=world.clerk
    )
    assert_problem(response, 422, "month_future", "month")


async def test_csv_cells_cannot_carry_formulas(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await session.execute(
        update(Organization).where(Organization.name == "yc_comm单位").values(name='=HYPERLINK("http://x","点我")')
    )
    await session.commit()
    run = await create(anonymous, world.clerk, "420000", "2026-10")
    response = await anonymous.get(f"/api/payroll-runs/{run['id']}/export.csv", headers=world.clerk)
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))[1:]
    units = {r[5] for r in rows}
    assert '\'=HYPERLINK("http://x","点我")' in units
    assert not any(u.startswith("=") for u in units)


# --- the CSV, written by PostgreSQL --------------------------------------------------------------


async def _written_by_python(
    session_maker: async_sessionmaker[AsyncSession], run_id: int, *, full_ids: bool
) -> tuple[list[list[str]], bytes]:
    """The CSV as the csv module wrote it before COPY did: the rows of _rows (which the XLSX
    still uses), each cell made inert, the full ID wrapped in ="…"."""
    rows = []
    async for row in export._rows(session_maker, run_id, full_ids):
        cells = [export._inert(v) for v in row]
        if full_ids:
            cells[2] = f'="{cells[2]}"'
        rows.append([str(c) for c in cells])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(export.HEADERS)
    writer.writerows(rows)
    return rows, "\ufeff".encode() + buffer.getvalue().encode()


async def test_csv_cells_are_those_of_the_python_formatting(
    anonymous: httpx.AsyncClient,
    session: AsyncSession,
    session_maker: async_sessionmaker[AsyncSession],
    world: World,
) -> None:
    october, _ = await _october_with_back_pay_for_september(anonymous, session, world)
    # A draft's lines can still be written: every cell that the SQL formats by a rule of its own.
    # (Empty strings are left out: PostgreSQL writes them as "" where the csv module writes
    # nothing, the same empty cell.)
    odd = {
        1: {"name": "=1+1", "id_number": "-1234567", "organization_name": '-1+2,"引号"\n第二行'},
        2: {"name": "+86 测试", "id_number": "1234567", "level": "expert", "certificate_number": "@C1"},
        3: {"level": "=x", "region_code": "999999", "basis": "\t依据", "organization_name": "\r回车"},
    }
    run_id = october["id"]
    for seq, values in odd.items():
        await session.execute(
            update(PayrollLine).where(PayrollLine.run_id == run_id, PayrollLine.seq == seq).values(**values)
        )
    await session.commit()

    for full_ids in (False, True):
        response = await anonymous.get(
            f"/api/payroll-runs/{run_id}/export.csv",
            params={"full_ids": str(full_ids).lower(), "reason": "核对"},
            headers=world.clerk,
        )
        assert response.status_code == 200
        got = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
        expected, expected_bytes = await _written_by_python(session_maker, run_id, full_ids=full_ids)
        assert got[0] == export.HEADERS
        assert len(got) - 1 == len(expected) == 7
        for n, (row, want) in enumerate(zip(got[1:], expected, strict=True), start=1):
            assert row == want, f"line {n}"
        assert response.content == expected_bytes  # down to the quoting and the CRLF line ends
        # And what the cells are, so that the reference cannot be wrong the same way.
        ids, months, units = [r[2] for r in got[1:]], [r[7] for r in got[1:]], [r[5] for r in got[1:]]
        assert "2026-10（更正 2026-09）" in months and months.count("2026-10") == 6
        assert '\'-1+2,"引号"\n第二行' in units and "'\r回车" in units
        assert [r[1] for r in got[1:3]] == ["'=1+1", "'+86 测试"]
        assert (got[2][3], got[2][4], got[3][3], got[3][6], got[3][9]) == ("expert", "'@C1", "'=x", "999999", "'\t依据")
        assert got[4][3] == "初级（助理社会工作师）" and got[4][6].startswith("湖北省")
        if full_ids:
            assert ids[:2] == ['="\'-1234567"', '="1234567"']
            assert all(i.startswith('="') and len(i) == 21 for i in ids[2:])
        else:
            assert ids[:2] == ["'-1234567", "*******"]
            assert all(i[4:14] == "*" * 10 and len(i) == 18 for i in ids[2:])


@pytest.mark.parametrize("how", ["closed", "cancelled"])
async def test_csv_export_stopped_early_ends_the_copy(
    anonymous: httpx.AsyncClient,
    session: AsyncSession,
    session_maker: async_sessionmaker[AsyncSession],
    world: World,
    how: str,
) -> None:
    """The client goes away: the generator is closed, or cancelled by Litestar's cancel scope
    while it waits. The COPY must be over and the connection usable, here the test's own."""
    run_id = (await create(anonymous, world.clerk, "420000", "2026-10"))["id"]
    # 6,000 lines, some 20 MiB: far more than the queue and the socket buffers hold.
    await session.execute(
        text(
            "INSERT INTO payroll_line (run_id, seq, kind, practitioner_id, name, id_number, level,"
            " certificate_number, organization_id, organization_name, region_code, month, amount, rule_id,"
            " rule_version, basis, findings, corrects_month)"
            " SELECT run_id, 100 + g, 'adjustment', practitioner_id, name, id_number, level, certificate_number,"
            " organization_id, organization_name, region_code, month, 1, rule_id, rule_version,"
            " repeat('依据', 1000), findings, DATE '2026-09-01'"
            " FROM payroll_line, generate_series(1, 6000) g WHERE run_id = :run AND seq = 1"
        ),
        {"run": run_id},
    )
    await session.commit()
    chunks = export.csv_chunks(session_maker, run_id, full_ids=False)
    received = 0
    if how == "closed":
        received += len(await anext(chunks)) + len(await anext(chunks))
        await chunks.aclose()
    else:
        with anyio.CancelScope() as scope:
            async for chunk in chunks:
                received += len(chunk)
                scope.cancel()  # the generator's next wait on the queue is cancelled
        assert scope.cancelled_caught
    assert received < 10 * 2**20
    assert await session.scalar(select(func.count()).select_from(PayrollLine).where(PayrollLine.run_id == run_id))
    whole = b"".join([chunk async for chunk in export.csv_chunks(session_maker, run_id, full_ids=False)])
    assert whole.count(("依据" * 1000).encode()) == 6000 and whole.endswith(b"\r\n")
    assert len(list(csv.reader(io.StringIO(whole.decode("utf-8-sig"), newline="")))) == 1 + 5 + 6000
