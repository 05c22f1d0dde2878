"""A 100,000-row practitioner spreadsheet through the import: dry run, commit, and the same file
again (all unchanged), beside a bare asyncpg COPY of the same rows into a plain table measured in
the same run. Not a test.

    .venv/bin/python scripts/bench_import.py [--rows 100000]

Builds its own database (``registry_bench_import``) on REGISTRY_DATABASE_URL's server or the
embedded one, and a reproducible, valid XLSX (seeded) in a temporary folder. The importer is a
province-wide (420000) civil-affairs clerk, so scope is checked as for a real one.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import resource
import tempfile
import time
from pathlib import Path

import asyncpg
from stdnum.cn import ric

from registry.accounts.actor import Actor, Grant
from registry.cli import migrate
from registry.config import Settings
from registry.db import create_engine, create_session_maker, database_url
from registry.imports import service
from registry.imports.sheets import FileData, _read_xlsx_streaming, read_file

DB = "registry_bench_import"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏飞欣怡子涵浩宇梓轩雨晨思远嘉怡"
EDUCATION = ["大专", "本科", "本科", "硕士", "高中/中专"]
HEADINGS = ["姓名", "公民身份号码", "学历", "手机号码", "户籍地区划代码"]


async def recreate(admin_dsn: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{DB}"')
    finally:
        await conn.close()


async def counties(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT code FROM region WHERE code LIKE '42%' AND level = 3 AND active ORDER BY code")
        return [r["code"] for r in rows]
    finally:
        await conn.close()


def make_rows(n: int, regions: list[str]) -> list[tuple[str, str, str, str, str]]:
    """Valid, unique, reproducible rows: name, ID number, education, phone, household region."""
    rng = random.Random(20261122)
    rows, seen = [], set()
    serial = 0
    while len(rows) < n:
        serial += 1
        region = rng.choice(regions)
        birth = dt.date(1965, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 35))
        body = f"{region}{birth:%Y%m%d}{serial % 1000:03d}"
        number = body + ric.calc_check_digit(body + "0")
        if number in seen:
            continue
        seen.add(number)
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        phone = f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"
        rows.append((name, number, rng.choice(EDUCATION), phone, region))
    return rows


def write_xlsx(path: Path, rows: list[tuple[str, str, str, str, str]]) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("人员")
    sheet.write_row(0, 0, HEADINGS)
    for index, row in enumerate(rows, start=1):
        sheet.write_row(index, 0, row)
    book.close()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def bench(
    url: str, dsn: str, path: Path, content: bytes, rows: list[tuple[str, str, str, str, str]], settings: Settings
) -> None:
    engine = create_engine(url, pool_size=3)
    maker = create_session_maker(engine)
    conn = await asyncpg.connect(dsn)
    try:
        user_id = await conn.fetchval(
            "INSERT INTO app_user (username, display_name, password_hash) VALUES ('bench-clerk', '基准测试', '!')"
            " RETURNING id"
        )
        grant_id = await conn.fetchval(
            "INSERT INTO role_grant (user_id, role, region_code) VALUES ($1, 'civil_affairs', '420000') RETURNING id",
            user_id,
        )
    finally:
        await conn.close()
    actor = Actor(
        user_id=user_id,
        username="bench-clerk",
        display_name="基准测试",
        grants=(Grant(id=grant_id, role="civil_affairs", region_code="420000"),),
        request_id="bench-import",
    )
    n = len(rows)
    try:
        t0 = time.perf_counter()
        data = await asyncio.to_thread(read_file, path, "xlsx", path.name)
        read_s = time.perf_counter() - t0
        assert data.row_count == n, data.problems[:3]
        t0 = time.perf_counter()
        slow = await asyncio.to_thread(_read_xlsx_streaming, path, FileData(), None)
        openpyxl_s = time.perf_counter() - t0
        assert slow.row_count == n
        del slow

        async def job() -> int:
            async with maker() as session, session.begin():
                return (await service.create_import(session, actor, settings, path.name, content, run_here=True)).id

        async def commit(job_id: int) -> None:
            async with maker() as session, session.begin():
                await service.request_commit(session, actor, settings, job_id, run_here=True)

        first = await job()
        t0 = time.perf_counter()
        checked = await service.run_import(maker, actor, settings, first)
        dry_s = time.perf_counter() - t0
        assert checked.status == "done", checked.error
        assert checked.problem_count == 0, (checked.problems or [])[:3]
        await commit(first)
        t0 = time.perf_counter()
        committed = await service.run_import(maker, actor, settings, first)
        commit_s = time.perf_counter() - t0
        assert committed.status == "done", committed.error
        second = await job()
        t0 = time.perf_counter()
        again = await service.run_import(maker, actor, settings, second)
        again_s = time.perf_counter() - t0
        counts = (again.summary or {}).get("counts", {}).get("practitioners", {})
        assert counts.get("unchanged") == n, counts
        await commit(second)
        t0 = time.perf_counter()
        await service.run_import(maker, actor, settings, second)
        again_commit_s = time.perf_counter() - t0

        bare = await asyncpg.connect(dsn)
        try:
            await bare.execute(
                "CREATE TABLE bare_practitioner (name text, id_number text, education text, phone text,"
                " household_region_code text)"
            )
            t0 = time.perf_counter()
            await bare.copy_records_to_table("bare_practitioner", records=rows)
            bare_s = time.perf_counter() - t0
            stored = await bare.fetchval("SELECT count(*) FROM practitioner")
            audited = await bare.fetchval("SELECT count(*) FROM audit_event WHERE entity_type = 'practitioner'")
        finally:
            await bare.close()
    finally:
        await engine.dispose()
    print(f"\n{n:,} practitioner rows, XLSX {len(content) / 2**20:.1f} MiB; stored {stored:,}, audit rows {audited:,}")
    print(f"{'':44}{'seconds':>9}{'rows/s':>11}{'vs bare':>9}")
    lines = [
        ("read XLSX (python-calamine, scan first)", read_s),
        ("read XLSX (openpyxl read-only, as before)", openpyxl_s),
        ("dry run (read + check + bulk look-ups)", dry_s),
        ("commit (look up again + COPY + SQL + audit)", commit_s),
        ("dry run + commit", dry_s + commit_s),
        ("same file again: dry run (all unchanged)", again_s),
        ("same file again: commit (writes nothing)", again_commit_s),
        ("bare asyncpg COPY into a plain table", bare_s),
    ]
    for label, seconds in lines:
        print(f"{label:44}{seconds:9.2f}{n / seconds:11,.0f}{bare_s / seconds:9.1%}")
    print(f"process peak RSS {rss_mb():.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    settings = Settings()
    with database_url(settings) as base, tempfile.TemporaryDirectory() as folder:
        admin = base.rsplit("/", 1)[0] + "/postgres"
        asyncio.run(recreate(admin.replace("postgresql+asyncpg://", "postgresql://")))
        url = base.rsplit("/", 1)[0] + f"/{DB}"
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        migrate(url)
        regions = asyncio.run(counties(dsn))
        t0 = time.perf_counter()
        rows = make_rows(args.rows, regions)
        path = Path(folder) / "人员.xlsx"
        write_xlsx(path, rows)
        print(f"built {len(rows):,} rows into {path.name} in {time.perf_counter() - t0:.1f} s")
        bench_settings = Settings(data_dir=Path(folder) / "data")
        asyncio.run(bench(url, dsn, path, path.read_bytes(), rows, bench_settings))


if __name__ == "__main__":
    main()
