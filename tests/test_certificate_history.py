"""A certificate's past through the API: back-dated verification with its evidence, registration
periods as rows (first registration, renewal, suspension, cancellation), corrections that keep
the corrected row, and decisions that judge each day with the facts of that day."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.models import AuditEvent, Certification, CertificationPeriod
from registry.rules.evaluate import month_end
from tests.accounts import bearer, make_token, make_user
from tests.problems import assert_problem
from tests.scene import Scene, build_scene


@pytest.fixture
async def scene(session: AsyncSession) -> Scene:
    return await build_scene(session)


def month_start(months_back: int, today: dt.date | None = None) -> dt.date:
    """The first day of the month ``months_back`` months before this one."""
    today = today or clock.today()
    index = today.year * 12 + today.month - 1 - months_back
    return dt.date(index // 12, index % 12 + 1, 1)


def end_of(day: dt.date) -> dt.date:
    return month_end(day.year, day.month)


class Holder:
    """A community worker in Hubei (county B of the scene) and a Hubei clerk's headers."""

    def __init__(self, client: httpx.AsyncClient, person: int, headers: dict[str, str]) -> None:
        self.client, self.person, self.headers = client, person, headers

    async def certify(self, **payload: Any) -> dict[str, Any]:
        body = {"level": "assistant", "certificate_number": "HB2023000777", **payload}
        response = await self.client.post(
            f"/api/practitioners/{self.person}/certifications", json=body, headers=self.headers
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def verify(self, cert_id: int, body: dict[str, Any] | None = None) -> httpx.Response:
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        return await self.client.post(f"/api/certifications/{cert_id}/verify", headers=self.headers, **kwargs)

    async def period(self, cert_id: int, **body: Any) -> httpx.Response:
        return await self.client.post(f"/api/certifications/{cert_id}/periods", json=body, headers=self.headers)

    async def allowance(self, day: dt.date) -> dict[str, Any]:
        response = await self.client.get(
            f"/api/practitioners/{self.person}/decisions", params={"as_of": day.isoformat()}, headers=self.headers
        )
        assert response.status_code == 200, response.text
        return next(d for d in response.json()["decisions"] if d["question"] == "allowance")


async def holder(client: httpx.AsyncClient, session: AsyncSession, scene: Scene) -> Holder:
    clerk = await make_user(session, "hubei-history-clerk", {"role": "civil_affairs", "region_code": "420000"})
    headers = bearer(await make_token(session, clerk))
    await session.commit()
    person = scene.b.p2  # at the community employer of county B (Hubei), since 2020
    spell = (await client.get(f"/api/practitioners/{person}", headers=headers)).json()["employments"][0]
    response = await client.patch(
        f"/api/employments/{spell['id']}", json={"post_type": "community_worker"}, headers=headers
    )
    assert response.status_code == 200, response.text
    return Holder(client, person, headers)


async def _audit_count(session: AsyncSession, entity_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count()).where(
                AuditEvent.entity_type == "certification", AuditEvent.entity_id == str(entity_id)
            )
        )
        or 0
    )


# --- acceptance 1: a verification done on paper in 2024, recorded today with its date ------------


async def test_paper_verification_of_2024_pays_last_month(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    h = await holder(anonymous, session, scene)
    cert = await h.certify(exam_year=2023, registration_valid_from="2024-01-10", registration_valid_to="2099-01-09")
    last_month = end_of(month_start(1))

    # Verified today, last month is not yet a month of a verified certificate.
    assert (await h.allowance(last_month))["outcome"] is False

    response = await h.verify(cert["id"], {"verified_on": "2024-03-15", "evidence": "2024-03 纸质核验，档案号 HB-0042"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["verified_on"] == "2024-03-15" and body["verification_status"] == "verified"
    assert body["verification_evidence"] == "2024-03 纸质核验，档案号 HB-0042"
    decision = await h.allowance(last_month)
    assert decision["outcome"] is True and Decimal(decision["amount"]) == 100  # the assistant level's amount
    # The day before the verification it was not yet verified: the record says what was known when.
    early = await h.allowance(dt.date(2024, 2, 29))
    assert early["outcome"] is False and "2024-03-15 核验通过" in early["summary"]
    # Who recorded it, and when, is the audit row; it keeps the evidence.
    event = await session.scalar(
        select(AuditEvent).where(AuditEvent.entity_id == str(cert["id"]), AuditEvent.action == "verify")
    )
    assert event is not None and event.after["verified_on"] == "2024-03-15"
    assert event.after["verification_evidence"].startswith("2024-03 纸质核验")


async def test_refused_verifications_write_nothing(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    h = await holder(anonymous, session, scene)
    cert = await h.certify(exam_year=2023, registration_valid_from="2024-01-10")
    events = await _audit_count(session, cert["id"])
    tomorrow = (clock.today() + dt.timedelta(days=1)).isoformat()
    cases = [
        ({"verified_on": tomorrow, "evidence": "预先登记"}, 422, "verified_on_future", "verified_on"),
        ({"verified_on": "2022-12-31", "evidence": "纸质核验"}, 422, "verified_on_before_exam", "verified_on"),
        ({"verified_on": "2024-03-15"}, 422, "evidence_required", "evidence"),
        ({"verified_on": "2024-03-15", "evidence": "   "}, 422, "evidence_required", "evidence"),
        ({"verified_on": "1900-01-01", "evidence": "纸质核验"}, 422, "validation_error", "verified_on"),
    ]
    for body, status, code, field in cases:
        assert_problem(await h.verify(cert["id"], body), status, code, field)  # a code, a Chinese message
    row = await session.get(Certification, cert["id"])
    assert row is not None
    await session.refresh(row)
    assert (row.verification_status, row.verified_on, row.verified_at) == ("pending", None, None)
    assert await _audit_count(session, cert["id"]) == events


async def test_a_verification_day_is_corrected_by_a_new_audited_event(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    h = await holder(anonymous, session, scene)
    cert = await h.certify(exam_year=2023, registration_valid_from="2024-01-10")
    assert (await h.verify(cert["id"])).status_code == 200  # no body: verified today
    assert (await anonymous.get(f"/api/certifications/{cert['id']}", headers=h.headers)).json()[
        "verified_on"
    ] == clock.today().isoformat()
    assert_problem(await h.verify(cert["id"]), 409, "certification_already_verified")
    assert_problem(await h.verify(cert["id"], {"verified_on": "2024-05-06"}), 422, "evidence_required", "evidence")
    fixed = await h.verify(cert["id"], {"verified_on": "2024-05-06", "evidence": "档案复核：2024-05 已核验"})
    assert fixed.status_code == 200 and fixed.json()["verified_on"] == "2024-05-06"
    events = (
        await session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_type == "certification", AuditEvent.entity_id == str(cert["id"]))
            .order_by(AuditEvent.id)
        )
    ).all()
    assert [e.action for e in events][-2:] == ["verify", "correct_verification"]
    assert events[-1].before["verified_on"] == clock.today().isoformat()
    assert events[-1].after["verified_on"] == "2024-05-06"


# --- acceptance 2: a registration that lapsed and was renewed three months later --------------------


async def test_a_lapse_between_two_periods_is_not_paid_and_both_periods_stay(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    h = await holder(anonymous, session, scene)
    first_from = month_start(30)
    first_to = month_start(6) - dt.timedelta(days=1)  # lapsed at the end of the month seven months ago
    renewed = month_start(3)  # renewed three months later
    cert = await h.certify(
        exam_year=first_from.year - 1,
        registration_valid_from=first_from.isoformat(),
        registration_valid_to=first_to.isoformat(),
        registration_authority="湖北省民政厅",
    )
    evidence = {"verified_on": (first_from + dt.timedelta(days=20)).isoformat(), "evidence": "首次登记时核验，档案号 7"}
    assert (await h.verify(cert["id"], evidence)).status_code == 200
    response = await h.period(cert["id"], kind="renewal", start_date=renewed.isoformat(), authority="湖北省民政厅")
    assert response.status_code == 201, response.text
    after = response.json()
    assert after["registration_valid_from"] == renewed.isoformat()  # the current period at a glance
    kinds = [(p["kind"], p["start_date"], p["end_date"], p["in_force"]) for p in after["periods"]]
    assert kinds == [
        ("registration", first_from.isoformat(), first_to.isoformat(), True),
        (
            "renewal",
            renewed.isoformat(),
            (renewed.replace(year=renewed.year + 3) - dt.timedelta(days=1)).isoformat(),
            True,
        ),
    ]
    # Before the lapse and after the renewal: eligible; the three months between: not.
    for months_back in (8, 7, 2, 1):
        assert (await h.allowance(end_of(month_start(months_back))))["outcome"] is True, months_back
    for months_back in (6, 5, 4):
        gap = await h.allowance(end_of(month_start(months_back)))
        assert gap["outcome"] is False, months_back
        assert f"登记有效期已于 {first_to} 届满" in gap["summary"]
    # The page shows both periods, and the verification with its evidence.
    page = await anonymous.get(f"/practitioners/{h.person}", headers=h.headers)
    assert page.status_code == 200
    assert f"{first_from} 至 {first_to}" in page.text and f"{renewed} 至" in page.text
    assert "再登记" in page.text and "首次登记时核验，档案号 7" in page.text
    # An overlapping renewal is refused; nothing is written.
    before = await session.scalar(select(func.count()).select_from(CertificationPeriod))
    assert_problem(
        await h.period(cert["id"], kind="renewal", start_date=month_start(2).isoformat()),
        422,
        "registration_overlaps",
        "start_date",
    )
    assert await session.scalar(select(func.count()).select_from(CertificationPeriod)) == before


async def test_a_lapse_leads_the_reason_before_a_late_verification(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    h = await holder(anonymous, session, scene)
    first_from = month_start(30)
    lapsed_on = month_start(6) - dt.timedelta(days=1)
    cert = await h.certify(
        exam_year=first_from.year - 1,
        registration_valid_from=first_from.isoformat(),
        registration_valid_to=lapsed_on.isoformat(),
    )
    assert (await h.verify(cert["id"])).status_code == 200  # today: after every month judged
    gap = await h.allowance(end_of(month_start(4)))
    assert gap["outcome"] is False
    assert "届满" in gap["summary"] and "核验通过" not in gap["summary"]
    # Within the period, the late verification is the reason.
    within = await h.allowance(end_of(month_start(8)))
    assert "核验通过，晚于" in within["summary"] and "届满" not in within["summary"]


async def test_suspension_cancellation_and_corrections_keep_what_was_recorded(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    h = await holder(anonymous, session, scene)
    cert = await h.certify(exam_year=2023, registration_valid_from="2024-01-10")
    await h.verify(cert["id"], {"verified_on": "2024-02-01", "evidence": "纸质核验"})
    assert (await h.allowance(dt.date(2025, 6, 30)))["outcome"] is True
    # A suspension needs its reason; with it, the months it covers are not eligible.
    assert_problem(
        await h.period(cert["id"], kind="suspension", start_date="2025-06-01"), 422, "reason_required", "note"
    )
    suspended = await h.period(
        cert["id"], kind="suspension", start_date="2025-06-01", end_date="2025-08-31", note="违规执业，暂停登记"
    )
    assert suspended.status_code == 201, suspended.text
    june = await h.allowance(dt.date(2025, 6, 30))
    assert june["outcome"] is False and "暂停" in june["summary"] and "违规执业" in june["summary"]
    assert (await h.allowance(dt.date(2025, 9, 30)))["outcome"] is True
    # The suspension was in fact lifted at the end of June: corrected by a new row.
    period_id = next(p["id"] for p in suspended.json()["periods"] if p["kind"] == "suspension")
    fixed = await anonymous.post(
        f"/api/certifications/{cert['id']}/periods/{period_id}/corrections",
        json={"end_date": "2025-06-30", "reason": "6 月底已解除暂停"},
        headers=h.headers,
    )
    assert fixed.status_code == 201, fixed.text
    periods = fixed.json()["periods"]
    old = next(p for p in periods if p["id"] == period_id)
    new = next(p for p in periods if p["replaces_id"] == period_id)
    assert old["in_force"] is False and old["end_date"] == "2025-08-31"  # still on record
    assert new["in_force"] is True and new["end_date"] == "2025-06-30" and new["note"] == "6 月底已解除暂停"
    assert (await h.allowance(dt.date(2025, 7, 31)))["outcome"] is True
    assert (await h.allowance(dt.date(2025, 6, 30)))["outcome"] is False
    # A row already corrected is not corrected again.
    assert_problem(
        await anonymous.post(
            f"/api/certifications/{cert['id']}/periods/{period_id}/corrections",
            json={"end_date": "2025-07-31", "reason": "再改"},
            headers=h.headers,
        ),
        409,
        "period_already_corrected",
    )
    # Cancellation (注销): from its day on, for good.
    assert_problem(
        await h.period(cert["id"], kind="cancellation", start_date="2026-01-01", end_date="2026-02-01", note="x"),
        422,
        "cancellation_has_no_end",
        "end_date",
    )
    cancelled = await h.period(cert["id"], kind="cancellation", start_date="2026-01-01", note="本人申请注销")
    assert cancelled.status_code == 201
    jan = await h.allowance(dt.date(2026, 1, 31))
    assert jan["outcome"] is False and "2026-01-01 注销" in jan["summary"]
    assert (await h.allowance(dt.date(2025, 12, 31)))["outcome"] is True
    actions = (
        await session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_type == "certification_period").order_by(AuditEvent.id)
        )
    ).all()
    assert list(actions)[-3:] == ["create", "correct", "create"]
