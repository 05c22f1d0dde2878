"""One transaction per request: a failing request leaves nothing behind, at once."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry.models import Organization


async def test_error_response_rolls_back_before_the_next_statement(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    missing = await client.get("/api/regions/999999")
    assert missing.status_code == 404
    # The request's session was rolled back and closed before the response: the shared
    # test connection is free for the next statement straight away.
    assert await session.scalar(text("SELECT 1")) == 1


async def test_failed_write_leaves_no_row(client: httpx.AsyncClient, session: AsyncSession) -> None:
    before = await session.scalar(select(func.count()).select_from(Organization))
    ok = await client.post(
        "/api/organizations",
        json={"name": "思明区和美社会工作服务中心", "org_type": "service_org", "region_code": "350203"},
    )
    assert ok.status_code == 201
    bad = await client.post(
        "/api/organizations",
        json={
            "name": "重复代码的单位",
            "org_type": "service_org",
            "region_code": "350203",
            "credit_code": "91110000600037341X",
        },
    )
    assert bad.status_code == 422
    assert await session.scalar(select(func.count()).select_from(Organization)) == (before or 0) + 1


async def test_a_request_session_is_ended_only_when_it_was_used(
    session_maker: async_sessionmaker[AsyncSession],
) -> None:
    """The request's session is committed, rolled back and closed only when the request touched
    it (registry/app.py, ``_used``): an object added and never flushed counts, so it is still
    written."""
    from registry.app import _used

    async with session_maker() as fresh:
        assert not _used(fresh)
        fresh.add(Organization(name="未写入的单位", org_type="service_org", region_code="350203"))
        assert _used(fresh)
    async with session_maker() as reading:
        await reading.scalar(text("SELECT 1"))
        assert _used(reading)
