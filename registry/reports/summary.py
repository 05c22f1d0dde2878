"""The dashboard's summary: per region (province, city, county) and period, every figure the
page shows, kept by the queue worker (``registry.reports.jobs``) so that a page reads one row.

Two parts are kept:

- ``practitioner_outcome``: each person's CE and pay decision, the evaluator's own (the same
  decision as on the person's page; see ``compliance_rates``). A write that can change it
  queues a ``delta`` refresh through a trigger on ``audit_event`` (every write records an event,
  imports included), which judges those people again.
- ``region_summary``: per region, the counts of those decisions (numerators and denominators)
  summed in SQL over the region's subtree, and the region's figures (``region_figures``).

A ``full`` refresh (the first, then once a day as the date moves on, or after a new rule or
benchmark) judges everyone in chunks and sums every region's decisions in one statement.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import BigInteger, Select, bindparam, delete, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.accounts.actor import Actor, Forbidden
from registry.models import Organization, Practitioner, PractitionerOutcome, Region, RegionSummary, SummaryRefresh
from registry.regions.codes import level_of, subtree_bounds
from registry.regions.service import require_region
from registry.reports.schemas import ComplianceRates, CountryFigures, ProvinceRow, RegionFigures, Tally
from registry.reports.service import region_figures
from registry.rules import evaluate
from registry.rules.facts import PersonLike, driver_of, load_facts_many
from registry.rules.model import RuleBook
from registry.rules.service import rule_book

log = logging.getLogger("registry")
SYSTEM = Actor.system("summary")
CHUNK = 4000  # people judged at a time (their facts in memory at once)
TALLIES = ("ce_met", "ce_unmet", "ce_undecided", "salary_met", "salary_unmet", "salary_undecided")


def ancestors(code: str) -> set[str]:
    """The region and the regions above it (by the code's digits, as ``subtree_bounds``)."""
    return {code[:2] + "0000", code[:4] + "00", code}


# Each outcome counts in its county, city and province (once where they coincide).
_ALL_TALLIES = text(
    "SELECT g.code,"
    " count(*) FILTER (WHERE o.ce IS TRUE) AS ce_met,"
    " count(*) FILTER (WHERE o.ce IS FALSE) AS ce_unmet,"
    " count(*) FILTER (WHERE o.ce IS NULL) AS ce_undecided,"
    " count(*) FILTER (WHERE o.salary IS TRUE) AS salary_met,"
    " count(*) FILTER (WHERE o.salary IS FALSE) AS salary_unmet,"
    " count(*) FILTER (WHERE o.salary IS NULL) AS salary_undecided"
    " FROM practitioner_outcome o, LATERAL (SELECT DISTINCT x FROM (VALUES (left(o.region_code, 2) || '0000'),"
    " (left(o.region_code, 4) || '00'), (o.region_code)) v(x)) g(code)"
    " WHERE o.period = :period AND o.region_code IS NOT NULL GROUP BY g.code"
)


def _tally_columns() -> list[Any]:
    o = PractitionerOutcome
    return [
        func.count().filter(o.ce.is_(True)).label("ce_met"),
        func.count().filter(o.ce.is_(False)).label("ce_unmet"),
        func.count().filter(o.ce.is_(None)).label("ce_undecided"),
        func.count().filter(o.salary.is_(True)).label("salary_met"),
        func.count().filter(o.salary.is_(False)).label("salary_unmet"),
        func.count().filter(o.salary.is_(None)).label("salary_undecided"),
    ]


# --- judging people ------------------------------------------------------------------------------


_STORE_OUTCOMES = (
    "INSERT INTO practitioner_outcome (practitioner_id, region_code, period, as_of, ce, salary)"
    " SELECT w.id, w.region_code, $3, $4, w.ce, w.salary"
    " FROM unnest($1::bigint[], $2::text[], $5::boolean[], $6::boolean[]) AS w(id, region_code, ce, salary)"
    " ON CONFLICT (practitioner_id) DO UPDATE SET region_code = excluded.region_code, period = excluded.period,"
    " as_of = excluded.as_of, ce = excluded.ce, salary = excluded.salary"
)


async def judge(session: AsyncSession, people: Sequence[PersonLike], book: RuleBook, as_of: dt.date) -> set[str]:
    """Judge these people's CE (this year) and pay (last year) as ``compliance_rates`` does and
    store the outcomes; the regions their figures count in (their own and their employers')."""
    if not people:
        return set()
    facts = await load_facts_many(session, people)
    ids, regions, ce, salary = [], [], [], []
    touched: set[str] = set()

    def decide() -> None:
        for person in people:
            f = facts[person.id]
            ids.append(person.id)
            regions.append(person.region_code)
            ce.append(evaluate.continuing_education(f, book, as_of.year, as_of).outcome)
            salary.append(evaluate.salary(f, book, as_of.year - 1).outcome)
            touched.update(s.region_code for s in f.spells)
            if person.region_code:
                touched.add(person.region_code)

    # In a thread: the worker shares the serving process, whose requests keep being answered
    # while thousands of people are judged (the interpreter switches threads every few ms).
    await asyncio.to_thread(decide)
    # One prepared statement with the chunk as arrays (a VALUES list of thousands of rows cost
    # more to compile than to run: measured on the national data).
    await (await driver_of(session)).execute(_STORE_OUTCOMES, ids, regions, as_of.year, as_of, ce, salary)
    return touched


async def _judge_where(
    session: AsyncSession, book: RuleBook, as_of: dt.date, query: Select[int, dt.date, str, str | None]
) -> int:
    """Judge the practitioners ``query`` selects, in chunks by id; how many."""
    last_id, count = 0, 0
    while True:
        people = (
            await session.execute(query.where(Practitioner.id > last_id).order_by(Practitioner.id).limit(CHUNK))
        ).all()
        if not people:
            return count
        last_id = people[-1].id
        await judge(session, people, book, as_of)
        count += len(people)


# What the evaluator needs of each person (columns: no ORM objects for two million people).
def _people() -> Select[int, dt.date, str, str | None]:
    return select(Practitioner.id, Practitioner.birth_date, Practitioner.education, Practitioner.region_code)


def _unjudged(period: int) -> Select[int, dt.date, str, str | None]:
    current = select(PractitionerOutcome.practitioner_id).where(
        PractitionerOutcome.practitioner_id == Practitioner.id, PractitionerOutcome.period == period
    )
    return _people().where(~current.exists())


# --- summing regions ----------------------------------------------------------------------------


async def _store(
    session: AsyncSession, code: str, as_of: dt.date, refreshed_at: dt.datetime, tallies: dict[str, int]
) -> None:
    figures = await region_figures(session, SYSTEM, code, as_of)
    values = {
        "region_code": code,
        "period": as_of.year,
        "level": level_of(code),
        "as_of": as_of,
        "refreshed_at": refreshed_at,
        "practitioners": figures.practitioners,
        "in_post": figures.in_post,
        "certified": sum(figures.certified_by_level.values()),
        "registration_valid": sum(figures.registration_valid_by_level.values()),
        "station_staff": figures.station_staff,
        "station_staff_qualified": figures.station_staff_qualified,
        **{k: int(tallies.get(k, 0)) for k in TALLIES},
        "figures": figures.model_dump(mode="json"),
    }
    stmt = insert(RegionSummary).values(values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[RegionSummary.region_code, RegionSummary.period],
            set_={k: stmt.excluded[k] for k in values if k not in ("region_code", "period")},
        )
    )


async def _region_tallies(session: AsyncSession, code: str, period: int) -> dict[str, int]:
    lo, hi = subtree_bounds(code)
    row = (
        await session.execute(
            select(*_tally_columns()).where(
                PractitionerOutcome.region_code.between(lo, hi), PractitionerOutcome.period == period
            )
        )
    ).one()
    return dict(row._mapping)


async def _existing(session: AsyncSession, codes: Iterable[str]) -> list[str]:
    wanted = {a for c in codes if c for a in ancestors(c)}
    if not wanted:
        return []
    return sorted((await session.scalars(select(Region.code).where(Region.code.in_(wanted)))).all())


async def refresh_regions(
    session: AsyncSession,
    practitioner_ids: Iterable[int],
    region_codes: Iterable[str],
    as_of: dt.date,
    book: RuleBook | None = None,
) -> tuple[int, int]:
    """Judge these people again and re-sum these regions and every region above them (plus the
    regions the people count in, before and after); people of those regions not judged yet in
    this period are judged first. How many people were judged, how many regions summed."""
    book = book or await rule_book(session)
    ids = sorted(set(practitioner_ids))
    codes = {c for c in region_codes if c}
    for start in range(0, len(ids), CHUNK):
        # An import of a hundred thousand people queues them all: judged a chunk at a time, the
        # ids bound as one array (a parameter each would pass PostgreSQL's limit of 32,767).
        chunk = bindparam("ids", ids[start : start + CHUNK], type_=ARRAY(BigInteger))
        codes.update(
            c
            for c in (
                await session.scalars(
                    select(PractitionerOutcome.region_code).where(
                        PractitionerOutcome.practitioner_id == func.any(chunk)
                    )
                )
            ).all()
            if c
        )
        # A deleted person leaves nothing to judge: their outcome went with them (cascade).
        people = (await session.execute(_people().where(Practitioner.id == func.any(chunk)))).all()
        codes |= await judge(session, people, book, as_of)
    regions = await _existing(session, codes)
    judged = len(ids)
    for code in sorted(regions, key=lambda c: (level_of(c), c), reverse=True):
        lo, hi = subtree_bounds(code)
        judged += await _judge_where(
            session, book, as_of, _unjudged(as_of.year).where(Practitioner.region_code.between(lo, hi))
        )
    now = clock.now()
    for code in regions:
        await _store(session, code, as_of, now, await _region_tallies(session, code, as_of.year))
    return judged, len(regions)


async def refresh_all(session: AsyncSession, as_of: dt.date, *, commit: bool = True) -> tuple[int, int]:
    """Judge everyone, then sum every region with people or organizations (and those above)
    in one statement; regions no longer among them lose their row for the period."""
    book = await rule_book(session)
    judged = await _judge_where(session, book, as_of, _people())
    await session.execute(delete(PractitionerOutcome).where(PractitionerOutcome.period != as_of.year))
    if commit:
        await session.commit()
    sums = await session.execute(_ALL_TALLIES, {"period": as_of.year})
    tallies = {r[0]: {k: v for k, v in r._mapping.items() if k != "code"} for r in sums}
    places = set(tallies) | set((await session.scalars(select(Organization.region_code).distinct())).all())
    regions = await _existing(session, places)
    now = clock.now()
    for n, region in enumerate(regions, 1):
        await _store(session, region, as_of, now, tallies.get(region, {}))
        if commit and n % 50 == 0:
            await session.commit()
            session.expunge_all()
    await session.execute(
        delete(RegionSummary).where(RegionSummary.period == as_of.year, RegionSummary.refreshed_at < now)
    )
    if commit:
        await session.commit()
    return judged, len(regions)


# --- queueing -----------------------------------------------------------------------------------


async def queue_refresh(
    session: AsyncSession, *, kind: str = "delta", region_codes: list[str] | None = None, user_id: int | None = None
) -> None:
    """Queue a refresh unless the same is already queued (a full one covers everything)."""
    queued = select(SummaryRefresh.id).where(SummaryRefresh.status == "queued")
    if await session.scalar(queued.where(SummaryRefresh.kind == "full").limit(1)) is not None:
        return
    if kind == "delta" and region_codes:
        same = queued.where(SummaryRefresh.kind == "delta", SummaryRefresh.region_codes.contains(region_codes))
        if await session.scalar(same.limit(1)) is not None:
            return
    session.add(SummaryRefresh(kind=kind, region_codes=region_codes, created_by_id=user_id))


async def schedule_daily(session: AsyncSession, today: dt.date) -> bool:
    """Queue the day's full refresh unless one was queued today already (Beijing time; one
    process at a time decides, under an advisory lock). True when it queued one."""
    await session.execute(select(func.pg_advisory_xact_lock(0x5355_4D4D)))  # "SUMM"
    last = await session.scalar(
        select(func.max(SummaryRefresh.created_at)).where(
            SummaryRefresh.kind == "full", SummaryRefresh.status != "failed"
        )
    )
    if last is not None and last.astimezone(clock.CHINA).date() >= today:
        return False
    session.add(SummaryRefresh(kind="full"))
    return True


# --- reading ------------------------------------------------------------------------------------


async def summary_for(
    session: AsyncSession, actor: Actor, code: str, period: int
) -> tuple[Region, RegionSummary | None]:
    """The region and its summary row of the period (None: not made yet), for those who may
    read its figures."""
    region = await require_region(session, code, "code")
    if not actor.may_on("figures", region_code=code):
        raise Forbidden("该区划不在您的管辖范围内。", code="region_out_of_scope")
    return region, await session.get(RegionSummary, (code, period))


def figures_of(row: RegionSummary) -> RegionFigures:
    return RegionFigures.model_validate(row.figures)


def rates_of(row: RegionSummary) -> ComplianceRates:
    return ComplianceRates(
        region_code=row.region_code,
        as_of=row.as_of,
        ce_year=row.as_of.year,
        salary_year=row.as_of.year - 1,
        ce=Tally(met=row.ce_met, unmet=row.ce_unmet, undecided=row.ce_undecided),
        salary=Tally(met=row.salary_met, unmet=row.salary_unmet, undecided=row.salary_undecided),
    )


async def country_summary(
    session: AsyncSession, actor: Actor, period: int
) -> tuple[CountryFigures, dt.datetime] | None:
    """The whole country by province from the provinces' summary rows (None: no full refresh
    has run yet, so some provinces could be missing)."""
    if not actor.may("figures") or actor.region_roots("figures") is not None:
        raise Forbidden("只有系统管理员可以查看全国数据。", code="region_out_of_scope")
    full = select(SummaryRefresh.id).where(SummaryRefresh.kind == "full", SummaryRefresh.status == "done")
    if await session.scalar(full.limit(1)) is None:
        return None
    rows = (
        await session.execute(
            select(RegionSummary, Region.name)
            .join(Region, Region.code == RegionSummary.region_code)
            .where(RegionSummary.level == 1, RegionSummary.period == period)
        )
    ).all()
    if not rows:
        return None
    provinces = [
        ProvinceRow(
            region_code=s.region_code,
            region_name=name,
            practitioners=s.practitioners,
            in_post=s.in_post,
            certified=s.certified,
        )
        for s, name in rows
        if s.practitioners
    ]
    figures = CountryFigures(
        as_of=min(s.as_of for s, _ in rows), provinces=sorted(provinces, key=lambda r: -r.practitioners)
    )
    return figures, min(s.refreshed_at for s, _ in rows)
