"""Uploads with bounds on what they produce: problems capped (the rest counted), paged in the API
and on the page, the status answer small however bad the file, failures in Chinese, uploaded
files deleted after the retention period. The memory bound itself is measured by
``scripts/measure_upload_memory.py`` (figure in docs/security.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.config import Settings
from registry.imports.service import delete_expired_files, import_dir
from registry.imports.values import MAX_STORED_PROBLEMS
from registry.models import ImportJob
from tests.problems import assert_problem
from tests.test_imports import HEADINGS, Place, csv_bytes, place, upload, worker

__all__ = ["place"]  # the fixture, shared with the import tests

BAD_ROWS = 1500  # two problems a row: more than the cap


def bad_csv(rows: int) -> bytes:
    body = [HEADINGS["人员"]] + [[f"某{n}", f"X{n:017d}", "博士后", "123", "999999"] for n in range(rows)]
    return csv_bytes(body, "utf-8-sig")


async def test_a_file_full_of_problems_keeps_the_first_thousand_and_pages_them(
    anonymous: httpx.AsyncClient, place: Place
) -> None:
    job = await upload(anonymous, place.clerk, bad_csv(BAD_ROWS), "人员.csv")
    assert job["problem_count"] > MAX_STORED_PROBLEMS  # all counted
    assert job["problems_stored"] == MAX_STORED_PROBLEMS
    assert len(job["problems"]) == 100 and job["problems_offset"] == 0
    polled = await anonymous.get(f"/api/imports/{job['id']}", headers=place.clerk)
    assert len(polled.content) < 100 * 1024
    last = await anonymous.get(
        f"/api/imports/{job['id']}", params={"problems_offset": 950, "problems_limit": 500}, headers=place.clerk
    )
    assert last.status_code == 200
    assert len(last.json()["problems"]) == 50
    assert_problem(
        await anonymous.get(f"/api/imports/{job['id']}", params={"problems_limit": 100000}, headers=place.clerk),
        422,
        "validation_error",
    )
    page = await anonymous.get(f"/imports/{job['id']}", params={"page": 2}, headers=place.clerk)
    assert page.status_code == 200
    assert 'id="problems-capped"' in page.text and "第 2 / 10 页" in page.text
    sheet = job["problems"][0]["sheet"]
    assert page.text.count(f"<tr><td>{sheet}</td>") == 100


async def test_uploaded_files_are_deleted_after_the_retention_period(
    anonymous: httpx.AsyncClient, session: AsyncSession, place: Place
) -> None:
    job: dict[str, Any] = await upload(anonymous, place.clerk, bad_csv(2), "人员.csv")
    settings = Settings()
    stored = await session.get(ImportJob, job["id"])
    assert stored is not None
    path = import_dir(settings) / stored.stored_name
    assert path.exists()
    app: Any = anonymous._transport.app  # type: ignore[attr-defined]
    maker = app.state.session_maker
    assert await delete_expired_files(maker, settings) == 0  # not yet
    await session.execute(
        update(ImportJob)
        .where(ImportJob.id == job["id"])
        .values(finished_at=clock.now() - dt.timedelta(days=settings.import_retention_days, hours=1))
    )
    await session.commit()
    assert await delete_expired_files(maker, settings) == 1
    assert not path.exists()
    assert worker(anonymous) is not None


async def test_refusals_of_size_are_in_chinese(anonymous: httpx.AsyncClient, place: Place) -> None:
    # Past the guard's bound on a JSON body.
    big = b'{"name": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    refused = await anonymous.post(
        "/api/practitioners", content=big, headers={**place.clerk, "content-type": "application/json"}
    )
    assert_problem(refused, 413, "payload_too_large")
    # Past the framework's own bound (10 MB) on a body it reads itself.
    huge = await anonymous.post(
        "/api/practitioners",
        content=b"x" * (11 * 1024 * 1024),
        headers={**place.clerk, "content-type": "application/octet-stream"},
    )
    assert huge.status_code == 413
    assert "过大" in huge.json()["detail"]
