"""CE audit sampling: the same seed draws the same people, another seed as many other people; the
people drawn see it on /me and upload evidence; a struck record's hours leave the totals, so the
person's CE decision and the region's compliance figure change, with the audit trail."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
from PIL import Image
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.ce_audit import service
from registry.models import AuditEvent, CeAuditOutcome, CeRecordRow
from registry.organizations.schemas import OrganizationCreate
from registry.organizations.service import create_organization
from registry.practitioners.schemas import EmploymentCreate, PractitionerCreate
from registry.practitioners.service import add_employment, create_practitioner
from tests.accounts import bearer, make_token, make_user
from tests.scene import LOADER, id_number

SIMING = "350203"  # Xiamen: 80 学时 a year
Y = clock.today().year - 1  # a closed year: decisions are final
PEOPLE = 80
D = "零一二三四五六七八九"


@dataclass
class Region:
    people: list[int]
    clerk: dict[str, str]
    outsider: dict[str, str]


@pytest.fixture
async def region(session: AsyncSession) -> Region:
    org = await create_organization(
        session, LOADER, OrganizationCreate(name="思明区社工服务中心", org_type="service_org", region_code=SIMING)
    )
    people = []
    for k in range(PEOPLE):
        p = await create_practitioner(
            session,
            LOADER,
            PractitionerCreate(name="林" + D[k // 10] + D[k % 10], id_number=id_number(SIMING), education="bachelor"),
        )
        await add_employment(
            session,
            LOADER,
            p.id,
            EmploymentCreate(organization_id=org.id, post_type="service_org_staff", in_post_from=dt.date(2015, 1, 1)),
        )
        session.add_all(
            CeRecordRow(
                practitioner_id=p.id,
                activity_date=dt.date(Y, 3 + m, 10),
                hours=Decimal(20),
                unit="学时",
                category="training",
                provider="厦门市社会工作协会",
                course=f"专题培训 {m + 1}",
                status="verified",
            )
            for m in range(4)
        )
        people.append(p.id)
    clerk = await make_user(session, "xm-audit", {"role": "civil_affairs", "region_code": SIMING})
    outsider = await make_user(session, "wh-audit", {"role": "civil_affairs", "region_code": "420102"})
    await session.commit()
    return Region(people, bearer(await make_token(session, clerk)), bearer(await make_token(session, outsider)))


def by_hand(people: list[int], seed: str, share: Decimal) -> list[int]:
    """The published procedure, written out again: rank by SHA-256, take the first ceil(share × n)."""
    ranked = sorted(people, key=lambda pid: hashlib.sha256(f"{seed}|{Y}|{SIMING}|{pid}".encode()).hexdigest())
    return ranked[: max(1, math.ceil(len(people) * share))]


async def test_the_same_seed_draws_the_same_sample_and_another_seed_another_of_the_same_size(
    anonymous: httpx.AsyncClient, region: Region, session: AsyncSession
) -> None:
    population = await service.population(session, Y, SIMING)
    assert population == sorted(region.people)
    for share in (service.DEFAULT_SHARE, Decimal("0.1")):
        a = service.draw(population, "2026-xm-a", Y, SIMING, share)
        assert a == service.draw(population, "2026-xm-a", Y, SIMING, share) == by_hand(population, "2026-xm-a", share)
        b = service.draw(population, "2026-xm-b", Y, SIMING, share)
        assert len(a) == len(b) == math.ceil(PEOPLE * share) and a != b
    assert len(service.draw(population, "x", Y, SIMING, service.DEFAULT_SHARE)) == 2  # 2.5 % of 80

    drawn = await anonymous.post(
        "/api/ce-audits", json={"year": Y, "region_code": SIMING, "seed": "2026-xm-a"}, headers=region.clerk
    )
    assert drawn.status_code == 201, drawn.text
    sample = drawn.json()
    assert sample["seed"] == "2026-xm-a" and Decimal(sample["share"]) == Decimal("0.025")
    assert sample["population"] == PEOPLE
    assert sample["drawn"] == by_hand(population, "2026-xm-a", Decimal("0.025"))
    assert [m["practitioner_id"] for m in sample["members"]] == sorted(sample["drawn"])
    assert all(len(m["records"]) == 4 for m in sample["members"])
    again = await anonymous.post(
        "/api/ce-audits", json={"year": Y, "region_code": SIMING, "seed": "other"}, headers=region.clerk
    )
    assert again.status_code == 409 and again.json()["code"] == "ce_audit_exists"
    foreign = await anonymous.post(
        "/api/ce-audits", json={"year": Y - 1, "region_code": SIMING}, headers=region.outsider
    )
    assert foreign.status_code == 403
    assert (await anonymous.get(f"/api/ce-audits/{sample['id']}", headers=region.outsider)).status_code == 404
    # The drawing is history: the table refuses to change it.
    with pytest.raises(DBAPIError, match=r"append-only|permission denied"):
        async with session.begin_nested():
            await session.execute(text("UPDATE ce_audit_sample SET seed = 'x'"))


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(out, "PNG")
    return out.getvalue()


async def _ce_outcome(client: httpx.AsyncClient, headers: dict[str, str], pid: int) -> bool | None:
    answer = await client.get(f"/api/practitioners/{pid}/decisions", params={"as_of": f"{Y}-12-31"}, headers=headers)
    assert answer.status_code == 200, answer.text
    [ce] = [d for d in answer.json()["decisions"] if d["question"] == "ce"]
    return ce["outcome"]


async def test_evidence_and_a_struck_record_change_the_decision_and_the_region_figure(
    anonymous: httpx.AsyncClient, region: Region, session: AsyncSession
) -> None:
    sample = (
        await anonymous.post(
            "/api/ce-audits", json={"year": Y, "region_code": SIMING, "seed": "s1"}, headers=region.clerk
        )
    ).json()
    sid = sample["id"]
    member = sample["members"][0]
    pid, records = member["practitioner_id"], member["records"]
    holder = bearer(
        await make_token(session, await make_user(session, "audited", {"role": "practitioner", "practitioner_id": pid}))
    )
    other_pid = next(p for p in region.people if p not in sample["drawn"])
    other = bearer(
        await make_token(
            session, await make_user(session, "not-drawn", {"role": "practitioner", "practitioner_id": other_pid})
        )
    )
    await session.commit()

    # The person drawn is told, sees it on /me, and uploads evidence; nobody else can.
    reminders = (await anonymous.get("/api/reminders", headers=holder)).json()["items"]
    assert [r["title"] for r in reminders] == [f"您被抽中 {Y} 年继续教育抽查"]
    me = await anonymous.get("/me", headers=holder)
    assert me.status_code == 200 and f"{Y} 年继续教育抽查" in me.text and records[0]["course"] in me.text
    assert f"{Y} 年继续教育抽查" not in (await anonymous.get("/me", headers=other)).text
    url = f"/api/ce-audits/{sid}/records/{records[0]['id']}/evidence"
    up = await anonymous.post(url, files={"file": ("结业证书.png", png(), "image/png")}, headers=holder)
    assert up.status_code == 201, up.text
    assert up.json()["evidence"] == 1
    wrong = await anonymous.post(url, files={"file": ("note.txt", b"hello", "text/plain")}, headers=holder)
    assert wrong.status_code == 422 and wrong.json()["code"] == "evidence_type"
    assert (await anonymous.post(url, files={"file": ("a.png", png(), "image/png")}, headers=other)).status_code == 404

    before = (await anonymous.get(f"/api/ce-audits/{sid}/report", headers=region.clerk)).json()
    assert (before["records"], before["upheld"], before["struck"]) == (4 * len(sample["members"]), 0, 0)
    assert before["region_ce"] == {"met": PEOPLE, "unmet": 0, "undecided": 0}
    assert await _ce_outcome(anonymous, region.clerk, pid) is True

    outcomes = f"/api/ce-audits/{sid}/outcomes"
    upheld = await anonymous.post(
        outcomes, json={"ce_record_id": records[0]["id"], "outcome": "upheld"}, headers=region.clerk
    )
    assert upheld.status_code == 201 and upheld.json()["outcome_label"] == "属实"
    bare = await anonymous.post(
        outcomes, json={"ce_record_id": records[1]["id"], "outcome": "struck"}, headers=region.clerk
    )
    assert bare.status_code == 422 and bare.json()["code"] == "reason_required"
    assert (
        await anonymous.post(
            outcomes, json={"ce_record_id": records[1]["id"], "outcome": "struck", "reason": "x"}, headers=holder
        )
    ).status_code == 404  # the person audited is not the auditor
    struck = await anonymous.post(
        outcomes,
        json={"ce_record_id": records[1]["id"], "outcome": "struck", "reason": "培训机构无此期培训的签到记录"},
        headers=region.clerk,
    )
    assert struck.status_code == 201 and struck.json()["outcome"] == "struck"
    # Someone else's record is not in this sample.
    outside = (await session.scalars(select(CeRecordRow.id).where(CeRecordRow.practitioner_id == other_pid))).first()
    assert (
        await anonymous.post(outcomes, json={"ce_record_id": outside, "outcome": "upheld"}, headers=region.clerk)
    ).status_code == 404

    # 60 of 80 学时 now: the person's decision and the region's figure change.
    assert await _ce_outcome(anonymous, region.clerk, pid) is False
    after = (await anonymous.get(f"/api/ce-audits/{sid}/report", headers=region.clerk)).json()
    assert (after["upheld"], after["struck"], after["struck_hours"]) == (1, 1, {"学时": "20.0"})
    assert after["region_ce"] == {"met": PEOPLE - 1, "unmet": 1, "undecided": 0}
    page = await anonymous.get(f"/ce-audits/{sid}", headers=region.clerk)
    assert page.status_code == 200 and "培训机构无此期培训的签到记录" in page.text and "不予认可" in page.text

    event = (
        await session.scalars(
            select(AuditEvent).where(AuditEvent.action == "audit_struck", AuditEvent.entity_id == str(records[1]["id"]))
        )
    ).one()
    assert event.detail == {"sample_id": sid, "year": Y, "ce_decision_before": True, "ce_decision_after": False}
    with pytest.raises(DBAPIError, match=r"append-only|permission denied"):
        async with session.begin_nested():
            await session.execute(update(CeAuditOutcome).values(outcome="upheld"))
    # A later finding is a new row and counts from then on (the struck one stays in the history).
    restored = await anonymous.post(
        outcomes, json={"ce_record_id": records[1]["id"], "outcome": "upheld"}, headers=region.clerk
    )
    assert restored.status_code == 201
    assert await _ce_outcome(anonymous, region.clerk, pid) is True
