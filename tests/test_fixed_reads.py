"""The fixed reads' own pools (registry/db.py): what the service runs its busiest reads on.

The other tests send fixed reads down their one rolled-back connection (an app built on a session
maker has no pools); these open the pools the service opens, as the service's role, on rows the
migrations loaded (the regions), which every connection sees.
"""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, select

from registry.accounts.actor import Actor, Grant
from registry.db import FixedReads, FixedStatement, create_driver_pools
from registry.errors import NotFound
from registry.models import Region
from registry.practitioners import service


async def test_the_pools_read_as_the_service_with_their_plan_settings(service_url: str) -> None:
    pools = await create_driver_pools(service_url, 2)
    try:
        reads = FixedReads(pools, session=None)  # type: ignore[arg-type]  # never reaches the session
        region = FixedStatement.of(select(Region.full_name).where(Region.code == bindparam("code")))
        row = await reads.fetchrow(region, code="420102")
        assert row["full_name"] == "湖北省武汉市江岸区"
        [same] = await reads.fetch(region, code="420102")
        assert same["full_name"] == row["full_name"]
        assert await reads.fetchrow(region, code="999999") is None
        async with pools.cached.acquire() as conn:
            assert await conn.fetchval("SHOW plan_cache_mode") == "auto"
            assert await conn.fetchval("SELECT current_user") == "registry_app"
        async with pools.custom.acquire() as conn:
            assert await conn.fetchval("SHOW plan_cache_mode") == "force_custom_plan"
    finally:
        await pools.close()


async def test_a_record_outside_the_readers_scope_is_not_found_through_the_pools(service_url: str) -> None:
    pools = await create_driver_pools(service_url, 1)
    try:
        clerk = Actor(1, "clerk", "区民政", grants=(Grant(id=1, role="civil_affairs", region_code="420102"),))
        with pytest.raises(NotFound):
            await service.practitioner_record(FixedReads(pools, None, clerk), clerk, 2**31 - 1)  # type: ignore[arg-type]
    finally:
        await pools.close()


def test_a_fixed_statement_binds_the_request_values_among_its_own() -> None:
    statement = FixedStatement.of(
        select(Region.code).where(Region.code.between(bindparam("low"), "429999"), Region.level == bindparam("level"))
    )
    assert statement.sql.count("$") == 3
    assert statement.bind(low="420000", level=3) == ["420000", "429999", 3]
