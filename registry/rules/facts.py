"""Gathering practitioners' facts for the evaluator: a handful of reads for any number of people
(one person on a page, a chunk of thousands for the summary, a batch or a payroll run)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor
from registry.ce_audit.struck import struck_records
from registry.certifications.history import certs_of
from registry.models import Region, SalaryBenchmarkRow
from registry.practitioners.service import get_practitioner
from registry.rules import evaluate
from registry.rules.model import AwardHeld, Benchmark, CeRecord, Facts, Pay, Spell
from registry.rules.schemas import DecisionsRead
from registry.rules.service import decision_read, rule_book


async def _benchmarks(session: AsyncSession, codes: set[str]) -> tuple[Benchmark, ...]:
    """The reference wages of these regions, each with its region's name."""
    if not codes:
        return ()
    rows = await session.execute(
        select(SalaryBenchmarkRow, Region.name)
        .outerjoin(Region, Region.code == SalaryBenchmarkRow.region_code)
        .where(SalaryBenchmarkRow.region_code.in_(codes))
    )
    return tuple(Benchmark(b.region_code, b.year, b.basis, b.amount, b.source, name or "") for b, name in rows.all())


class PersonLike(Protocol):
    """What the evaluator needs of a person besides the related rows: a ``Practitioner`` or a
    row read with the driver."""

    @property
    def id(self) -> int: ...
    @property
    def birth_date(self) -> dt.date: ...
    @property
    def education(self) -> str: ...
    @property
    def region_code(self) -> str | None: ...


async def driver_of(session: AsyncSession) -> Any:
    """The session's asyncpg connection: a chunk of thousands of people is read with the driver
    (records built in C; SQLAlchemy's rows and ORM objects cost more than the reading)."""
    conn = await session.connection()
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    return driver


async def load_spells(session: AsyncSession, ids: list[int]) -> tuple[dict[int, list[Spell]], dict[int, str]]:
    """Everyone's employment spells with their employer's region, and the employers' names."""
    spells: dict[int, list[Spell]] = defaultdict(list)
    names: dict[int, str] = {}
    for pid, org, region, org_name, post_type, duty_level, start, end in await (await driver_of(session)).fetch(
        "SELECT e.practitioner_id, e.organization_id, o.region_code, o.name, e.post_type, e.duty_level,"
        " e.in_post_from, e.in_post_to FROM unnest($1::bigint[]) AS w(pid)"
        " JOIN employment e ON e.practitioner_id = w.pid JOIN organization o ON o.id = e.organization_id"
        " ORDER BY e.id",
        ids,
    ):
        spells[pid].append(Spell(org, region, post_type, duty_level, start, end))
        names[org] = org_name
    return spells, names


async def load_facts(session: AsyncSession, person: PersonLike) -> Facts:
    return (await load_facts_many(session, [person]))[person.id]


async def practitioner_decisions(
    session: AsyncSession, actor: Actor, practitioner_id: int, as_of: dt.date
) -> DecisionsRead:
    person = await get_practitioner(session, actor, practitioner_id)
    facts = await load_facts(session, person)
    book = await rule_book(session)
    return DecisionsRead(
        practitioner_id=person.id,
        as_of=as_of,
        decisions=[decision_read(d) for d in evaluate.decisions(facts, book, as_of)],
    )


async def load_facts_many(session: AsyncSession, people: Sequence[PersonLike]) -> dict[int, Facts]:
    """Everything the evaluator reads about these people (a chunk of a region for the
    dashboard's summary, a reminder run or a batch; one person for a page): each kind of row
    read once for all of them, by index, with the driver."""
    ids = [p.id for p in people]
    if not ids:
        return {}
    driver = await driver_of(session)
    spells, _ = await load_spells(session, ids)
    certs = await certs_of(session, ids)
    struck = await struck_records(session, ids)
    ce: dict[int, list[CeRecord]] = defaultdict(list)
    for pid, rid, day, hours, unit, category, status in await driver.fetch(
        "SELECT c.practitioner_id, c.id, c.activity_date, c.hours, c.unit, c.category, c.status"
        " FROM unnest($1::bigint[]) AS w(pid) JOIN ce_record c ON c.practitioner_id = w.pid ORDER BY c.id",
        ids,
    ):
        # A record an audit struck counts no more, whatever its verification said.
        ce[pid].append(CeRecord(day, hours, unit, category, "struck" if rid in struck else status))
    pay: dict[int, dict[int, Pay]] = defaultdict(dict)
    # A year's rejected record gives way to the one that replaced it (one not rejected a year).
    for pid, year, amount, period, status in await driver.fetch(
        "SELECT s.practitioner_id, s.year, s.amount, s.period, s.status FROM unnest($1::bigint[]) AS w(pid)"
        " JOIN salary_record s ON s.practitioner_id = w.pid ORDER BY s.status <> 'rejected', s.id",
        ids,
    ):
        pay[pid][year] = Pay(year, amount, period, status)
    awards: dict[int, list[AwardHeld]] = defaultdict(list)
    for pid, programme, status, round_ in await driver.fetch(
        "SELECT a.practitioner_id, a.programme, a.status, a.round FROM unnest($1::bigint[]) AS w(pid)"
        " JOIN award a ON a.practitioner_id = w.pid ORDER BY a.id",
        ids,
    ):
        awards[pid].append(AwardHeld(programme, status, round_ or None))
    regions = {s.region_code for ss in spells.values() for s in ss} | {p.region_code for p in people if p.region_code}
    chain = {code for r in regions for code in (r, r[:4] + "00", r[:2] + "0000")}
    benchmarks = await _benchmarks(session, chain)
    return {
        p.id: Facts(
            practitioner_id=p.id,
            birth_date=p.birth_date,
            education=p.education,
            region_code=p.region_code,
            spells=tuple(spells.get(p.id, ())),
            certs=tuple(certs.get(p.id, ())),
            ce=tuple(ce.get(p.id, ())),
            pay=pay.get(p.id, {}),
            benchmarks=benchmarks,
            awards=tuple(awards.get(p.id, ())),
        )
        for p in people
    }
