"""The vocabulary of policy evaluation: rules, a person's facts, findings and decisions.

Plain frozen dataclasses so that the evaluator stays a set of pure functions: the same facts
and rules always give the same decision, whoever asks and whenever.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from registry.regions.codes import in_subtree, prefix_of

LEVEL_RANK = {"assistant": 1, "intermediate": 2, "senior": 3}
EDUCATION_RANK = {"below_secondary": 0, "secondary": 1, "associate": 2, "bachelor": 3, "master": 4, "doctor": 5}


@dataclass(frozen=True)
class PolicyRule:
    id: str
    version: int
    kind: str
    title: str
    region_code: str | None  # None: nationwide
    effective_from: dt.date
    effective_to: dt.date | None
    params: Mapping[str, Any]
    issuer: str
    document_title: str
    document_number: str
    clause: str
    source: str
    trust: str
    note: str | None = None
    alias: str | None = None

    def in_force(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day <= self.effective_to)

    def covers_region(self, code: str | None) -> bool:
        if self.region_code is None:
            return True
        return code is not None and in_subtree(code, self.region_code)

    @functools.cached_property
    def specificity(self) -> int:
        return 0 if self.region_code is None else len(prefix_of(self.region_code))

    # Cached: every finding of every person judged carries both (a payroll run asks 300,000 times).
    @functools.cached_property
    def ref(self) -> str:
        return f"{self.id} v{self.version}" + (f"（{self.alias}）" if self.alias else "")

    @functools.cached_property
    def citation(self) -> str:
        return f"{self.issuer}《{self.document_title}》（{self.document_number}）{self.clause}"


class RuleBook:
    """The rules available for evaluation, with the catalogue's resolution order."""

    def __init__(self, rules: Iterable[PolicyRule]) -> None:
        self.rules = tuple(rules)
        # A payroll run asks the same few questions (one kind, ~100 counties, one day) for
        # every person; the book is immutable, so the answers are kept.
        self._chains: dict[tuple[str, str | None, dt.date], list[PolicyRule]] = {}
        # Findings that depend on a rule and a few values only (the evaluator's ``kept``): the
        # same for every person of a payroll run who is in the same post at the same employer,
        # or holds the same level. Keyed by the rules' ids in this book, which keeps them alive.
        self.memo: dict[tuple[object, ...], Any] = {}

    def chain(self, kind: str, region_code: str | None, day: dt.date) -> list[PolicyRule]:
        """Rules of ``kind`` in force on ``day`` that cover the region: for each rule id its
        highest version in force, most specific region first."""
        key = (kind, region_code, day)
        cached = self._chains.get(key)
        if cached is None:
            cached = self._chains[key] = self._chain(kind, region_code, day)
        return list(cached)

    def _chain(self, kind: str, region_code: str | None, day: dt.date) -> list[PolicyRule]:
        best: dict[tuple[str, str | None], PolicyRule] = {}
        for rule in self.rules:
            if rule.kind != kind or not rule.in_force(day) or not rule.covers_region(region_code):
                continue
            key = (rule.id, rule.region_code)
            if key not in best or best[key].version < rule.version:
                best[key] = rule
        return sorted(best.values(), key=lambda r: (-r.specificity, r.id))

    def resolve(self, kind: str, region_code: str | None, day: dt.date) -> PolicyRule | None:
        chain = self.chain(kind, region_code, day)
        return chain[0] if chain else None

    def find(self, rule_id: str, version: int) -> PolicyRule | None:
        return next((r for r in self.rules if r.id == rule_id and r.version == version), None)


# --- facts about one person -----------------------------------------------------------------------


@dataclass(frozen=True)
class Spell:
    organization_id: int
    region_code: str  # the employer's region
    post_type: str
    duty_level: str | None
    start: dt.date
    end: dt.date | None

    def covers(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)

    def overlaps(self, first: dt.date, last: dt.date) -> bool:
        return self.start <= last and (self.end is None or self.end >= first)


@dataclass(frozen=True)
class Period:
    """A dated fact of a certificate in force: a registration period (first or renewal), a
    suspension (open when ``end`` is None) or a cancellation (from ``start`` on, for good)."""

    kind: str  # registration / renewal / suspension / cancellation
    start: dt.date
    end: dt.date | None
    authority: str | None = None
    note: str | None = None

    def covers(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


REGISTRATION_KINDS = ("registration", "renewal")


@dataclass(frozen=True)
class Cert:
    id: int
    level: str
    number: str
    status: str
    # A single registration period (the shape before periods were rows); ``periods`` wins.
    registration_from: dt.date | None = None
    registration_to: dt.date | None = None
    # The day the authenticity was established; a certificate verified after a cut-off day is
    # not a verified certificate on that day. None: not known, taken as verified before any day.
    verified_on: dt.date | None = None
    periods: tuple[Period, ...] = ()

    @functools.cached_property
    def registrations(self) -> tuple[Period, ...]:
        found = [p for p in self.periods if p.kind in REGISTRATION_KINDS]
        if not self.periods and self.registration_from is not None and self.registration_to is not None:
            found = [Period("registration", self.registration_from, self.registration_to)]
        return tuple(sorted(found, key=lambda p: p.start))

    def registration_on(self, day: dt.date) -> Period | None:
        """The last registration (by start) running on the day. Loops written out: the evaluator
        asks this several times for each person of a payroll run."""
        running = None
        for p in self.registrations:
            if p.start <= day and (p.end is None or day <= p.end):
                running = p
        return running

    def hold_on(self, day: dt.date) -> Period | None:
        """The suspension or cancellation in force on the day, if any (a cancellation first)."""
        holds = [
            p
            for p in self.periods
            if p.kind in ("suspension", "cancellation") and p.start <= day and (p.end is None or day <= p.end)
        ]
        return min(holds, key=lambda p: (p.kind != "cancellation", p.start)) if holds else None

    def last_registration_before(self, day: dt.date) -> Period | None:
        ended = [p for p in self.registrations if p.end is not None and p.end < day]
        return max(ended, key=lambda p: p.end or p.start) if ended else None

    def entitled_on(self, day: dt.date) -> bool:
        """Verified (whenever), registered on the day and neither suspended nor cancelled then:
        what a late verification establishes for a past day."""
        return self.status == "verified" and self.registration_on(day) is not None and self.hold_on(day) is None

    def valid_on(self, day: dt.date) -> bool:
        """What held on the day: entitled, and the verification already established by then."""
        return self.entitled_on(day) and (self.verified_on is None or self.verified_on <= day)


@dataclass(frozen=True)
class CeRecord:
    day: dt.date
    hours: Decimal
    unit: str  # "学时" or "小时"
    category: str  # training / supervision / academic / other
    status: str = "verified"


@dataclass(frozen=True)
class Pay:
    year: int
    amount: Decimal
    period: str  # "annual" or "monthly"
    status: str = "verified"

    @property
    def annual(self) -> Decimal:
        return self.amount if self.period == "annual" else self.amount * 12


@dataclass(frozen=True)
class Benchmark:
    region_code: str
    year: int
    basis: str
    amount: Decimal  # yuan per year
    source: str = ""
    region_name: str = ""  # e.g. 株洲市: said with the code when the figure is a parent region's


@dataclass(frozen=True)
class AwardHeld:
    programme: str
    status: str  # nominated / approved / paid / rejected
    year: int | None = None


@dataclass(frozen=True)
class Facts:
    practitioner_id: int
    birth_date: dt.date
    education: str
    region_code: str | None  # current jurisdiction (used when no spell says otherwise)
    spells: tuple[Spell, ...] = ()
    certs: tuple[Cert, ...] = ()
    ce: tuple[CeRecord, ...] = ()
    pay: Mapping[int, Pay] = field(default_factory=dict)
    benchmarks: tuple[Benchmark, ...] = ()
    awards: tuple[AwardHeld, ...] = ()

    def spell_on(self, day: dt.date) -> Spell | None:
        """The spell covering the day that started last (the first of those in order)."""
        found = None
        for s in self.spells:
            if s.start <= day and (s.end is None or day <= s.end) and (found is None or s.start > found.start):
                found = s
        return found

    def region_on(self, day: dt.date) -> str | None:
        spell = self.spell_on(day)
        if spell is not None:
            return spell.region_code
        before = [s for s in self.spells if s.start <= day]
        if before:
            return max(before, key=lambda s: s.start).region_code
        return self.region_code


# --- what the evaluator says -----------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    rule_id: str
    version: int
    met: bool | None  # None: not applicable, in progress or no data
    text: str  # plain Chinese, for the clerk and the practitioner
    figures: Mapping[str, str]
    citation: str
    rule_ref: str = ""

    @classmethod
    def of(cls, rule: PolicyRule, met: bool | None, text: str, **figures: object) -> Finding:
        return cls(
            rule_id=rule.id,
            version=rule.version,
            met=met,
            text=text,
            figures={k: str(v) for k, v in figures.items()},
            citation=rule.citation,
            rule_ref=rule.ref,
        )


@dataclass(frozen=True)
class Decision:
    question: str  # allowance / ce / salary / award / qualification
    period: str  # "2026-11", "2026" or a date
    outcome: bool | None  # None: no rule applies here
    summary: str
    findings: tuple[Finding, ...]
    amount: Decimal | None = None
    subject: str | None = None  # e.g. the award programme
    # The certificate an allowance was judged on (what a payroll line names), not compared.
    cert: Cert | None = field(default=None, compare=False, repr=False)
