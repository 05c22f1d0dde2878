"""Malformed input, sent to every route that takes it, read off the OpenAPI document: a NUL in
every text, numbers past ``bigint`` in every integer, dates at the calendar's edges and a
datetime where a date belongs, JSON nested thousands deep. Each answer is a 4xx problem+json in
Chinese; never a 500. The pages (not in the document) and the login form likewise.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from registry.app import create_app
from registry.config import Settings
from tests.accounts import bearer, make_token, make_user

HUGE = 2**63  # one past bigint
CJK = re.compile(r"[\u4e00-\u9fff]")
NUL = "a\x00b"
BAD_DATES = ("0001-01-01", "9999-12-31", "2024-01-01T00:00:00")


@dataclass
class Probe:
    method: str
    path: str
    query: dict[str, str] | None = None
    body: bytes | None = None
    what: str = ""


def _document() -> dict[str, Any]:
    app = create_app(Settings(), database_url="postgresql+asyncpg://unused@127.0.0.1:1/unused")
    return app.openapi_schema.to_schema()


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
    return schema


def _types(document: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """'string', 'integer', 'date' … of a schema, through refs and oneOf/anyOf (optional values)."""
    schema = _resolve(document, schema)
    found: set[str] = set()
    for option in schema.get("oneOf", []) + schema.get("anyOf", []):
        found |= _types(document, option)
    kind = schema.get("type")
    if kind == "string":
        found.add("date" if schema.get("format") == "date" else "string")
    elif kind == "integer":
        found.add("integer")
    return found


def _fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "1"), path)


def probes(document: dict[str, Any]) -> Iterator[Probe]:
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            method = method.upper()
            params = op.get("parameters", [])
            for p in params:
                kinds = _types(document, p.get("schema", {}))
                name = p["name"]
                if p["in"] == "path":
                    if "integer" in kinds:
                        yield Probe(method, _fill(path, {name: str(HUGE)}), what=f"path {name} huge")
                    if "string" in kinds:
                        yield Probe(method, _fill(path, {name: quote(NUL)}), what=f"path {name} NUL")
                elif p["in"] == "query":
                    if "string" in kinds or "date" in kinds:
                        yield Probe(method, _fill(path, {}), {name: NUL}, what=f"query {name} NUL")
                    if "integer" in kinds:
                        yield Probe(method, _fill(path, {}), {name: str(HUGE)}, what=f"query {name} huge")
                        # str.isdigit takes "²", int does not (a 500 Schemathesis found).
                        yield Probe(method, _fill(path, {}), {name: "²"}, what=f"query {name} superscript")
                    if name == "cursor" and "string" in kinds:
                        yield Probe(method, _fill(path, {}), {name: "1²"}, what=f"query {name} superscript")
                    if "date" in kinds:
                        for bad in BAD_DATES:
                            yield Probe(method, _fill(path, {}), {name: bad}, what=f"query {name} {bad}")
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            target = _fill(path, {})
            yield Probe(method, target, body=b"[" * 5000 + b"]" * 5000, what="deep JSON")
            yield Probe(method, target, body=json.dumps({"x": {"y": NUL}}).encode(), what="NUL in body")
            yield Probe(method, target, body=json.dumps({"x": [HUGE]}).encode(), what="huge int in body")
            schema = _resolve(document, content["application/json"].get("schema", {}))
            for field, sub in schema.get("properties", {}).items():
                kinds = _types(document, sub)
                if "date" in kinds:
                    for bad in BAD_DATES:
                        yield Probe(method, target, body=json.dumps({field: bad}).encode(), what=f"body {field} {bad}")
                if "string" in kinds:
                    yield Probe(method, target, body=json.dumps({field: NUL}).encode(), what=f"body {field} NUL")
                if "integer" in kinds:
                    yield Probe(method, target, body=json.dumps({field: HUGE}).encode(), what=f"body {field} huge")


def assert_refused_in_chinese(response: httpx.Response, what: str) -> None:
    where = f"{response.request.method} {response.request.url} [{what}]"
    assert 400 <= response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/problem+json"), where
    problem = response.json()
    assert CJK.search(problem["detail"]), f"{where}: {problem}"
    assert problem["code"], where


@pytest.fixture
async def admin(anonymous: httpx.AsyncClient, session: AsyncSession) -> httpx.AsyncClient:
    user = await make_user(session, "bounds-admin", {"role": "admin"})
    token = await make_token(session, user)
    await session.commit()
    anonymous.headers.update(bearer(token))
    return anonymous


async def test_every_route_refuses_malformed_input_in_chinese(admin: httpx.AsyncClient) -> None:
    document = _document()
    sent = 0
    kinds: set[str] = set()
    for probe in probes(document):
        headers = {"content-type": "application/json"} if probe.body is not None else {}
        response = await admin.request(
            probe.method, probe.path, params=probe.query, content=probe.body, headers=headers
        )
        assert_refused_in_chinese(response, probe.what)
        if "body " in probe.what and response.status_code == 422 and "NUL" not in probe.what:
            # The field named is among the refusals (other missing fields may be too).
            problem = response.json()
            field = probe.what.split()[1]
            assert any(e["field"].split(".")[-1] == field for e in problem.get("errors", [])), (probe, problem)
        sent += 1
        kinds.add(probe.what.split()[0])
    assert sent > 300, sent  # the document has ~90 operations
    assert {"path", "query", "body", "deep", "NUL", "huge"} <= kinds


async def test_nul_and_edge_dates_on_pages_and_the_login(anonymous: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session, "bounds-clerk", {"role": "civil_affairs", "region_code": "420102"})
    token = await make_token(session, user)
    await session.commit()
    staff = bearer(token)
    for path in ("/practitioners?name=%00", "/dashboard?region=4%0001", "/practitioners/9223372036854775808"):
        page = await anonymous.get(path, headers=staff)
        assert 400 <= page.status_code < 500, (path, page.status_code)
        assert page.headers["content-type"].startswith("text/html"), path
        assert CJK.search(page.text)
    api = await anonymous.post("/api/login", json={"username": "a\x00", "password": "x"})
    assert_refused_in_chinese(api, "login NUL")
    assert api.json()["errors"][0]["code"] == "control_character"
    form = await anonymous.post("/login", data={"username": "a\x00", "password": "x", "_csrf": "t"})
    assert form.status_code == 422 and "控制字符" in form.text
    assert form.headers["content-type"].startswith("text/html")


async def test_a_datetime_is_not_a_date_and_dates_stay_in_the_window(client: httpx.AsyncClient) -> None:
    for bad, code in (("2024-01-01T00:00:00", "date_invalid"), ("0001-01-01", "date_out_of_range")):
        answer = await client.get("/api/policies", params={"as_of": bad})
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["code"] == code
    fine = await client.get("/api/policies", params={"as_of": "2026-01-01"})
    assert fine.status_code == 200
    payroll = await client.post("/api/payroll-runs", json={"region_code": "420102", "month": "0001-01"})
    assert payroll.status_code in (403, 422), payroll.text  # refused, never stored as -infinity


async def test_unicode_digits_are_not_numbers(admin: httpx.AsyncClient) -> None:
    """``str.isdigit`` is true of "²" and "③", which ``int`` refuses: every place that checks
    digits before ``int`` now takes ASCII 0-9 only (``registry.bounds.digits``)."""
    from registry import bounds
    from registry.identity import parse_id_number

    assert bounds.digits("0123456789") and not bounds.digits("²") and not bounds.digits("") and not bounds.digits("٣")
    for params in ({"cursor": "²"}, {"cursor": "1²"}, {"limit": "²"}):
        response = await admin.get("/api/practitioners", params=params)
        assert_refused_in_chinese(response, f"search {params}")
    response = await admin.get("/api/organizations", params={"cursor": "²"})
    assert_refused_in_chinese(response, "organizations cursor ²")
    assert getattr(parse_id_number("42010219900101²²²X"), "code", None) == "id_number_format"
