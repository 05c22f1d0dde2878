"""The fixed reads' own pools (registry/db.py): what the service runs its busiest reads on.

The other tests send fixed reads down their one rolled-back connection (an app built on a session
maker has no pools); these open the pools the service opens, as the service's role, on rows the
migrations loaded (the regions), which every connection sees.
"""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest
from sqlalchemy import bindparam, select

from registry.accounts.actor import Actor, Grant
from registry.db import SEARCH_SETTINGS, FixedReads, FixedStatement, create_driver_pools, explain_prepared
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
        async with pools.search.acquire() as conn:
            assert await conn.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
            assert await conn.fetchval("SHOW enable_seqscan") == "off"
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


@pytest.mark.parametrize(
    ("provinces", "like", "cursor"),
    [(0, False, False), (0, True, True), (1, False, False), (1, True, True), (2, False, True), (2, True, False)],
)
async def test_the_search_plan_made_once_finds_the_names_through_their_index(
    service_url: str, provinces: int, like: bool, cursor: bool
) -> None:
    """The one plan each search connection makes of a name search's statement, without seeing
    the name, reads the matches from a name-token index and never the whole table (on this test
    database too, whose table is nearly empty)."""
    conn = await asyncpg.connect(
        service_url.replace("postgresql+asyncpg://", "postgresql://"), server_settings=SEARCH_SETTINGS
    )
    try:
        statement = service._name_search_statement(provinces, like, cursor)
        given = {
            "today": dt.date(2026, 12, 3),
            "limit": 51,
            "tokens": ["王小", "小明"],
            "pattern": "王小明%",
            "cursor": 0,
        }
        given.update({f"tokens{i}": [f"4{i}:王小", f"4{i}:小明"] for i in range(provinces)})
        plan = await explain_prepared(conn, statement.sql, statement.bind(**given))
        assert "$1" in plan  # the generic plan, its values left as parameters
        index = "ix_practitioner_province_name_tokens" if provinces else "ix_practitioner_name_tokens"
        # The matches (read once, counted, and the page taken from them below the cap), one index
        # lookup per province. The branch past the cap reads them again, on a table this small
        # through whichever index is cheapest (at 2,000,000 people the name index: docs/design.md).
        matched = plan.split("CTE matched", 1)[1].split("InitPlan", 1)[0]
        assert matched.count(f"Bitmap Index Scan on {index}") == max(provinces, 1), plan
        assert "Seq Scan on practitioner" not in plan, plan
    finally:
        await conn.close()
