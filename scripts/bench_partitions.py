"""The per-province partitioned layout beside the current one, on the generated dataset.

    REGISTRY_DATABASE_URL=…/registry_national .venv/bin/python scripts/bench_partitions.py

Copies ``practitioner`` into a table partitioned by province (``PARTITION BY LIST
(left(region_code, 2))``, one partition per province, each with its own GIN index on the name
tokens and btree on ``(region_code, id)``) in a schema of its own (``bench_partitions``, dropped
first), then runs the same searches on both layouts as a province's and a county's clerk would
and prints the median times and the plans' shape. Not a test; the copy takes a few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from registry.practitioners.names import query_tokens

PROVINCE, COUNTY = "42", "420102"
NAMES = ["王明", "李娜", "张伟", "zs", "欣怡", "王", "刘洋", "wxm", "陈静", "杨帆"]


async def build(conn: asyncpg.Connection) -> float:
    t0 = time.perf_counter()
    await conn.execute("DROP SCHEMA IF EXISTS bench_partitions CASCADE")
    await conn.execute("CREATE SCHEMA bench_partitions")
    await conn.execute(
        "CREATE TABLE bench_partitions.practitioner (id bigint NOT NULL, name text, name_tokens text[],"
        " region_code varchar(6) NOT NULL) PARTITION BY LIST ((left(region_code, 2)))"
    )
    provinces = [
        r["p"] for r in await conn.fetch("SELECT DISTINCT left(code, 2) AS p FROM region WHERE level = 1 ORDER BY 1")
    ]
    for p in provinces:
        await conn.execute(
            f"CREATE TABLE bench_partitions.practitioner_{p} PARTITION OF bench_partitions.practitioner"
            f" FOR VALUES IN ('{p}')"
        )
    await conn.execute(
        "INSERT INTO bench_partitions.practitioner SELECT id, name, name_tokens, region_code FROM practitioner"
        " WHERE region_code IS NOT NULL"
    )
    await conn.execute("CREATE INDEX ON bench_partitions.practitioner USING gin (name_tokens)")
    await conn.execute("CREATE INDEX ON bench_partitions.practitioner (region_code, id)")
    await conn.execute("ANALYZE bench_partitions.practitioner")
    return time.perf_counter() - t0


async def timed(conn: asyncpg.Connection, sql: str, *args: object, repeat: int = 7) -> tuple[float, str]:
    await conn.fetch(sql, *args)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await conn.fetch(sql, *args)
        times.append((time.perf_counter() - t0) * 1000)
    plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + sql, *args))
    scans = sorted({w for w in plan.split() if w.startswith(("practitioner_", "ix_practitioner", "pk_"))})
    return statistics.median(times), ", ".join(scans[:4]) + (" …" if len(scans) > 4 else "")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the partitioned copy")
    args = parser.parse_args()
    url = os.environ.get("REGISTRY_DATABASE_URL", "")
    if not url:
        raise SystemExit("Set REGISTRY_DATABASE_URL to the generated dataset's database.")
    # As the service's connections: custom plans (a generic plan of a prepared name search does
    # not see the tokens and walks the primary key).
    conn = await asyncpg.connect(
        url.replace("postgresql+asyncpg://", "postgresql://"), server_settings={"plan_cache_mode": "force_custom_plan"}
    )
    try:
        built = await build(conn)
        rows = int(await conn.fetchval("SELECT count(*) FROM bench_partitions.practitioner"))
        print(f"partitioned copy of {rows:,} practitioners in {built:.0f} s")
        print(f"{'search':34}{'current ms':>11}{'partitioned ms':>16}  plans (current | partitioned)")
        current_sum = parted_sum = 0.0
        for name in NAMES:
            tokens, _ = query_tokens(name)
            qualified = [f"{PROVINCE}:{t}" for t in tokens]
            current, plan_c = await timed(
                conn,
                "SELECT id FROM practitioner WHERE registry_province_tokens(name_tokens, region_code) @> $1::text[]"
                " ORDER BY id LIMIT 51",
                qualified,
            )
            parted, plan_p = await timed(
                conn,
                "SELECT id FROM bench_partitions.practitioner WHERE left(region_code, 2) = $2"
                " AND name_tokens @> $1::text[] ORDER BY id LIMIT 51",
                tokens,
                PROVINCE,
            )
            current_sum += current
            parted_sum += parted
            print(f"{'province clerk: ' + name:34}{current:11.2f}{parted:16.2f}  {plan_c} | {plan_p}")
        lo, hi = COUNTY, COUNTY[:4] + "99"
        current, plan_c = await timed(
            conn,
            "SELECT id FROM practitioner WHERE region_code BETWEEN $1 AND $2 ORDER BY region_code, id LIMIT 51",
            lo,
            hi,
        )
        parted, plan_p = await timed(
            conn,
            "SELECT id FROM bench_partitions.practitioner WHERE left(region_code, 2) = $3"
            " AND region_code BETWEEN $1 AND $2 ORDER BY region_code, id LIMIT 51",
            lo,
            hi,
            COUNTY[:2],
        )
        print(f"{'county clerk: first page':34}{current:11.2f}{parted:16.2f}  {plan_c} | {plan_p}")
        current, _ = await timed(
            conn, "SELECT count(*) FROM practitioner WHERE region_code BETWEEN '420000' AND '429999'"
        )
        parted, _ = await timed(
            conn, "SELECT count(*) FROM bench_partitions.practitioner WHERE left(region_code, 2) = '42'"
        )
        print(f"{'count of a province':34}{current:11.2f}{parted:16.2f}")
        print(f"name searches, sum of medians: current {current_sum:.1f} ms, partitioned {parted_sum:.1f} ms")
    finally:
        if not args.keep:
            await conn.execute("DROP SCHEMA IF EXISTS bench_partitions CASCADE")
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
