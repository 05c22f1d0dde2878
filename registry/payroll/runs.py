"""A payroll run: reading one with the caller's scope, its states, and the small reads the
compute, the adjustments and the chain share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from registry import bounds
from registry.accounts.actor import Actor, Forbidden, region_code_scope
from registry.errors import Conflict, InvalidInput, NotFound
from registry.models import PayrollLine, PayrollRun

RUN_CONSTRAINTS = {
    "uq_payroll_run_region_code_month": lambda: Conflict(
        "该区划该月份已有发放批次；已关闭月份的更正请在以后月份的批次中添加补发/扣回行。",
        code="payroll_run_exists",
    )
}


def parse_month(value: str, field: str = "month") -> dt.date:
    try:
        year, month = (int(x) for x in value.split("-"))
        day = dt.date(year, month, 1)
    except ValueError:
        raise InvalidInput.on_field(field, "month_invalid", f"月份“{value}”无效，应为 YYYY-MM。") from None
    # Year 1 would be stored, and its previous month is -infinity to PostgreSQL.
    if problem := bounds.year_problem(field, year):
        raise InvalidInput(problem.message, code=problem.code, errors=[problem])
    return day


def run_where(run: PayrollRun) -> dict[str, Any]:
    return {"region_code": run.region_code}


async def get_run(session: AsyncSession, actor: Actor, run_id: int, *, for_update: bool = False) -> PayrollRun:
    stmt = select(PayrollRun).where(
        PayrollRun.id == run_id, region_code_scope(actor, PayrollRun.region_code, "payroll_read")
    )
    if for_update:
        stmt = stmt.with_for_update()
    run = (await session.scalars(stmt)).one_or_none()
    if run is None:
        raise NotFound(f"发放批次 {run_id} 不存在或不在您的管辖范围内。", code="payroll_run_not_found")
    return run


def require_state(run: PayrollRun, *states: str) -> None:
    if run.status not in states:
        labels = {"draft": "草稿", "submitted": "已提交", "approved": "已批准", "closed": "已关闭"}
        raise Conflict(
            f"发放批次当前为“{labels[run.status]}”状态，不能执行此操作。",
            code="payroll_run_state",
        )


def require_preparer(actor: Actor, run: PayrollRun) -> None:
    if not actor.may_on("payroll", region_code=run.region_code):
        raise Forbidden("只有该区划的津贴发放专员可以编制发放批次。")


async def refresh_totals(session: AsyncSession, run: PayrollRun) -> None:
    count, total = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(PayrollLine.amount), 0)).where(PayrollLine.run_id == run.id)
        )
    ).one()
    run.line_count = int(count)
    run.total_amount = Decimal(total)


async def previous_closed(session: AsyncSession, run: PayrollRun) -> PayrollRun | None:
    return (
        await session.scalars(
            select(PayrollRun)
            .where(
                PayrollRun.region_code == run.region_code, PayrollRun.status == "closed", PayrollRun.month < run.month
            )
            .order_by(PayrollRun.month.desc())
            .limit(1)
        )
    ).one_or_none()


def months_back(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 - count
    return dt.date(index // 12, index % 12 + 1, 1)


async def run_lines(session: AsyncSession, run_id: int) -> Sequence[PayrollLine]:
    # As stored: what the session holds from an earlier statement may differ (JSON numbers).
    return (
        await session.scalars(
            select(PayrollLine)
            .where(PayrollLine.run_id == run_id)
            .order_by(PayrollLine.seq)
            .execution_options(populate_existing=True)
        )
    ).all()
