"""Practitioners, their employment spells, and the organizations they work at, through the HTTP API.

Every refused write is checked three ways: the HTTP status, the problem+json body (stable
``code``, a Chinese ``detail`` and the offending ``errors[].field``), and the row counts, which
must not move.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from litestar.plugins.pydantic import PydanticInitPlugin
from litestar.serialization import encode_json, get_serializer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from stdnum.cn import ric

from registry import clock
from registry.models import Certification, Employment, Organization, Practitioner, Region
from registry.practitioners.schemas import PractitionerDetail
from tests.problems import assert_problem

WUHAN_JIANG_AN = "420102"
ZHUZHOU_HETANG = "430202"
VALID_CREDIT_CODE = "91110000600037341L"  # the example in python-stdnum's documentation


# --- factories -----------------------------------------------------------------------------------


def make_id_number(birth: str = "19900101", seq: str = "123", region: str = WUHAN_JIANG_AN) -> str:
    """A valid 18-digit resident ID; the last digit of ``seq`` is odd for men."""
    body = region + birth + seq
    return body + ric.calc_check_digit(body + "0")


def wrong_check_digit(number: str) -> str:
    last = number[-1]
    return number[:-1] + ("1" if last != "1" else "2")


def practitioner_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": "王小明",
        "id_number": make_id_number(),
        "education": "bachelor",
        "social_work_major": True,
        "phone": "13800138000",
        # The jurisdiction of a record with no employment yet; without it no clerk could see it.
        "household_region_code": WUHAN_JIANG_AN,
    }
    payload.update(overrides)
    return payload


async def create_practitioner(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/practitioners", json=practitioner_payload(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


async def create_organization(
    client: httpx.AsyncClient,
    name: str = "江岸区阳光社会工作服务中心",
    region_code: str = WUHAN_JIANG_AN,
    org_type: str = "service_org",
    **extra: Any,
) -> dict[str, Any]:
    response = await client.post(
        "/api/organizations", json={"name": name, "org_type": org_type, "region_code": region_code, **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def add_employment(
    client: httpx.AsyncClient, practitioner_id: int, organization_id: int, **overrides: Any
) -> httpx.Response:
    payload: dict[str, Any] = {
        "organization_id": organization_id,
        "post_type": "service_org_staff",
        "in_post_from": "2020-01-01",
    }
    payload.update(overrides)
    return await client.post(f"/api/practitioners/{practitioner_id}/employments", json=payload)


async def revealed(client: httpx.AsyncClient, practitioner_id: int) -> dict[str, Any]:
    response = await client.post(
        f"/api/practitioners/{practitioner_id}/reveal", json={"fields": ["id_number", "phone"], "reason": "测试核对"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return {"id_number": body["id_number"], "phone": body["phone"]}


async def count(session: AsyncSession, model: type[Any]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def counts(session: AsyncSession) -> dict[str, int]:
    return {
        model.__name__: await count(session, model) for model in (Practitioner, Employment, Certification, Organization)
    }


# --- creating practitioners ----------------------------------------------------------------------


async def test_create_practitioner_derives_birth_date_and_sex(client: httpx.AsyncClient) -> None:
    number = make_id_number(birth="19900101", seq="123")
    response = await client.post(
        "/api/practitioners", json=practitioner_payload(name=" 王 小明 ", id_number=number.lower())
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "王小明"
    # Read back masked; the full values only through an explicit (audited) reveal.
    assert body["id_number_masked"] == number[:4] + "*" * 10 + number[-4:]
    assert "id_number" not in body
    assert "phone" not in body
    assert (await revealed(client, body["id"])) == {"id_number": number, "phone": "13800138000"}
    assert body["birth_date"] == "1990-01-01"
    assert body["sex"] == "M"
    assert body["education"] == "bachelor"
    assert body["social_work_major"] is True
    assert body["phone_masked"] == "138****8000"
    assert body["organization_id"] is None
    # Not yet employed anywhere: the household region is the jurisdiction.
    assert body["region_code"] == WUHAN_JIANG_AN
    assert body["employments"] == []
    assert body["certifications"] == []


async def test_create_practitioner_even_17th_digit_is_female(client: httpx.AsyncClient) -> None:
    body = await create_practitioner(
        client, name="李红", id_number=make_id_number(birth="19850615", seq="244", region=ZHUZHOU_HETANG)
    )
    assert body["sex"] == "F"
    assert body["birth_date"] == "1985-06-15"


async def test_create_practitioner_accepts_matching_birth_date_and_sex(client: httpx.AsyncClient) -> None:
    body = await create_practitioner(
        client, birth_date="1990-01-01", sex="M", household_region_code=ZHUZHOU_HETANG, phone="027-85551234"
    )
    assert body["birth_date"] == "1990-01-01"
    assert body["sex"] == "M"
    assert body["household_region_code"] == ZHUZHOU_HETANG
    assert (await revealed(client, body["id"]))["phone"] == "027-85551234"


async def test_wrong_id_check_digit_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    before = await counts(session)
    response = await client.post(
        "/api/practitioners", json=practitioner_payload(id_number=wrong_check_digit(make_id_number()))
    )
    body = assert_problem(response, 422, "id_number_check_digit", "id_number")
    assert "校验位" in body["detail"]
    assert await counts(session) == before


async def test_id_number_of_wrong_length_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    before = await counts(session)
    response = await client.post("/api/practitioners", json=practitioner_payload(id_number="42010219900101123"))
    assert_problem(response, 422, "id_number_format", "id_number")
    assert await counts(session) == before


async def test_birth_date_not_matching_id_number_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    before = await counts(session)
    response = await client.post("/api/practitioners", json=practitioner_payload(birth_date="1990-01-02"))
    body = assert_problem(response, 422, "birth_date_mismatch", "birth_date")
    assert "1990-01-02" in body["detail"]
    assert "1990-01-01" in body["detail"]
    assert await counts(session) == before


async def test_sex_not_matching_id_number_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    before = await counts(session)
    response = await client.post("/api/practitioners", json=practitioner_payload(sex="F"))
    body = assert_problem(response, 422, "sex_mismatch", "sex")
    assert "性别" in body["detail"]
    assert await counts(session) == before


async def test_birth_date_and_sex_mismatch_are_reported_together(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    before = await counts(session)
    response = await client.post("/api/practitioners", json=practitioner_payload(birth_date="1991-05-05", sex="F"))
    body = assert_problem(response, 422, "birth_date_mismatch", "birth_date")
    assert [e["code"] for e in body["errors"]] == ["birth_date_mismatch", "sex_mismatch"]
    assert "另有 1 处错误" in body["detail"]
    assert await counts(session) == before


async def test_unknown_household_region_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    before = await counts(session)
    response = await client.post("/api/practitioners", json=practitioner_payload(household_region_code="429999"))
    body = assert_problem(response, 422, "region_unknown", "household_region_code")
    assert "429999" in body["detail"]
    assert await counts(session) == before


async def test_duplicate_id_number_is_a_conflict(client: httpx.AsyncClient, session: AsyncSession) -> None:
    number = make_id_number(birth="19880808", seq="102")
    assert number.endswith("X")
    first = await create_practitioner(client, name="李红", id_number=number)
    before = await counts(session)

    # The same number typed again with a lower-case x and surrounding blanks, for another name.
    typed = f"  {number[:-1]}x "
    response = await client.post("/api/practitioners", json=practitioner_payload(name="李虹", id_number=typed))
    body = assert_problem(response, 409, "id_number_duplicate", "id_number")
    assert "已登记" in body["detail"]

    assert await counts(session) == before
    assert await session.scalar(select(func.count()).where(Practitioner.id_number == number)) == 1
    again = await client.get(f"/api/practitioners/{first['id']}")
    assert again.status_code == 200
    assert again.json()["name"] == "李红"
    assert (await revealed(client, first["id"]))["id_number"] == number


async def test_invalid_name_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    before = await counts(session)
    response = await client.post("/api/practitioners", json=practitioner_payload(name="王小明123"))
    assert_problem(response, 422, "name_invalid", "name")
    assert await counts(session) == before


async def test_invalid_phone_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    before = await counts(session)
    response = await client.post("/api/practitioners", json=practitioner_payload(phone="12345"))
    assert_problem(response, 422, "phone_invalid", "phone")
    assert await counts(session) == before


async def test_missing_required_field_is_a_validation_error(client: httpx.AsyncClient, session: AsyncSession) -> None:
    before = await counts(session)
    payload = practitioner_payload()
    del payload["id_number"]
    response = await client.post("/api/practitioners", json=payload)
    body = assert_problem(response, 422, "validation_error", "id_number")
    assert "必填" in body["detail"]
    assert await counts(session) == before


async def test_bad_enum_value_is_a_validation_error(client: httpx.AsyncClient, session: AsyncSession) -> None:
    before = await counts(session)
    response = await client.post("/api/practitioners", json=practitioner_payload(education="phd"))
    body = assert_problem(response, 422, "validation_error", "education")
    assert "不是允许的选项" in body["detail"]
    assert await counts(session) == before


# --- reading and changing a practitioner ---------------------------------------------------------


async def test_unknown_practitioner_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/practitioners/987654321")
    body = assert_problem(response, 404, "practitioner_not_found")
    assert "987654321" in body["detail"]


async def test_patch_unknown_practitioner_is_a_404_problem(client: httpx.AsyncClient, session: AsyncSession) -> None:
    before = await counts(session)
    response = await client.patch("/api/practitioners/987654321", json={"name": "张三"})
    assert_problem(response, 404, "practitioner_not_found")
    assert await counts(session) == before


async def test_read_back_includes_employments_and_certifications(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    org = await create_organization(client)
    spell = await add_employment(client, person["id"], org["id"])
    assert spell.status_code == 201, spell.text
    cert = await client.post(
        f"/api/practitioners/{person['id']}/certifications",
        json={"level": "intermediate", "certificate_number": "ZJ2020-0001", "exam_year": 2020},
    )
    assert cert.status_code == 201, cert.text

    response = await client.get(f"/api/practitioners/{person['id']}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == person["id"]
    assert body["name"] == "王小明"
    assert body["birth_date"] == "1990-01-01"
    assert body["organization_id"] == org["id"]
    assert body["organization_name"] == "江岸区阳光社会工作服务中心"
    assert body["region_code"] == WUHAN_JIANG_AN
    assert body["region_name"] == "湖北省武汉市江岸区"
    [employment] = body["employments"]
    assert employment["id"] == spell.json()["id"]
    assert employment["organization_id"] == org["id"]
    assert employment["organization_name"] == "江岸区阳光社会工作服务中心"
    assert employment["post_type"] == "service_org_staff"
    assert employment["in_post_from"] == "2020-01-01"
    assert employment["in_post_to"] is None
    assert employment["in_post_today"] is True
    [certification] = body["certifications"]
    assert certification["id"] == cert.json()["id"]
    assert certification["certificate_number"] == "ZJ2020-0001"
    assert certification["level"] == "intermediate"
    assert certification["verification_status"] == "pending"
    # The record is written by pydantic-core straight to bytes (registry/schemas.py, json_response):
    # byte for byte what Litestar's own encoding of the same model gives, and the body's type.
    assert response.headers["content-type"] == "application/json"
    encoders = PydanticInitPlugin.encoders()
    assert response.content == encode_json(PractitionerDetail.model_validate(body), serializer=get_serializer(encoders))
    assert response.headers["etag"]


async def test_patch_practitioner_changes_only_what_was_sent(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    response = await client.patch(
        f"/api/practitioners/{person['id']}",
        json={"name": "王晓明", "phone": "13912345678", "education": "master", "household_region_code": "430202"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "王晓明"
    assert (await revealed(client, person["id"]))["phone"] == "13912345678"
    assert body["education"] == "master"
    assert body["household_region_code"] == ZHUZHOU_HETANG
    # Untouched fields stay as they were.
    assert body["id_number_masked"] == person["id_number_masked"]
    assert body["birth_date"] == "1990-01-01"
    assert body["sex"] == "M"
    assert body["social_work_major"] is True

    stored = (await client.get(f"/api/practitioners/{person['id']}")).json()
    assert stored["name"] == "王晓明"
    assert stored["education"] == "master"
    # The search tokens follow the new name.
    found = (await client.get("/api/practitioners", params={"name": "晓明"})).json()
    assert person["id"] in [item["id"] for item in found["items"]]
    gone = (await client.get("/api/practitioners", params={"name": "王小明"})).json()
    assert person["id"] not in [item["id"] for item in gone["items"]]


async def test_patch_id_number_rederives_birth_date_and_sex(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    new_number = make_id_number(birth="19920229", seq="246")
    response = await client.patch(f"/api/practitioners/{person['id']}", json={"id_number": new_number})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (await revealed(client, person["id"]))["id_number"] == new_number
    assert body["birth_date"] == "1992-02-29"
    assert body["sex"] == "F"


async def test_patch_sex_against_stored_id_number_is_refused(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    response = await client.patch(f"/api/practitioners/{person['id']}", json={"sex": "F", "name": "王小红"})
    assert_problem(response, 422, "sex_mismatch", "sex")
    stored = (await client.get(f"/api/practitioners/{person['id']}")).json()
    assert stored["sex"] == "M"
    assert stored["name"] == "王小明"


async def test_patch_to_another_persons_id_number_is_a_conflict(client: httpx.AsyncClient) -> None:
    first = await create_practitioner(client)
    second = await create_practitioner(client, name="李红", id_number=make_id_number(birth="19850615", seq="244"))
    first_number = (await revealed(client, first["id"]))["id_number"]
    second_number = (await revealed(client, second["id"]))["id_number"]
    response = await client.patch(f"/api/practitioners/{second['id']}", json={"id_number": first_number})
    assert_problem(response, 409, "id_number_duplicate", "id_number")
    stored = (await client.get(f"/api/practitioners/{second['id']}")).json()
    assert (await revealed(client, second["id"]))["id_number"] == second_number
    assert stored["birth_date"] == "1985-06-15"


async def test_patch_unknown_household_region_is_refused(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client, household_region_code=WUHAN_JIANG_AN)
    response = await client.patch(f"/api/practitioners/{person['id']}", json={"household_region_code": "000000"})
    assert_problem(response, 422, "region_unknown", "household_region_code")
    stored = (await client.get(f"/api/practitioners/{person['id']}")).json()
    assert stored["household_region_code"] == WUHAN_JIANG_AN


async def test_failed_request_is_rolled_back_before_the_response(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    person = await create_practitioner(client)
    response = await client.patch(f"/api/practitioners/{person['id']}", json={"sex": "F"})
    assert response.status_code == 422
    # The request's savepoint is gone once the response is out, not later when a generator is collected.
    assert connection.sync_connection.get_nested_transaction() is None
    again = await client.get(f"/api/practitioners/{person['id']}")
    assert again.status_code == 200, again.text
    assert again.json()["sex"] == "M"


# --- organizations -------------------------------------------------------------------------------


async def test_create_organization_with_credit_code(client: httpx.AsyncClient) -> None:
    org = await create_organization(client, credit_code=" 9111 0000 6000 3734 1l ")
    assert org["credit_code"] == VALID_CREDIT_CODE
    assert org["region_code"] == WUHAN_JIANG_AN
    assert org["org_type"] == "service_org"


async def test_organization_in_unknown_region_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    before = await counts(session)
    response = await client.post(
        "/api/organizations", json={"name": "某某社区居委会", "org_type": "community", "region_code": "429999"}
    )
    body = assert_problem(response, 422, "region_unknown", "region_code")
    assert "429999" in body["detail"]
    assert await counts(session) == before


async def test_organization_in_abolished_region_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    abolished = await session.scalar(
        select(Region.code).where(Region.active.is_(False), Region.level == 3).order_by(Region.code).limit(1)
    )
    assert abolished is not None
    before = await counts(session)
    response = await client.post(
        "/api/organizations", json={"name": "某某社区居委会", "org_type": "community", "region_code": abolished}
    )
    assert_problem(response, 422, "region_inactive", "region_code")
    assert await counts(session) == before


async def test_organization_with_invalid_credit_code_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    before = await counts(session)
    response = await client.post(
        "/api/organizations",
        json={
            "name": "江岸区阳光社会工作服务中心",
            "org_type": "service_org",
            "region_code": WUHAN_JIANG_AN,
            "credit_code": VALID_CREDIT_CODE[:-1] + "M",
        },
    )
    body = assert_problem(response, 422, "credit_code_invalid", "credit_code")
    assert "统一社会信用代码" in body["detail"]
    assert await counts(session) == before


async def test_organization_with_bad_org_type_is_a_validation_error(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    before = await counts(session)
    response = await client.post(
        "/api/organizations", json={"name": "某某公司", "org_type": "company", "region_code": WUHAN_JIANG_AN}
    )
    assert_problem(response, 422, "validation_error", "org_type")
    assert await counts(session) == before


async def test_duplicate_credit_code_is_a_conflict(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await create_organization(client, credit_code=VALID_CREDIT_CODE)
    before = await counts(session)
    response = await client.post(
        "/api/organizations",
        json={
            "name": "另一家机构",
            "org_type": "service_org",
            "region_code": ZHUZHOU_HETANG,
            "credit_code": VALID_CREDIT_CODE.lower(),
        },
    )
    assert_problem(response, 409, "credit_code_duplicate", "credit_code")
    assert await counts(session) == before


# --- employment spells and jurisdiction ----------------------------------------------------------


async def test_employment_sets_organization_and_region(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    org = await create_organization(client)
    response = await add_employment(client, person["id"], org["id"])
    assert response.status_code == 201, response.text
    spell = response.json()
    assert spell["practitioner_id"] == person["id"]
    assert spell["organization_id"] == org["id"]
    assert spell["organization_name"] == org["name"]
    assert spell["in_post_today"] is True

    stored = (await client.get(f"/api/practitioners/{person['id']}")).json()
    assert stored["organization_id"] == org["id"]
    assert stored["region_code"] == WUHAN_JIANG_AN


async def test_closing_a_spell_and_starting_another_moves_the_region(client: httpx.AsyncClient) -> None:
    today = clock.today()
    person = await create_practitioner(client)
    wuhan = await create_organization(client)
    zhuzhou = await create_organization(client, name="荷塘区社会工作服务站", region_code=ZHUZHOU_HETANG)
    old = (await add_employment(client, person["id"], wuhan["id"], in_post_from="2018-03-01")).json()

    closed = await client.patch(
        f"/api/employments/{old['id']}", json={"in_post_to": (today - dt.timedelta(days=10)).isoformat()}
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["in_post_today"] is False
    # With only a past spell the practitioner still belongs to its employer.
    stored = (await client.get(f"/api/practitioners/{person['id']}")).json()
    assert stored["organization_id"] == wuhan["id"]
    assert stored["region_code"] == WUHAN_JIANG_AN

    new = await add_employment(
        client,
        person["id"],
        zhuzhou["id"],
        post_type="station_social_worker",
        duty_level="county",
        in_post_from=(today - dt.timedelta(days=9)).isoformat(),
    )
    assert new.status_code == 201, new.text
    assert new.json()["in_post_today"] is True

    stored = (await client.get(f"/api/practitioners/{person['id']}")).json()
    assert stored["organization_id"] == zhuzhou["id"]
    assert stored["organization_name"] == "荷塘区社会工作服务站"
    assert stored["region_code"] == ZHUZHOU_HETANG
    assert stored["region_name"] == "湖南省株洲市荷塘区"
    assert [e["organization_id"] for e in stored["employments"]] == [zhuzhou["id"], wuhan["id"]]


async def test_a_spell_not_yet_begun_does_not_move_the_practitioner(client: httpx.AsyncClient) -> None:
    today = clock.today()
    person = await create_practitioner(client)
    wuhan = await create_organization(client)
    zhuzhou = await create_organization(client, name="荷塘区社会工作服务站", region_code=ZHUZHOU_HETANG)
    current = await add_employment(
        client,
        person["id"],
        wuhan["id"],
        in_post_from="2020-01-01",
        in_post_to=(today + dt.timedelta(days=30)).isoformat(),
    )
    assert current.status_code == 201, current.text
    upcoming = await add_employment(
        client, person["id"], zhuzhou["id"], in_post_from=(today + dt.timedelta(days=31)).isoformat()
    )
    assert upcoming.status_code == 201, upcoming.text
    assert upcoming.json()["in_post_today"] is False

    stored = (await client.get(f"/api/practitioners/{person['id']}")).json()
    assert stored["organization_id"] == wuhan["id"]
    assert stored["region_code"] == WUHAN_JIANG_AN


async def test_moving_a_spell_to_another_organization_moves_the_region(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    wuhan = await create_organization(client)
    zhuzhou = await create_organization(client, name="荷塘区社会工作服务站", region_code=ZHUZHOU_HETANG)
    spell = (await add_employment(client, person["id"], wuhan["id"])).json()

    response = await client.patch(f"/api/employments/{spell['id']}", json={"organization_id": zhuzhou["id"]})
    assert response.status_code == 200, response.text
    assert response.json()["organization_name"] == "荷塘区社会工作服务站"
    assert response.json()["in_post_from"] == "2020-01-01"

    stored = (await client.get(f"/api/practitioners/{person['id']}")).json()
    assert stored["organization_id"] == zhuzhou["id"]
    assert stored["region_code"] == ZHUZHOU_HETANG


async def test_overlapping_employment_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    person = await create_practitioner(client)
    wuhan = await create_organization(client)
    zhuzhou = await create_organization(client, name="荷塘区社会工作服务站", region_code=ZHUZHOU_HETANG)
    assert (await add_employment(client, person["id"], wuhan["id"], in_post_from="2020-01-01")).status_code == 201
    before = await counts(session)

    response = await add_employment(client, person["id"], zhuzhou["id"], in_post_from="2022-06-01")
    body = assert_problem(response, 409, "employment_overlap", "in_post_from")
    assert "2020-01-01" in body["detail"]
    assert "至今" in body["detail"]

    assert await counts(session) == before
    stored = (await client.get(f"/api/practitioners/{person['id']}")).json()
    assert stored["organization_id"] == wuhan["id"]
    assert stored["region_code"] == WUHAN_JIANG_AN


async def test_overlap_with_a_closed_spell_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    person = await create_practitioner(client)
    org = await create_organization(client)
    first = await add_employment(client, person["id"], org["id"], in_post_from="2015-01-01", in_post_to="2018-12-31")
    assert first.status_code == 201
    before = await counts(session)
    # Ends on the day the earlier spell ended: the two share a day.
    response = await add_employment(client, person["id"], org["id"], in_post_from="2012-01-01", in_post_to="2015-01-01")
    assert_problem(response, 409, "employment_overlap", "in_post_from")
    assert await counts(session) == before
    # The next day is free.
    after = await add_employment(client, person["id"], org["id"], in_post_from="2019-01-01")
    assert after.status_code == 201, after.text


async def test_employment_ending_before_it_starts_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    person = await create_practitioner(client)
    org = await create_organization(client)
    before = await counts(session)
    response = await add_employment(client, person["id"], org["id"], in_post_from="2021-05-01", in_post_to="2021-04-30")
    assert_problem(response, 422, "dates_out_of_order", "in_post_to")
    assert await counts(session) == before
    stored = (await client.get(f"/api/practitioners/{person['id']}")).json()
    assert stored["organization_id"] is None
    assert stored["region_code"] == WUHAN_JIANG_AN


async def test_closing_a_spell_before_it_started_is_refused(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    org = await create_organization(client)
    spell = (await add_employment(client, person["id"], org["id"], in_post_from="2021-05-01")).json()
    response = await client.patch(f"/api/employments/{spell['id']}", json={"in_post_to": "2021-04-01"})
    assert_problem(response, 422, "dates_out_of_order", "in_post_to")
    stored = (await client.get(f"/api/employments/{spell['id']}")).json()
    assert stored["in_post_to"] is None


async def test_station_social_worker_needs_a_duty_level(client: httpx.AsyncClient, session: AsyncSession) -> None:
    person = await create_practitioner(client)
    org = await create_organization(client, org_type="grassroots_station")
    before = await counts(session)
    response = await add_employment(client, person["id"], org["id"], post_type="station_social_worker")
    assert_problem(response, 422, "duty_level_required", "duty_level")
    assert await counts(session) == before


async def test_employment_at_unknown_organization_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    person = await create_practitioner(client)
    before = await counts(session)
    response = await add_employment(client, person["id"], 987654321)
    assert_problem(response, 422, "organization_unknown", "organization_id")
    assert await counts(session) == before


async def test_employment_with_bad_post_type_is_a_validation_error(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    person = await create_practitioner(client)
    org = await create_organization(client)
    before = await counts(session)
    response = await add_employment(client, person["id"], org["id"], post_type="volunteer")
    assert_problem(response, 422, "validation_error", "post_type")
    assert await counts(session) == before


async def test_employment_for_unknown_practitioner_is_a_404(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_organization(client)
    before = await counts(session)
    response = await add_employment(client, 987654321, org["id"])
    assert_problem(response, 404, "practitioner_not_found")
    assert await counts(session) == before


async def test_employment_before_age_16_is_refused(client: httpx.AsyncClient, session: AsyncSession) -> None:
    person = await create_practitioner(client)  # born 1990-01-01
    org = await create_organization(client)
    before = await counts(session)
    response = await add_employment(client, person["id"], org["id"], in_post_from="2005-06-01")
    assert_problem(response, 422, "date_before_working_age", "in_post_from")
    assert await counts(session) == before


async def test_employment_days_before_16th_birthday_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    person = await create_practitioner(client)  # born 1990-01-01, 16 on 2006-01-01
    org = await create_organization(client)
    before = await counts(session)
    response = await add_employment(client, person["id"], org["id"], in_post_from="2005-12-30")
    assert_problem(response, 422, "date_before_working_age", "in_post_from")
    assert await counts(session) == before


async def test_employment_on_16th_birthday_is_accepted(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)  # born 1990-01-01
    org = await create_organization(client)
    response = await add_employment(client, person["id"], org["id"], in_post_from="2006-01-01")
    assert response.status_code == 201, response.text


async def test_null_phone_clears_it(client: httpx.AsyncClient) -> None:
    person = await create_practitioner(client)
    response = await client.patch(f"/api/practitioners/{person['id']}", json={"phone": None})
    assert response.status_code == 200, response.text
    assert response.json()["phone_masked"] is None
    assert (await revealed(client, person["id"]))["phone"] is None


async def test_malformed_json_is_a_chinese_validation_error(client: httpx.AsyncClient, session: AsyncSession) -> None:
    before = await counts(session)
    for raw in (b"{bad json", b'{"name": "\xe7\x8e\x8b"', b"[1,2"):
        response = await client.post("/api/practitioners", content=raw, headers={"content-type": "application/json"})
        body = assert_problem(response, 422, "validation_error", "body")
        assert "JSON" in body["detail"]
    assert await counts(session) == before
