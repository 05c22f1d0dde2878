"""Assertions shared by the API tests."""

from __future__ import annotations

import re
from typing import Any

import httpx

CJK = re.compile(r"[\u4e00-\u9fff]")


def assert_problem(response: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem with the stable code, a Chinese detail and (optionally) the field at fault."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"/problems/{code}"
    assert CJK.search(body["detail"]), body["detail"]
    if field is not None:
        fields = [e["field"] for e in body["errors"]]
        assert field in fields, body
        first = next(e for e in body["errors"] if e["field"] == field)
        assert CJK.search(first["message"]), first
    return body
