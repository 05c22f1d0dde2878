"""Reference wages, practitioners' pay, and who is paid below the benchmark."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.accounts.actor import Actor, Forbidden, practitioner_scope
from registry.audit.service import about, record, snapshot
from registry.db import flush_or_raise
from registry.errors import Conflict, InvalidInput, NotFound, Problems
from registry.models import Practitioner, SalaryBenchmarkRow, SalaryRecordRow
from registry.organizations.service import get_organization
from registry.practitioners.service import get_practitioner
from registry.regions.service import require_region
from registry.rules import evaluate
from registry.rules.facts import load_facts
from registry.rules.service import rule_book
from registry.salaries.schemas import BenchmarkUpsert, SalaryCreate, SalaryReject, SalaryReport, SalaryReportLine

_CONSTRAINTS = {
    "uq_salary_record_practitioner_id_year": lambda: Conflict.on_field(
        "year", "salary_year_duplicate", "该年度薪酬已登记；如需更正请先驳回原记录或修改原记录。"
    )
}
# Verifying a rejected record again, when its correction has been submitted since.
_REVIVE_CONSTRAINTS = {
    "uq_salary_record_practitioner_id_year": lambda: Conflict(
        "该年度已有另一条未驳回的薪酬记录（更正后的记录），不能再核验这条已驳回的记录。",
        code="salary_year_duplicate",
    )
}


async def upsert_benchmark(session: AsyncSession, actor: Actor, data: BenchmarkUpsert) -> SalaryBenchmarkRow:
    if not actor.is_admin:
        raise Forbidden("只有系统管理员可以维护工资基准数据。")
    problems = Problems()
    if data.amount <= 0:
        problems.add("amount", "amount_not_positive", "工资基准必须大于 0。")
    if data.year > clock.today().year:
        problems.add("year", "year_future", "不能登记未来年度的工资基准。")
    problems.raise_if_any()
    await require_region(session, data.region_code, "region_code")
    before_row = (
        await session.scalars(
            select(SalaryBenchmarkRow).where(
                SalaryBenchmarkRow.region_code == data.region_code,
                SalaryBenchmarkRow.year == data.year,
                SalaryBenchmarkRow.basis == data.basis,
            )
        )
    ).one_or_none()
    before = snapshot(before_row) if before_row else None
    stmt = (
        insert(SalaryBenchmarkRow)
        .values(**data.model_dump())
        .on_conflict_do_update(
            index_elements=["region_code", "year", "basis"],
            set_={"amount": data.amount, "source": data.source, "updated_at": clock.now()},
        )
        .returning(SalaryBenchmarkRow.id)
    )
    row_id = (await session.execute(stmt)).scalar_one()
    row = await session.get(SalaryBenchmarkRow, row_id, populate_existing=True)
    assert row is not None
    await record(
        session,
        actor,
        "update" if before else "create",
        "salary_benchmark",
        row.id,
        before=before,
        after=snapshot(row),
        region_code=row.region_code,
    )
    return row


async def list_benchmarks(
    session: AsyncSession, *, region: str | None, year: int | None
) -> Sequence[SalaryBenchmarkRow]:
    stmt = select(SalaryBenchmarkRow).order_by(
        SalaryBenchmarkRow.region_code, SalaryBenchmarkRow.year, SalaryBenchmarkRow.basis
    )
    if region:
        # The region itself and its ancestors: the figures that would apply there.
        stmt = stmt.where(SalaryBenchmarkRow.region_code.in_({region, region[:4] + "00", region[:2] + "0000"}))
    if year:
        stmt = stmt.where(SalaryBenchmarkRow.year == year)
    return (await session.scalars(stmt)).all()


async def submit_salary(
    session: AsyncSession, actor: Actor, practitioner_id: int, data: SalaryCreate
) -> SalaryRecordRow:
    person = await get_practitioner(session, actor, practitioner_id, action="submit_salary", for_update=True)
    problems = Problems()
    if data.amount <= 0:
        problems.add("amount", "amount_not_positive", "薪酬金额必须大于 0。")
    if data.year > clock.today().year:
        problems.add("year", "year_future", "不能登记未来年度的薪酬。")
    if data.period == "monthly" and data.amount > Decimal("1000000"):
        problems.add("amount", "amount_implausible", "月薪超过 100 万元，请核对是否填成了年薪。")
    problems.raise_if_any()
    org_id = data.organization_id or person.organization_id
    if org_id is not None:
        await get_organization(session, actor, org_id)
    row = SalaryRecordRow(
        practitioner_id=person.id,
        year=data.year,
        amount=data.amount,
        period=data.period,
        organization_id=org_id,
        status="pending",
        submitted_by_id=actor.user_id,
    )
    session.add(row)
    await flush_or_raise(session, _CONSTRAINTS)
    await session.refresh(row)
    await record(session, actor, "create", "salary_record", row.id, after=snapshot(row), **about(person))
    return row


async def _scoped(session: AsyncSession, actor: Actor, record_id: int) -> tuple[SalaryRecordRow, Practitioner]:
    row = (
        await session.execute(
            select(SalaryRecordRow, Practitioner)
            .join(Practitioner, Practitioner.id == SalaryRecordRow.practitioner_id)
            .where(SalaryRecordRow.id == record_id, practitioner_scope(actor, "read"))
            .with_for_update(of=SalaryRecordRow)
        )
    ).first()
    if row is None:
        raise NotFound(f"薪酬记录 {record_id} 不存在或不在您的管辖范围内。", code="salary_record_not_found")
    return row[0], row[1]


async def decide_salary(
    session: AsyncSession, actor: Actor, record_id: int, reject: SalaryReject | None = None
) -> SalaryRecordRow:
    row, person = await _scoped(session, actor, record_id)
    if not actor.may_on("verify", region_code=person.region_code):
        raise Forbidden("只有辖区民政工作人员可以核验薪酬记录。")
    if row.submitted_by_id is not None and row.submitted_by_id == actor.user_id:
        raise Forbidden("不能核验自己提交的记录，请由其他工作人员核验。", code="own_submission")
    status = "rejected" if reject else "verified"
    if row.status == status:
        raise Conflict("该记录已是此状态。", code=f"salary_record_already_{status}")
    before = snapshot(row)
    row.status = status
    row.verified_by_id = actor.user_id
    row.verified_at = clock.now()
    row.rejection_reason = reject.reason.strip() if reject else None
    await flush_or_raise(session, _REVIVE_CONSTRAINTS)
    await session.refresh(row)
    action = "reject" if reject else "verify"
    await record(session, actor, action, "salary_record", row.id, before=before, after=snapshot(row), **about(person))
    return row


async def list_salaries(session: AsyncSession, actor: Actor, practitioner_id: int) -> Sequence[SalaryRecordRow]:
    person = await get_practitioner(session, actor, practitioner_id)
    return (
        await session.scalars(
            select(SalaryRecordRow).where(SalaryRecordRow.practitioner_id == person.id).order_by(SalaryRecordRow.year)
        )
    ).all()


async def organization_report(session: AsyncSession, actor: Actor, org_id: int, year: int) -> SalaryReport:
    """Who at the organization was paid below the benchmark in ``year``, and by how much."""
    org = await get_organization(session, actor, org_id)
    if year > clock.today().year:
        raise InvalidInput.on_field("year", "year_future", "不能查询未来年度。")
    book = await rule_book(session)
    people = (
        await session.scalars(
            select(Practitioner)
            .where(Practitioner.organization_id == org.id, practitioner_scope(actor, "read"))
            .order_by(Practitioner.id)
        )
    ).all()
    below: list[SalaryReportLine] = []
    compliant = not_judged = 0
    for person in people:
        facts = await load_facts(session, person)
        decision = evaluate.salary(facts, book, year)
        finding = decision.findings[0] if decision.findings else None
        if decision.outcome is True:
            compliant += 1
            continue
        if decision.outcome is None:
            not_judged += 1
            continue
        figures = finding.figures if finding else {}
        pay = facts.pay.get(year)
        spell = facts.spell_on(dt.date(year, 12, 31))
        below.append(
            SalaryReportLine(
                practitioner_id=person.id,
                name=person.name,
                post_type=spell.post_type if spell else None,
                annual_pay=pay.annual if pay else None,
                pay_status=pay.status if pay else None,
                threshold=Decimal(figures["threshold"].replace(",", "")) if "threshold" in figures else None,
                shortfall=Decimal(figures["gap"].replace(",", "")) if "gap" in figures else None,
                outcome=decision.outcome,
                rule_ref=finding.rule_ref if finding else None,
                explanation=finding.text if finding else decision.summary,
            )
        )
    below.sort(key=lambda line: -(line.shortfall or 0))
    return SalaryReport(
        organization_id=org.id,
        organization_name=org.name,
        year=year,
        below=below,
        compliant=compliant,
        not_judged=not_judged,
    )
