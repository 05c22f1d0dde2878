"""Professional-level certificates (社会工作者职业水平证书) through the HTTP API: registration,
the three-year registration period, verification and rejection.

Every refused write is checked for its HTTP status, its problem+json body and unchanged rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from stdnum.cn import ric

from registry import clock
from registry.models import Certification, Practitioner
from tests.problems import assert_problem

# --- factories -----------------------------------------------------------------------------------


def make_id_number(birth: str = "19900101", seq: str = "123", region: str = "420102") -> str:
    body = region + birth + seq
    return body + ric.calc_check_digit(body + "0")


async def create_practitioner(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": "王小明",
        "id_number": make_id_number(),
        "education": "bachelor",
        "household_region_code": "420102",
    }
    payload.update(overrides)
    response = await client.post("/api/practitioners", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def certification_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "level": "intermediate",
        "certificate_number": "ZJ-2021-0001",
        "exam_year": 2020,
        "registration_valid_from": "2021-03-15",
    }
    payload.update(overrides)
    return payload


async def post_certification(client: httpx.AsyncClient, practitioner_id: int, **overrides: Any) -> httpx.Response:
    return await client.post(
        f"/api/practitioners/{practitioner_id}/certifications", json=certification_payload(**overrides)
    )


async def create_certification(client: httpx.AsyncClient, practitioner_id: int, **overrides: Any) -> dict[str, Any]:
    response = await post_certification(client, practitioner_id, **overrides)
    assert response.status_code == 201, response.text
    return response.json()


async def get_certification(client: httpx.AsyncClient, certification_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/certifications/{certification_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def count_certifications(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Certification)) or 0)


async def count_practitioners(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Practitioner)) or 0)


# --- registering a certificate -------------------------------------------------------------------


async def test_registration_period_defaults_to_three_years_minus_a_day(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    cert = await create_certification(client, person["id"], registration_valid_from="2021-03-15")
    assert cert["practitioner_id"] == person["id"]
    assert cert["level"] == "intermediate"
    assert cert["certificate_number"] == "ZJ-2021-0001"
    assert cert["exam_year"] == 2020
    assert cert["registration_valid_from"] == "2021-03-15"
    assert cert["registration_valid_to"] == "2024-03-14"
    assert cert["verification_status"] == "pending"
    assert cert["verified_by_id"] is None
    assert cert["verified_at"] is None
    assert cert["rejection_reason"] is None

    other = await create_certification(
        client, person["id"], certificate_number="ZJ-2021-0002", registration_valid_from="2021-01-01"
    )
    assert other["registration_valid_to"] == "2023-12-31"


async def test_certificate_is_read_back_alone_and_on_the_practitioner(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    cert = await create_certification(client, person["id"], certificate_number=" zj-2021-0001 ")
    assert cert["certificate_number"] == "ZJ-2021-0001"

    stored = await get_certification(client, cert["id"])
    assert stored == cert
    detail = (await client.get(f"/api/practitioners/{person['id']}")).json()
    assert [c["id"] for c in detail["certifications"]] == [cert["id"]]
    assert detail["certifications"][0]["registration_valid_to"] == "2024-03-14"


async def test_explicit_registration_end_is_kept(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    cert = await create_certification(
        client, person["id"], registration_valid_from="2021-03-15", registration_valid_to="2022-03-15"
    )
    assert cert["registration_valid_to"] == "2022-03-15"


async def test_certificate_without_registration_has_no_period(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    cert = await create_certification(client, person["id"], registration_valid_from=None, level="assistant")
    assert cert["registration_valid_from"] is None
    assert cert["registration_valid_to"] is None
    assert cert["level"] == "assistant"


@pytest.mark.parametrize("valid_to", ["2021-03-14", "2021-03-15"], ids=["before", "same_day"])
async def test_registration_end_not_after_start_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, valid_to: str
) -> None:
    person = await create_practitioner(client)
    before = await count_certifications(session)
    response = await post_certification(
        client, person["id"], registration_valid_from="2021-03-15", registration_valid_to=valid_to
    )
    body = assert_problem(response, 422, "registration_end_before_start", "registration_valid_to")
    assert "截止日" in body["detail"]
    assert await count_certifications(session) == before


async def test_registration_end_without_start_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    person = await create_practitioner(client)
    before = await count_certifications(session)
    response = await post_certification(
        client, person["id"], registration_valid_from=None, registration_valid_to="2024-03-14"
    )
    assert_problem(response, 422, "registration_start_required", "registration_valid_from")
    assert await count_certifications(session) == before


async def test_registration_before_exam_year_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    person = await create_practitioner(client)
    before = await count_certifications(session)
    response = await post_certification(client, person["id"], exam_year=2020, registration_valid_from="2019-12-31")
    assert_problem(response, 422, "registration_before_exam", "registration_valid_from")
    assert await count_certifications(session) == before


async def test_registration_in_the_future_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    person = await create_practitioner(client)
    before = await count_certifications(session)
    tomorrow = clock.today() + dt.timedelta(days=1)
    response = await post_certification(client, person["id"], registration_valid_from=tomorrow.isoformat())
    assert_problem(response, 422, "registration_future", "registration_valid_from")
    assert await count_certifications(session) == before


async def test_exam_year_in_the_future_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    person = await create_practitioner(client)
    before = await count_certifications(session)
    response = await post_certification(
        client, person["id"], exam_year=clock.today().year + 1, registration_valid_from=None
    )
    assert_problem(response, 422, "exam_year_future", "exam_year")
    assert await count_certifications(session) == before


async def test_badly_formed_certificate_number_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    person = await create_practitioner(client)
    before = await count_certifications(session)
    response = await post_certification(client, person["id"], certificate_number="ZJ_2021/01")
    assert_problem(response, 422, "certificate_number_format", "certificate_number")
    assert await count_certifications(session) == before


@pytest.mark.parametrize(
    "typed",
    ["ZJ-2021-0001", "zj-2021-0001", "  Zj-2021-0001 ", "ZJ-2021 -0001"],
    ids=["same", "lower_case", "blanks_around", "blank_inside"],
)
async def test_duplicate_certificate_number_is_a_conflict(
    client: httpx.AsyncClient, session: AsyncSession, typed: str
) -> None:
    first_holder = await create_practitioner(client)
    second_holder = await create_practitioner(client, name="李红", id_number=make_id_number("19850615", "244"))
    first = await create_certification(client, first_holder["id"], certificate_number="ZJ-2021-0001")
    before = await count_certifications(session)

    for holder in (first_holder, second_holder):
        response = await post_certification(client, holder["id"], certificate_number=typed, level="senior")
        body = assert_problem(response, 409, "certificate_number_duplicate", "certificate_number")
        assert "已登记" in body["detail"]

    assert await count_certifications(session) == before
    numbers = await session.scalar(select(func.count()).where(Certification.certificate_number == "ZJ-2021-0001"))
    assert numbers == 1
    assert (await get_certification(client, first["id"]))["level"] == "intermediate"


async def test_changing_to_another_certificates_number_is_a_conflict(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    await create_certification(client, person["id"], certificate_number="ZJ-2021-0001")
    second = await create_certification(client, person["id"], certificate_number="ZJ-2021-0002")
    response = await client.patch(f"/api/certifications/{second['id']}", json={"certificate_number": "zj-2021-0001"})
    assert_problem(response, 409, "certificate_number_duplicate", "certificate_number")
    assert (await get_certification(client, second["id"]))["certificate_number"] == "ZJ-2021-0002"


async def test_unknown_level_is_a_validation_error(client: httpx.AsyncClient, session: AsyncSession) -> None:
    person = await create_practitioner(client)
    before = await count_certifications(session)
    response = await post_certification(client, person["id"], level="expert")
    body = assert_problem(response, 422, "validation_error", "level")
    assert "不是允许的选项" in body["detail"]
    assert await count_certifications(session) == before


async def test_missing_certificate_number_is_a_validation_error(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    person = await create_practitioner(client)
    before = await count_certifications(session)
    payload = certification_payload()
    del payload["certificate_number"]
    response = await client.post(f"/api/practitioners/{person['id']}/certifications", json=payload)
    body = assert_problem(response, 422, "validation_error", "certificate_number")
    assert "必填" in body["detail"]
    assert await count_certifications(session) == before


async def test_exam_year_before_the_first_exam_is_a_validation_error(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    person = await create_practitioner(client)
    before = await count_certifications(session)
    response = await post_certification(client, person["id"], exam_year=2007, registration_valid_from=None)
    assert_problem(response, 422, "validation_error", "exam_year")
    assert await count_certifications(session) == before


async def test_certificate_for_unknown_practitioner_is_a_404(client: httpx.AsyncClient, session: AsyncSession) -> None:
    before = (await count_certifications(session), await count_practitioners(session))
    response = await post_certification(client, 987654321)
    body = assert_problem(response, 404, "practitioner_not_found")
    assert "987654321" in body["detail"]
    assert (await count_certifications(session), await count_practitioners(session)) == before


async def test_unknown_certificate_is_a_404(client: httpx.AsyncClient) -> None:
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/api/certifications/987654321", None),
        ("PATCH", "/api/certifications/987654321", {"level": "senior"}),
        ("POST", "/api/certifications/987654321/verify", None),
        ("POST", "/api/certifications/987654321/reject", {"reason": "编号不符"}),
    ]
    for method, url, payload in requests:
        response = await client.request(method, url, json=payload)
        body = assert_problem(response, 404, "certification_not_found")
        assert "987654321" in body["detail"]


# --- changing, verifying and rejecting -----------------------------------------------------------


async def test_verify_records_who_and_when(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    cert = await create_certification(client, person["id"])
    response = await client.post(f"/api/certifications/{cert['id']}/verify")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["verification_status"] == "verified"
    assert body["verified_by_name"] == "national-clerk"
    assert body["verified_at"] is not None
    assert body["rejection_reason"] is None
    assert (await get_certification(client, cert["id"]))["verification_status"] == "verified"

    again = await client.post(f"/api/certifications/{cert['id']}/verify")
    assert_problem(again, 409, "certification_already_verified")


async def test_changing_a_verified_number_sends_it_back_to_pending(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    cert = await create_certification(client, person["id"])
    assert (await client.post(f"/api/certifications/{cert['id']}/verify")).status_code == 200

    response = await client.patch(f"/api/certifications/{cert['id']}", json={"certificate_number": "ZJ-2021-0009"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["certificate_number"] == "ZJ-2021-0009"
    assert body["verification_status"] == "pending"
    assert body["verified_by_id"] is None
    assert body["verified_at"] is None
    stored = await get_certification(client, cert["id"])
    assert stored["verification_status"] == "pending"
    assert stored["certificate_number"] == "ZJ-2021-0009"


async def test_retyping_the_same_number_keeps_it_verified(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    cert = await create_certification(client, person["id"])
    verified = (await client.post(f"/api/certifications/{cert['id']}/verify")).json()

    response = await client.patch(
        f"/api/certifications/{cert['id']}", json={"certificate_number": " zj-2021-0001 ", "level": "intermediate"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["certificate_number"] == "ZJ-2021-0001"
    assert body["verification_status"] == "verified"
    assert body["verified_by_name"] == "national-clerk"
    assert body["verified_at"] == verified["verified_at"]


async def test_new_registration_start_rederives_the_end(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    cert = await create_certification(client, person["id"], registration_valid_from="2021-03-15")
    response = await client.patch(f"/api/certifications/{cert['id']}", json={"registration_valid_from": "2022-07-01"})
    assert response.status_code == 200, response.text
    assert response.json()["registration_valid_from"] == "2022-07-01"
    assert response.json()["registration_valid_to"] == "2025-06-30"


async def test_patch_registration_end_before_start_is_refused(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    cert = await create_certification(client, person["id"])
    response = await client.patch(f"/api/certifications/{cert['id']}", json={"registration_valid_to": "2021-03-15"})
    assert_problem(response, 422, "registration_end_before_start", "registration_valid_to")
    assert (await get_certification(client, cert["id"]))["registration_valid_to"] == "2024-03-14"


async def test_patch_clearing_a_required_field_is_refused(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    cert = await create_certification(client, person["id"])
    response = await client.patch(f"/api/certifications/{cert['id']}", json={"level": None})
    assert_problem(response, 422, "required", "level")
    assert (await get_certification(client, cert["id"]))["level"] == "intermediate"


async def test_reject_stores_the_reason(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    cert = await create_certification(client, person["id"])
    response = await client.post(
        f"/api/certifications/{cert['id']}/reject", json={"reason": "  证书编号与发证机关记录不符 "}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["verification_status"] == "rejected"
    assert body["rejection_reason"] == "证书编号与发证机关记录不符"
    assert body["verified_by_name"] == "national-clerk"
    assert body["verified_at"] is not None

    again = await client.post(f"/api/certifications/{cert['id']}/reject", json={"reason": "再次驳回"})
    assert_problem(again, 409, "certification_already_rejected")

    # A later verification clears the reason.
    verified = await client.post(f"/api/certifications/{cert['id']}/verify")
    assert verified.status_code == 200
    assert verified.json()["verification_status"] == "verified"
    assert verified.json()["rejection_reason"] is None


@pytest.mark.parametrize(
    "payload",
    [{}, {"reason": ""}, {"reason": "否"}, {"reason": "   "}, {"reason": " 否 "}],
    ids=["missing", "empty", "one_char", "only_blanks", "one_char_in_blanks"],
)
async def test_reject_requires_a_reason(client: httpx.AsyncClient, payload: dict[str, str]) -> None:
    person = await create_practitioner(client)
    cert = await create_certification(client, person["id"])
    response = await client.post(f"/api/certifications/{cert['id']}/reject", json=payload)
    assert_problem(response, 422, "validation_error", "reason")
    stored = await get_certification(client, cert["id"])
    assert stored["verification_status"] == "pending"
    assert stored["rejection_reason"] is None


async def test_registration_from_29_february_ends_on_28_february(client: httpx.AsyncClient) -> None:
    # The third anniversary of 29 Feb 2024 falls on 1 Mar 2027 (as for ages), so the period
    # ends the day before.
    person = await create_practitioner(client)
    cert = await create_certification(client, person["id"], registration_valid_from="2024-02-29", exam_year=2023)
    assert cert["registration_valid_to"] == "2027-02-28"
