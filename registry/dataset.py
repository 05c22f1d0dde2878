"""A synthetic registry at national scale, written with COPY: ``registry dataset generate``.

Reproducible from its seed. Realistic where it matters for speed: every province's counties
(weighted, a few large ones), valid ID numbers (check digit, birth date, sex digit) and
GB/T 2260 codes, Chinese names with repeats, most certified people at assistant level and few
senior, a share unverified or rejected, registrations lapsed, people out of post, about ten CE
records a year each, a salary record for last year, and benchmarks. It does not write audit rows
(a bulk load is not a user's action) nor payroll history (runs are computed from the data).
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
from stdnum.cn import ric

from registry.certifications.service import default_registration_end
from registry.clock import CHINA
from registry.demo import EDUCATION, ORG_KINDS, POST_FOR_ORG, _name, _weighted
from registry.practitioners.names import name_tokens

CHUNK = 50_000
LEVELS = [("assistant", 70), ("intermediate", 25), ("senior", 5)]
STATUSES = [("verified", 85), ("pending", 10), ("rejected", 5)]
CE_KINDS = [("training", 6), ("supervision", 2), ("academic", 1), ("other", 1)]
PROVIDERS = ("市社会工作协会", "区民政局", "社会工作督导中心", "高校继续教育学院", "机构内训")
COURSES = ("个案工作实务", "小组工作方法", "社区治理与服务", "督导技巧", "社会政策解读", "伦理与价值")


@dataclass
class Generated:
    practitioners: int = 0
    organizations: int = 0
    employments: int = 0
    certifications: int = 0
    ce_records: int = 0
    salaries: int = 0
    seconds: float = 0.0
    tables: dict[str, int] = field(default_factory=dict)


def _id_number(region: str, birth: dt.date, seq: int, sex: str) -> str:
    odd = (seq % 5) * 2 + (1 if sex == "M" else 0)
    body = f"{region}{birth:%Y%m%d}{seq // 5 % 100:02d}{odd}"
    return body + ric.calc_check_digit(body + "0")


class _People:
    """Practitioners with ID numbers unique across the whole set (a counter per county and
    birth date gives the sequence digits)."""

    def __init__(self, rng: random.Random, counties: list[str], weights: list[float]) -> None:
        self.rng = rng
        self.counties = counties
        self.weights = weights
        self.used: dict[tuple[str, int], int] = {}
        self.tokens: dict[str, list[str]] = {}

    def one(self) -> tuple[str, str, dt.date, str, list[str]]:
        rng = self.rng
        while True:
            region = rng.choices(self.counties, weights=self.weights)[0]
            birth = dt.date(1962, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 40))
            sex = "F" if rng.random() < 0.72 else "M"  # the profession is mostly women
            key = (region, birth.toordinal() * 2 + (sex == "M"))
            seq = self.used.get(key, 0)
            if seq < 500:
                self.used[key] = seq + 1
                break
        name = _name(rng)
        tokens = self.tokens.get(name)
        if tokens is None:
            tokens = self.tokens[name] = name_tokens(name)
        return name, _id_number(region, birth, seq, sex), birth, sex, tokens


async def generate(
    dsn: str,
    practitioners: int,
    *,
    seed: int = 20261122,
    today: dt.date | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> Generated:
    """Add ``practitioners`` people (with organizations and histories) to the database at ``dsn``."""
    today = today or dt.date.today()
    rng = random.Random(seed)
    started = time.perf_counter()
    out = Generated()
    conn = await asyncpg.connect(dsn)
    try:
        regions = await conn.fetch("SELECT code, name FROM region WHERE level = 3 AND active ORDER BY code")
        counties = [r["code"] for r in regions]
        names = {r["code"]: r["name"] for r in regions}
        # A few big counties, many small ones.
        weights = [1.0 / (1 + (i * 7919) % 97) for i in range(len(counties))]
        orgs = await _organizations(conn, rng, counties, names, max(1, practitioners // 25), out)
        by_region: dict[str, list[tuple[int, str]]] = {}
        for org_id, region, kind in orgs:
            by_region.setdefault(region, []).append((org_id, kind))
        first_id = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM practitioner")) + 1
        people = _People(rng, counties, weights)
        for start in range(0, practitioners, CHUNK):
            size = min(CHUNK, practitioners - start)
            await _chunk(conn, rng, people, by_region, orgs, first_id + start, size, today, out)
            if progress is not None:
                progress("practitioners", start + size, practitioners)
        for table in ("practitioner", "employment", "certification", "ce_record", "salary_record", "organization"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))"  # noqa: S608 - fixed names
            )
        await _benchmarks(conn, today)
        await conn.execute("ANALYZE")
        for table in ("practitioner", "organization", "employment", "certification", "ce_record", "salary_record"):
            out.tables[table] = int(await conn.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608 - fixed names
    finally:
        await conn.close()
    out.seconds = time.perf_counter() - started
    return out


async def _organizations(
    conn: asyncpg.Connection,
    rng: random.Random,
    counties: list[str],
    names: dict[str, str],
    count: int,
    out: Generated,
) -> list[tuple[int, str, str]]:
    kinds = [(kind, weight) for kind, _, weight in ORG_KINDS]
    suffix = {kind: text for kind, text, _ in ORG_KINDS}
    first = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM organization")) + 1
    rows = []
    for i in range(count):
        region = counties[(i * 7919 + rng.randrange(0, 13)) % len(counties)]
        kind = _weighted(rng, kinds)
        rows.append((first + i, f"{names[region]}{i:06d}{suffix[kind]}", kind, region))
    await conn.copy_records_to_table("organization", records=rows, columns=["id", "name", "org_type", "region_code"])
    out.organizations += len(rows)
    return [(r[0], r[3], r[2]) for r in rows]


def _spells(
    rng: random.Random, pid: int, org_id: int, kind: str, other: tuple[int, str], today: dt.date
) -> Iterator[tuple[Any, ...]]:
    post = rng.choice(POST_FOR_ORG[kind])
    start = today - dt.timedelta(days=rng.randrange(30, 365 * 12))
    if rng.random() < 0.1:  # an earlier job elsewhere
        earlier = start - dt.timedelta(days=rng.randrange(400, 2000))
        other_post = rng.choice(POST_FOR_ORG[other[1]])
        yield (pid, other[0], other_post, None, earlier, start - dt.timedelta(days=rng.randrange(1, 60)))
    end = None if rng.random() < 0.88 else today - dt.timedelta(days=rng.randrange(1, 365))  # out of post
    if end is not None and end < start:
        end = start + dt.timedelta(days=30)
    duty = rng.choice(("city", "county")) if post == "station_social_worker" else None
    yield (pid, org_id, post, duty, start, end)


async def _chunk(
    conn: asyncpg.Connection,
    rng: random.Random,
    people: _People,
    by_region: dict[str, list[tuple[int, str]]],
    orgs: list[tuple[int, str, str]],
    first_id: int,
    size: int,
    today: dt.date,
    out: Generated,
) -> None:
    practitioner_rows: list[tuple[Any, ...]] = []
    spells: list[tuple[Any, ...]] = []
    certs: list[tuple[Any, ...]] = []
    periods: list[tuple[Any, ...]] = []
    ce: list[tuple[Any, ...]] = []
    salaries: list[tuple[Any, ...]] = []
    year = today.year
    for offset in range(size):
        pid = first_id + offset
        name, number, birth, sex, tokens = people.one()
        region = number[:6]
        local = by_region.get(region) or [(orgs[pid % len(orgs)][0], orgs[pid % len(orgs)][2])]
        org_id, kind = rng.choice(local)
        other = (orgs[(pid * 31) % len(orgs)][0], orgs[(pid * 31) % len(orgs)][2])
        phone = f"1{rng.choice('3578')}{rng.randrange(0, 10**9):09d}"
        practitioner_rows.append(
            (pid, name, tokens, number, birth, sex, phone, _weighted(rng, EDUCATION), rng.random() < 0.3, region)
        )
        spells.extend(_spells(rng, pid, org_id, kind, other, today))
        if rng.random() < 0.65:
            level = _weighted(rng, LEVELS)
            status = _weighted(rng, STATUSES)
            exam = rng.randrange(2010, year)
            reg_from = dt.date(exam + 1, 1, 1) + dt.timedelta(days=rng.randrange(0, 300))
            number = f"G{pid:010d}"
            first = reg_from
            periods.append((number, "registration", reg_from, default_registration_end(reg_from)))
            if rng.random() < 0.6:  # registration renewed: each renewal a period of its own
                while reg_from + dt.timedelta(days=365 * 3) < today:
                    reg_from = default_registration_end(reg_from) + dt.timedelta(days=1)
                    periods.append((number, "renewal", reg_from, default_registration_end(reg_from)))
            verified_at = (
                dt.datetime.combine(first, dt.time(10), tzinfo=dt.UTC) + dt.timedelta(days=rng.randrange(1, 30))
                if status == "verified"
                else None
            )
            verified_on = verified_at.astimezone(CHINA).date() if verified_at else None
            certs.append((pid, level, number, exam, status, verified_at, verified_on))
        # About ten CE records a year each, so far this year.
        for _ in range(max(0, int(rng.gauss(10, 3)))):
            day = dt.date(year, 1, 1) + dt.timedelta(days=rng.randrange(0, max(1, (today - dt.date(year, 1, 1)).days)))
            unit = "学时" if rng.random() < 0.4 else "小时"
            ce.append(
                (
                    pid,
                    day,
                    Decimal(rng.randrange(4, 17)) / 2,
                    unit,
                    _weighted(rng, CE_KINDS),
                    rng.choice(PROVIDERS),
                    rng.choice(COURSES),
                    "verified" if rng.random() < 0.8 else "pending",
                )
            )
        if rng.random() < 0.6:
            salaries.append((pid, year - 1, Decimal(rng.randrange(36, 160)) * 1000, "annual", "verified", org_id))
    await conn.copy_records_to_table(
        "practitioner",
        records=practitioner_rows,
        columns=[
            "id",
            "name",
            "name_tokens",
            "id_number",
            "birth_date",
            "sex",
            "phone",
            "education",
            "social_work_major",
            "household_region_code",
        ],
    )
    await conn.copy_records_to_table(
        "employment",
        records=spells,
        columns=["practitioner_id", "organization_id", "post_type", "duty_level", "in_post_from", "in_post_to"],
    )
    await conn.copy_records_to_table(
        "certification",
        records=certs,
        columns=[
            "practitioner_id",
            "level",
            "certificate_number",
            "exam_year",
            "verification_status",
            "verified_at",
            "verified_on",
        ],
    )
    await conn.execute(
        "CREATE TEMP TABLE dataset_period (certificate_number text, kind text, start_date date, end_date date)"
    )
    await conn.copy_records_to_table("dataset_period", records=periods)
    await conn.execute(
        "INSERT INTO certification_period (certification_id, kind, start_date, end_date)"
        " SELECT c.id, p.kind, p.start_date, p.end_date FROM dataset_period p"
        " JOIN certification c ON c.certificate_number = p.certificate_number ORDER BY c.id, p.start_date"
    )
    await conn.execute("DROP TABLE dataset_period")
    await conn.copy_records_to_table(
        "ce_record",
        records=ce,
        columns=["practitioner_id", "activity_date", "hours", "unit", "category", "provider", "course", "status"],
    )
    await conn.copy_records_to_table(
        "salary_record",
        records=salaries,
        columns=["practitioner_id", "year", "amount", "period", "status", "organization_id"],
    )
    # Jurisdiction from the employer of the current (else the latest) spell, set-based.
    await conn.execute(
        "UPDATE practitioner p SET organization_id = b.organization_id, region_code = b.region_code FROM ("
        " SELECT DISTINCT ON (e.practitioner_id) e.practitioner_id, e.organization_id, o.region_code"
        " FROM employment e JOIN organization o ON o.id = e.organization_id"
        " WHERE e.practitioner_id BETWEEN $1 AND $2"
        " ORDER BY e.practitioner_id, (e.in_post_to IS NULL) DESC, e.in_post_from DESC) b"
        " WHERE p.id = b.practitioner_id",
        first_id,
        first_id + size - 1,
    )
    out.practitioners += len(practitioner_rows)
    out.employments += len(spells)
    out.certifications += len(certs)
    out.ce_records += len(ce)
    out.salaries += len(salaries)


async def _benchmarks(conn: asyncpg.Connection, today: dt.date) -> None:
    """Last year's reference wages for every province (for the salary decisions)."""
    await conn.execute(
        "INSERT INTO salary_benchmark (region_code, year, basis, amount, source)"
        " SELECT code, $1, basis, 70000 + (hashtext(code) % 20000 + 20000) % 20000, '合成数据'"
        " FROM region, unnest(ARRAY['average_social_wage', 'urban_nonprivate_inpost_avg_wage']) basis"
        " WHERE level = 1 AND active ON CONFLICT DO NOTHING",
        today.year - 2,
    )
