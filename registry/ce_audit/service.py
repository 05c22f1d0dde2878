"""Drawing a region's yearly CE audit sample, evidence, outcomes, and the report.

The drawing is a published procedure anyone can repeat: every practitioner of the region with a
verified CE record in the year is ranked by SHA-256 of ``seed|year|region|id`` and the first
``ceil(share × population)`` are drawn (at least one). The seed, the share, a digest of the
population and the people drawn, in order, are kept with the sample.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.accounts.actor import Actor, Forbidden
from registry.audit.service import about, record
from registry.ce_audit.struck import latest_outcomes
from registry.errors import Conflict, InvalidInput, NotFound
from registry.models import (
    CeAuditEvidence,
    CeAuditMember,
    CeAuditOutcome,
    CeAuditSample,
    CeRecordRow,
    Practitioner,
    Region,
    Reminder,
)
from registry.regions.codes import subtree_bounds
from registry.regions.service import require_region
from registry.reports.schemas import Tally
from registry.reports.service import compliance_rates
from registry.rules import evaluate
from registry.rules.facts import load_facts
from registry.rules.service import rule_book

DEFAULT_SHARE = Decimal("0.025")  # 2.5 % of the region's practitioners with verified CE that year
METHOD = "sha256(seed|year|region|practitioner_id) ascending; first ceil(share × population), at least one"
MAX_EVIDENCE_BYTES = 5 * 1024 * 1024
EVIDENCE_TYPES = {b"%PDF": "application/pdf", b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg"}
OUTCOME_LABELS = {"upheld": "属实", "struck": "不予认可"}


class SampleCreate(BaseModel):
    year: int = Field(ge=2000, le=2100)
    region_code: str = Field(min_length=6, max_length=6)
    seed: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_.-]+$")
    share: Decimal | None = Field(default=None, gt=0, le=1)


class OutcomeCreate(BaseModel):
    ce_record_id: int = Field(ge=1, le=2**63 - 1)
    outcome: str = Field(pattern="^(upheld|struck)$")
    reason: str | None = Field(default=None, max_length=500)


class AuditedRecord(BaseModel):
    id: int
    activity_date: dt.date
    course: str
    provider: str
    hours: Decimal
    unit: str
    evidence: int
    outcome: str | None
    outcome_label: str | None
    reason: str | None


class Member(BaseModel):
    practitioner_id: int
    name: str
    records: list[AuditedRecord]


class SampleRead(BaseModel):
    id: int
    year: int
    region_code: str
    region_name: str
    seed: str
    share: Decimal
    population: int
    drawn: list[int]
    method: str
    members: list[Member]


class SampleReport(BaseModel):
    sample_id: int
    year: int
    region_code: str
    region_name: str
    population: int
    sampled: int
    records: int
    upheld: int
    struck: int
    undecided: int
    struck_hours: dict[str, Decimal]
    region_ce: Tally  # the region's CE compliance for the year, with struck hours left out


def rank(seed: str, year: int, region_code: str, practitioner_id: int) -> str:
    return hashlib.sha256(f"{seed}|{year}|{region_code}|{practitioner_id}".encode()).hexdigest()


def draw(population: Sequence[int], seed: str, year: int, region_code: str, share: Decimal) -> list[int]:
    if not population:
        return []
    size = max(1, math.ceil(len(population) * share))
    return sorted(population, key=lambda pid: rank(seed, year, region_code, pid))[:size]


async def population(session: AsyncSession, year: int, region_code: str) -> list[int]:
    lo, hi = subtree_bounds(region_code)
    rows = await session.scalars(
        select(Practitioner.id)
        .where(
            Practitioner.region_code.between(lo, hi),
            select(CeRecordRow.id)
            .where(
                CeRecordRow.practitioner_id == Practitioner.id,
                CeRecordRow.status == "verified",
                CeRecordRow.activity_date.between(dt.date(year, 1, 1), dt.date(year, 12, 31)),
            )
            .exists(),
        )
        .order_by(Practitioner.id)
    )
    return list(rows.all())


def _digest(ids: Sequence[int]) -> str:
    return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()


async def draw_sample(session: AsyncSession, actor: Actor, data: SampleCreate) -> SampleRead:
    region = await require_region(session, data.region_code, "region_code")
    if not actor.may_on("verify", region_code=region.code):
        raise Forbidden("只有该地区的民政工作人员可以抽查继续教育。")
    if data.year > clock.today().year:
        raise InvalidInput.on_field("year", "ce_audit_year_future", "只能抽查本年度或以前年度的继续教育。")
    taken = await session.scalar(
        select(CeAuditSample.id).where(CeAuditSample.year == data.year, CeAuditSample.region_code == region.code)
    )
    if taken is not None:
        raise Conflict(
            f"{region.full_name} {data.year} 年的抽查已抽取（第 {taken} 号），不能重抽。", code="ce_audit_exists"
        )
    seed = data.seed or secrets.token_hex(8)
    share = data.share or DEFAULT_SHARE
    people = await population(session, data.year, region.code)
    drawn = draw(people, seed, data.year, region.code, share)
    sample = CeAuditSample(
        year=data.year,
        region_code=region.code,
        seed=seed,
        share=share,
        population=len(people),
        drawing={"method": METHOD, "population_sha256": _digest(people), "drawn": drawn},
        drawn_by_id=actor.user_id,
    )
    session.add(sample)
    await session.flush()
    session.add_all(CeAuditMember(sample_id=sample.id, practitioner_id=pid) for pid in drawn)
    await _remind(session, sample, drawn)
    await record(
        session,
        actor,
        "draw",
        "ce_audit_sample",
        sample.id,
        after={"year": data.year, "seed": seed, "share": str(share), "population": len(people), "drawn": drawn},
        region_code=region.code,
    )
    await session.flush()
    return await get_sample(session, actor, sample.id)


async def _remind(session: AsyncSession, sample: CeAuditSample, drawn: list[int]) -> None:
    """Each person drawn is told in the app (and by email with the day's reminders)."""
    if not drawn:
        return
    found = await session.execute(select(Practitioner.id, Practitioner.region_code).where(Practitioner.id.in_(drawn)))
    regions = {row.id: row.region_code for row in found}
    today = clock.today()
    rows = [
        {
            "key": f"CE-AUDIT:{sample.id}:{pid}",
            "rule_id": "CE-AUDIT",
            "event": "ce_audit",
            "audience": "practitioner",
            "practitioner_id": pid,
            "region_code": regions.get(pid),
            "title": f"您被抽中 {sample.year} 年继续教育抽查",
            "message": (
                f"您 {sample.year} 年已核验的继续教育记录被随机抽中核查。请在“我的档案”页面为每条记录上传证明材料"
                "（结业证书、签到表、发票等的照片或 PDF）。"
            ),
            "due_date": today + dt.timedelta(days=30),
            "day": today,
        }
        for pid in drawn
    ]
    await session.execute(insert(Reminder).values(rows).on_conflict_do_nothing(index_elements=["key"]))


async def _sample(session: AsyncSession, actor: Actor, sample_id: int, action: str = "read") -> CeAuditSample:
    sample = await session.get(CeAuditSample, sample_id)
    if sample is None or not actor.may_on(action, region_code=sample.region_code):
        if sample is not None and actor.may_on("read", region_code=sample.region_code):
            raise Forbidden("您的角色无权执行此操作。")
        raise NotFound("没有这次抽查。", code="ce_audit_not_found")
    return sample


async def _records(session: AsyncSession, sample: CeAuditSample, pids: Sequence[int]) -> list[Any]:
    """The members' verified CE records of the year, with evidence counts and latest outcomes."""
    latest = latest_outcomes().subquery()
    evidence = (
        select(func.count())
        .where(CeAuditEvidence.ce_record_id == CeRecordRow.id)
        .correlate(CeRecordRow)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(CeRecordRow, evidence.label("evidence"), latest.c.outcome, latest.c.reason)
        .outerjoin(latest, latest.c.ce_record_id == CeRecordRow.id)
        .where(
            CeRecordRow.practitioner_id.in_(pids),
            CeRecordRow.status == "verified",
            CeRecordRow.activity_date.between(dt.date(sample.year, 1, 1), dt.date(sample.year, 12, 31)),
        )
        .order_by(CeRecordRow.practitioner_id, CeRecordRow.activity_date, CeRecordRow.id)
    )
    return list(rows.all())


def _audited(row: Any) -> AuditedRecord:
    r = row[0]
    return AuditedRecord(
        id=r.id,
        activity_date=r.activity_date,
        course=r.course,
        provider=r.provider,
        hours=r.hours,
        unit=r.unit,
        evidence=row.evidence,
        outcome=row.outcome,
        outcome_label=OUTCOME_LABELS.get(row.outcome or ""),
        reason=row.reason,
    )


async def get_sample(session: AsyncSession, actor: Actor, sample_id: int) -> SampleRead:
    sample = await _sample(session, actor, sample_id)
    members = (
        await session.execute(
            select(Practitioner.id, Practitioner.name)
            .join(CeAuditMember, CeAuditMember.practitioner_id == Practitioner.id)
            .where(CeAuditMember.sample_id == sample.id)
            .order_by(Practitioner.id)
        )
    ).all()
    rows = await _records(session, sample, [m.id for m in members])
    region = await session.get(Region, sample.region_code)
    return SampleRead(
        id=sample.id,
        year=sample.year,
        region_code=sample.region_code,
        region_name=region.full_name if region else sample.region_code,
        seed=sample.seed,
        share=sample.share,
        population=sample.population,
        drawn=list(sample.drawing["drawn"]),
        method=str(sample.drawing["method"]),
        members=[
            Member(
                practitioner_id=m.id,
                name=m.name,
                records=[_audited(row) for row in rows if row[0].practitioner_id == m.id],
            )
            for m in members
        ],
    )


async def _member_record(
    session: AsyncSession, sample: CeAuditSample, ce_record_id: int
) -> tuple[CeAuditMember, CeRecordRow, Practitioner]:
    row = (
        await session.execute(
            select(CeAuditMember, CeRecordRow, Practitioner)
            .join(CeRecordRow, CeRecordRow.practitioner_id == CeAuditMember.practitioner_id)
            .join(Practitioner, Practitioner.id == CeAuditMember.practitioner_id)
            .where(
                CeAuditMember.sample_id == sample.id,
                CeRecordRow.id == ce_record_id,
                CeRecordRow.status == "verified",
                CeRecordRow.activity_date.between(dt.date(sample.year, 1, 1), dt.date(sample.year, 12, 31)),
            )
        )
    ).first()
    if row is None:
        raise NotFound("该记录不在这次抽查之内。", code="ce_audit_record_not_sampled")
    return row[0], row[1], row[2]


async def add_evidence(
    session: AsyncSession, actor: Actor, sample_id: int, ce_record_id: int, filename: str, content: bytes
) -> AuditedRecord:
    sample = await session.get(CeAuditSample, sample_id)
    if sample is None:
        raise NotFound("没有这次抽查。", code="ce_audit_not_found")
    member, ce, person = await _member_record(session, sample, ce_record_id)
    if actor.own_practitioner_id != person.id and not actor.may_on(
        "write", region_code=person.region_code, organization_id=person.organization_id
    ):
        raise NotFound("没有这次抽查。", code="ce_audit_not_found")
    if not content:
        raise InvalidInput.on_field("file", "evidence_empty", "请选择要上传的证明材料。")
    if len(content) > MAX_EVIDENCE_BYTES:
        raise InvalidInput.on_field("file", "evidence_too_large", "证明材料不能超过 5 MB，请压缩后重新上传。")
    kind = next((t for magic, t in EVIDENCE_TYPES.items() if content.startswith(magic)), None)
    if kind is None:
        raise InvalidInput.on_field("file", "evidence_type", "证明材料须为 PDF、JPEG 或 PNG 文件。")
    name = "".join(ch for ch in filename if ch.isprintable() and ch not in "\\/\x00")[-200:] or "证明材料"
    session.add(
        CeAuditEvidence(
            member_id=member.id,
            ce_record_id=ce.id,
            filename=name,
            content_type=kind,
            data=content,
            uploaded_by_id=actor.user_id,
        )
    )
    await session.flush()
    await record(
        session, actor, "evidence", "ce_record", ce.id, detail={"sample_id": sample.id, "file": name}, **about(person)
    )
    [row] = [r for r in await _records(session, sample, [person.id]) if r[0].id == ce.id]
    return _audited(row)


async def _ce_outcome(session: AsyncSession, person: Practitioner, year: int) -> bool | None:
    facts = await load_facts(session, person)
    day = min(dt.date(year, 12, 31), clock.today())
    return evaluate.continuing_education(facts, await rule_book(session), year, day).outcome


async def decide(session: AsyncSession, actor: Actor, sample_id: int, data: OutcomeCreate) -> AuditedRecord:
    sample = await _sample(session, actor, sample_id, "verify")
    member, ce, person = await _member_record(session, sample, data.ce_record_id)
    reason = (data.reason or "").strip()
    if data.outcome == "struck" and not reason:
        raise InvalidInput.on_field("reason", "reason_required", "不予认可须填写理由。")
    before = await _ce_outcome(session, person, sample.year)
    session.add(
        CeAuditOutcome(
            member_id=member.id,
            ce_record_id=ce.id,
            outcome=data.outcome,
            reason=reason or None,
            decided_by_id=actor.user_id,
        )
    )
    await session.flush()
    after = await _ce_outcome(session, person, sample.year)
    await record(
        session,
        actor,
        "audit_" + data.outcome,
        "ce_record",
        ce.id,
        after={"outcome": data.outcome, "reason": reason or None, "hours": str(ce.hours), "unit": ce.unit},
        detail={"sample_id": sample.id, "year": sample.year, "ce_decision_before": before, "ce_decision_after": after},
        **about(person),
    )
    [row] = [r for r in await _records(session, sample, [person.id]) if r[0].id == ce.id]
    return _audited(row)


async def report(session: AsyncSession, actor: Actor, sample_id: int) -> SampleReport:
    read = await get_sample(session, actor, sample_id)
    records = [r for m in read.members for r in m.records]
    struck_hours: dict[str, Decimal] = {}
    for r in records:
        if r.outcome == "struck":
            struck_hours[r.unit] = struck_hours.get(r.unit, Decimal(0)) + r.hours
    as_of = min(dt.date(read.year, 12, 31), clock.today())
    rates = await compliance_rates(session, actor, read.region_code, as_of)
    return SampleReport(
        sample_id=read.id,
        year=read.year,
        region_code=read.region_code,
        region_name=read.region_name,
        population=read.population,
        sampled=len(read.members),
        records=len(records),
        upheld=sum(r.outcome == "upheld" for r in records),
        struck=sum(r.outcome == "struck" for r in records),
        undecided=sum(r.outcome is None for r in records),
        struck_hours=struck_hours,
        region_ce=rates.ce,
    )


async def samples_for_person(session: AsyncSession, practitioner_id: int) -> list[dict[str, Any]]:
    """The practitioner's own audits, for /me: each sample with their records."""
    samples = (
        await session.scalars(
            select(CeAuditSample)
            .join(CeAuditMember, CeAuditMember.sample_id == CeAuditSample.id)
            .where(CeAuditMember.practitioner_id == practitioner_id)
            .order_by(CeAuditSample.year.desc())
        )
    ).all()
    return [
        {"sample": s, "records": [_audited(r) for r in await _records(session, s, [practitioner_id])]} for s in samples
    ]


class SampleSummary(BaseModel):
    id: int
    year: int
    region_code: str
    region_name: str
    population: int
    sampled: int
    drawn_at: dt.datetime


async def list_samples(session: AsyncSession, actor: Actor) -> list[SampleSummary]:
    roots = actor.region_roots("read")
    stmt = (
        select(CeAuditSample, Region.full_name, func.jsonb_array_length(CeAuditSample.drawing["drawn"]))
        .join(Region, Region.code == CeAuditSample.region_code)
        .order_by(CeAuditSample.year.desc(), CeAuditSample.region_code)
        .limit(500)
    )
    if roots is not None:
        if not roots:
            return []
        stmt = stmt.where(or_(*(CeAuditSample.region_code.between(*subtree_bounds(r)) for r in roots)))
    return [
        SampleSummary(
            id=s.id,
            year=s.year,
            region_code=s.region_code,
            region_name=name,
            population=s.population,
            sampled=n,
            drawn_at=s.drawn_at,
        )
        for s, name, n in (await session.execute(stmt)).all()
    ]
