"""The synthetic national dataset (``registry dataset generate``) on a database of its own:
valid and unique ID numbers, the shape the benchmarks rely on, reproducible from its seed."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import asyncpg

from registry.dataset import generate
from registry.identity import parse_id_number
from tests.conftest import TestDatabases

TODAY = dt.date(2026, 11, 22)


async def _facts(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        people = await conn.fetch(
            "SELECT id_number, birth_date, sex, name_tokens, region_code, organization_id FROM practitioner ORDER BY id"
        )
        levels = dict(await conn.fetch("SELECT level, count(*) FROM certification GROUP BY level"))
        statuses = dict(await conn.fetch("SELECT verification_status, count(*) FROM certification GROUP BY 1"))
        lapsed = await conn.fetchval(
            "SELECT count(*) FROM certification c WHERE NOT EXISTS (SELECT 1 FROM certification_period p"
            " WHERE p.certification_id = c.id AND p.end_date >= $1)",
            TODAY,
        )
        renewed = await conn.fetchval("SELECT count(*) FROM certification_period WHERE kind = 'renewal'")
        out_of_post = await conn.fetchval(
            "SELECT count(*) FROM practitioner p WHERE NOT EXISTS (SELECT 1 FROM employment e"
            " WHERE e.practitioner_id = p.id AND (e.in_post_to IS NULL OR e.in_post_to >= $1))",
            TODAY,
        )
        wrong_region = await conn.fetchval(
            "SELECT count(*) FROM practitioner p JOIN organization o ON o.id = p.organization_id"
            " WHERE o.region_code <> p.region_code"
        )
        ce_per_person = await conn.fetchval(
            "SELECT count(*)::float / nullif((SELECT count(*) FROM practitioner), 0) FROM ce_record"
        )
        return {
            "people": people,
            "levels": levels,
            "statuses": statuses,
            "lapsed": lapsed,
            "renewed": renewed,
            "out_of_post": out_of_post,
            "wrong_region": wrong_region,
            "ce_per_person": ce_per_person,
        }
    finally:
        await conn.close()


def test_generated_registry_is_valid_realistic_and_reproducible(databases: TestDatabases) -> None:
    dsns = []
    for name in ("registry_dataset_a", "registry_dataset_b"):
        url = databases.migrated(name)
        dsns.append(url.replace("postgresql+asyncpg://", "postgresql://"))
    made = asyncio.run(generate(dsns[0], 3000, seed=7, today=TODAY))
    assert made.practitioners == made.tables["practitioner"] == 3000
    facts = asyncio.run(_facts(dsns[0]))
    numbers = [p["id_number"] for p in facts["people"]]
    assert len(set(numbers)) == 3000
    for p in facts["people"]:
        parsed = parse_id_number(p["id_number"], today=TODAY)
        assert not hasattr(parsed, "code"), (p["id_number"], parsed)  # a FieldError has a code
        assert parsed.birth_date == p["birth_date"] and parsed.sex == p["sex"]  # type: ignore[union-attr]
        assert p["name_tokens"] and p["organization_id"] is not None
    assert facts["wrong_region"] == 0
    levels = facts["levels"]
    assert levels["assistant"] > levels["intermediate"] > levels["senior"] > 0
    assert facts["statuses"]["verified"] > facts["statuses"]["pending"] > 0 and facts["statuses"]["rejected"] > 0
    assert facts["lapsed"] > 0 and facts["out_of_post"] > 0 and facts["renewed"] > 0
    assert 7 < facts["ce_per_person"] < 13  # about ten a year each
    # The same seed gives the same registry.
    asyncio.run(generate(dsns[1], 3000, seed=7, today=TODAY))
    again = asyncio.run(_facts(dsns[1]))
    assert [p["id_number"] for p in again["people"]] == numbers
