"""Name search on the demo registry: the API (in-process ASGI, full stack) beside bare asyncpg
running the same kind of lookup, measured in the same run. Not a test; prints a table.

    .venv/bin/python scripts/bench_search.py [--rounds 200]

Uses REGISTRY_DATABASE_URL or the embedded server, and loads the demo data if it is empty.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import asyncpg
import httpx
from bench import bench_user  # scripts/ is this script's folder

from registry.app import create_app
from registry.cli import migrate, seed_demo
from registry.config import Settings
from registry.db import database_url
from registry.practitioners.names import query_tokens

QUERIES = ["王", "小明", "王小明", "zs", "欣怡", "李"]


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


PROVINCE = "420000"


async def bench(url: str, rounds: int) -> None:
    settings = Settings()
    token, _ = await bench_user(url)  # a Hubei-wide clerk, as in scripts/bench.py
    app = create_app(settings, database_url=url)
    transport = httpx.ASGITransport(app=app)
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    bare = await asyncpg.connect(dsn, server_settings={"plan_cache_mode": "force_custom_plan"})
    count = await bare.fetchval("SELECT count(*) FROM practitioner")
    api: list[float] = []
    raw: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client:
        for i in range(rounds + 20):
            q = QUERIES[i % len(QUERIES)]
            tokens, _ = query_tokens(q)
            t0 = time.perf_counter()
            r = await client.get("/api/practitioners", params={"name": q})
            t1 = time.perf_counter()
            assert r.status_code == 200, r.text
            await bare.fetch(
                "SELECT id, name FROM practitioner WHERE name_tokens @> $1::text[]"
                " AND region_code BETWEEN '420000' AND '429999' ORDER BY id LIMIT 51",
                tokens,
            )
            t2 = time.perf_counter()
            if i >= 20:  # warm-up
                api.append((t1 - t0) * 1000)
                raw.append((t2 - t1) * 1000)
    await bare.close()
    print(f"name search over {count} practitioners as a {PROVINCE} clerk, {rounds} requests, queries {QUERIES}")
    print(f"{'':28}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}")
    for label, xs in (("API (ASGI, full stack)", api), ("bare asyncpg, same lookup", raw)):
        print(f"{label:28}{pct(xs, 0.5):10.2f}{pct(xs, 0.95):10.2f}{statistics.mean(xs):10.2f}")
    print(f"ratio API/bare at p50: {pct(api, 0.5) / pct(raw, 0.5):.1f}x")


def main() -> None:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    settings = Settings()
    with database_url(settings) as url:
        migrate(url)
        print(seed_demo(url, 3000, 20261122, only_if_empty=True))
        asyncio.run(bench(url, args.rounds))


if __name__ == "__main__":
    main()
