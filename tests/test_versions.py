"""Lost updates: records carry an ETag, writes honour If-Match (412 in Chinese when stale), the
edit page carries the version so that a stale form says so, and an unchanged PATCH writes
nothing (no audit row, the same version)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.models import AuditEvent
from tests.accounts import PASSWORD
from tests.problems import assert_problem
from tests.scene import Scene, build_scene


@pytest.fixture
async def scene(session: AsyncSession) -> Scene:
    return await build_scene(session)


def _records(side: object) -> list[tuple[str, str, list[object]]]:
    """(path, field, two values) for each editable record: a change is whichever differs."""
    s: Any = side
    return [
        (f"/api/practitioners/{s.p}", "phone", ["13812345678", "13987654321"]),
        (f"/api/organizations/{s.o}", "name", ["改名后的社工服务中心", "再改名的社工服务中心"]),
        (f"/api/certifications/{s.c}", "exam_year", [2019, 2020]),
        (f"/api/employments/{s.e}", "duty_level", ["county", "city"]),
    ]


async def test_a_stale_if_match_is_refused_with_412_and_nothing_is_written(
    anonymous: httpx.AsyncClient, scene: Scene
) -> None:
    clerk = scene.headers("clerk")
    for path, field, candidates in _records(scene.a):
        read = write = path
        first = await anonymous.get(read, headers=clerk)
        assert first.status_code == 200, (read, first.text)
        tag = first.headers["etag"]
        change = {field: next(v for v in candidates if v != first.json().get(field))}
        # Someone else saves first.
        saved = await anonymous.patch(write, json=change, headers={**clerk, "If-Match": tag})
        assert saved.status_code == 200, (write, saved.text)
        assert saved.headers["etag"] != tag
        # The first reader's save, made on what they read, is refused.
        stale = await anonymous.patch(write, json=change, headers={**clerk, "If-Match": tag})
        body = assert_problem(stale, 412, "version_stale")
        assert "已被他人修改" in body["detail"]
        again = await anonymous.get(read, headers=clerk)
        assert again.headers["etag"] == saved.headers["etag"]  # nothing written by the refused one
        # A write with the current version passes; '*' and no header are unconditional.
        assert (await anonymous.patch(write, json=change, headers={**clerk, "If-Match": "*"})).status_code == 200


async def test_an_unchanged_patch_writes_no_audit_row(
    anonymous: httpx.AsyncClient, session: AsyncSession, scene: Scene
) -> None:
    clerk = scene.headers("clerk")
    first = await anonymous.patch(f"/api/practitioners/{scene.a.p}", json={"phone": "13900139000"}, headers=clerk)
    assert first.status_code == 200

    async def updates() -> int:
        return int(
            await session.scalar(
                select(func.count()).where(
                    AuditEvent.action == "update",
                    AuditEvent.entity_type == "practitioner",
                    AuditEvent.entity_id == str(scene.a.p),
                )
            )
            or 0
        )

    before = await updates()
    same = await anonymous.patch(f"/api/practitioners/{scene.a.p}", json={"phone": "13900139000"}, headers=clerk)
    assert same.status_code == 200
    assert same.headers["etag"] == first.headers["etag"]
    assert await updates() == before


async def _page_login(client: httpx.AsyncClient, username: str) -> None:
    form = await client.get("/login")
    token = re.search(r'name="_csrf" value="([^"]+)"', form.text)
    assert token is not None
    done = await client.post("/login", data={"username": username, "password": PASSWORD, "_csrf": token.group(1)})
    assert done.status_code == 303


async def test_a_stale_edit_form_says_so(anonymous: httpx.AsyncClient, scene: Scene) -> None:
    await _page_login(anonymous, "user-clerk")
    form = await anonymous.get(f"/practitioners/{scene.a.p}/edit")
    assert form.status_code == 200
    csrf = re.search(r'name="_csrf" value="([^"]+)"', form.text)
    version = re.search(r'name="_version" value="([^"]+)"', form.text)
    assert csrf and version
    # A colleague corrects the record through the API meanwhile.
    other = await anonymous.patch(
        f"/api/practitioners/{scene.a.p}",
        json={"phone": "13700137000"},
        headers=scene.headers("clerk"),
    )
    assert other.status_code == 200, other.text
    fields = {"_csrf": csrf.group(1), "_version": version.group(1), "name": "改个名字", "education": "master"}
    stale = await anonymous.post(f"/practitioners/{scene.a.p}/edit", data=fields)
    assert stale.status_code == 412
    assert "已被他人修改" in stale.text
    record = await anonymous.get(f"/api/practitioners/{scene.a.p}", headers=scene.headers("clerk"))
    assert record.json()["name"] != "改个名字"
