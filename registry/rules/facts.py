"""Gathering one practitioner's facts for the evaluator (a handful of queries, no N+1)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor
from registry.ce_audit.struck import struck_records
from registry.certifications.history import certs_of
from registry.models import (
    AwardRow,
    CeRecordRow,
    Employment,
    Organization,
    Practitioner,
    Region,
    SalaryBenchmarkRow,
    SalaryRecordRow,
)
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


def _status(record: CeRecordRow, struck: set[int]) -> str:
    """A record an audit struck counts no more, whatever its verification said."""
    return "struck" if record.id in struck else record.status


async def load_facts(session: AsyncSession, person: Practitioner) -> Facts:
    spells = (
        await session.execute(
            select(Employment, Organization.region_code)
            .join(Organization, Organization.id == Employment.organization_id)
            .where(Employment.practitioner_id == person.id)
        )
    ).all()
    certs = (await certs_of(session, [person.id])).get(person.id, [])
    ce = (await session.scalars(select(CeRecordRow).where(CeRecordRow.practitioner_id == person.id))).all()
    struck = await struck_records(session, [person.id])
    pay = (await session.scalars(select(SalaryRecordRow).where(SalaryRecordRow.practitioner_id == person.id))).all()
    awards = (await session.scalars(select(AwardRow).where(AwardRow.practitioner_id == person.id))).all()
    regions = {region for _, region in spells} | ({person.region_code} if person.region_code else set())
    chain = {code for r in regions for code in (r, r[:4] + "00", r[:2] + "0000")}
    benchmarks = await _benchmarks(session, chain)
    return Facts(
        practitioner_id=person.id,
        birth_date=person.birth_date,
        education=person.education,
        region_code=person.region_code,
        spells=tuple(
            Spell(e.organization_id, region, e.post_type, e.duty_level, e.in_post_from, e.in_post_to)
            for e, region in spells
        ),
        certs=tuple(certs),
        ce=tuple(CeRecord(r.activity_date, r.hours, r.unit, r.category, _status(r, struck)) for r in ce),
        pay={p.year: Pay(p.year, p.amount, p.period, p.status) for p in pay},
        benchmarks=benchmarks,
        awards=tuple(AwardHeld(a.programme, a.status, a.round or None) for a in awards),
    )


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


async def load_facts_many(session: AsyncSession, people: Sequence[Practitioner]) -> dict[int, Facts]:
    """``load_facts`` for many people at once: the same six reads, each for all of them (a
    chunk of a region for the dashboard or a batch), instead of six per person."""
    ids = [p.id for p in people]
    if not ids:
        return {}
    spells: dict[int, list[Spell]] = {}
    for e, region in (
        await session.execute(
            select(Employment, Organization.region_code)
            .join(Organization, Organization.id == Employment.organization_id)
            .where(Employment.practitioner_id.in_(ids))
        )
    ).all():
        spells.setdefault(e.practitioner_id, []).append(
            Spell(e.organization_id, region, e.post_type, e.duty_level, e.in_post_from, e.in_post_to)
        )
    certs = await certs_of(session, ids)
    ce: dict[int, list[CeRecord]] = {}
    struck = await struck_records(session, ids)
    for r in (await session.scalars(select(CeRecordRow).where(CeRecordRow.practitioner_id.in_(ids)))).all():
        ce.setdefault(r.practitioner_id, []).append(
            CeRecord(r.activity_date, r.hours, r.unit, r.category, _status(r, struck))
        )
    pay: dict[int, dict[int, Pay]] = {}
    for s in (await session.scalars(select(SalaryRecordRow).where(SalaryRecordRow.practitioner_id.in_(ids)))).all():
        pay.setdefault(s.practitioner_id, {})[s.year] = Pay(s.year, s.amount, s.period, s.status)
    awards: dict[int, list[AwardHeld]] = {}
    for a in (await session.scalars(select(AwardRow).where(AwardRow.practitioner_id.in_(ids)))).all():
        awards.setdefault(a.practitioner_id, []).append(AwardHeld(a.programme, a.status, a.round or None))
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
