"""Monthly allowance payroll runs: creating a run, its states (submit, approval by a second
person, return, closing into the hash chain), and reading runs, lines and the diff against the
last run. The parts live beside this module:

- ``runs``: reading a run in the caller's scope, the state checks, what the others share;
- ``compute``: computing a run (set-based SQL, the evaluator, COPY);
- ``adjustments``: back pay and recovery for closed months, found or added by a clerk;
- ``chain``: what a closed run's hash covers, and checking the chain.

Callers use this module; it re-exports what they call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.accounts.actor import Actor, Forbidden, region_code_scope
from registry.audit.service import record, snapshot
from registry.db import flush_or_raise
from registry.errors import Conflict, InvalidInput
from registry.identity import mask_id_number
from registry.models import PayrollDropped, PayrollLine, PayrollRun, Region
from registry.payroll.adjustments import add_adjustment

# close() reads HASH_VERSION from this module (a test closes a run under an older format by
# setting it here).
from registry.payroll.chain import HASH_VERSION, chain_head, digest, verify_chain
from registry.payroll.chain import canonical as _canonical
from registry.payroll.compute import compute, compute_lines
from registry.payroll.runs import (
    RUN_CONSTRAINTS,
    get_run,
    parse_month,
    require_preparer,
    require_state,
    run_lines,
    run_where,
)
from registry.payroll.runs import run_lines as _lines
from registry.payroll.schemas import DiffEntry, LineRead, RunCreate, RunDiff, RunReturn
from registry.practitioners.service import get_practitioner
from registry.regions.codes import subtree_bounds
from registry.regions.service import require_region
from registry.rules import evaluate
from registry.schemas import LABELS

__all__ = [
    "HASH_VERSION",
    "_canonical",
    "_lines",
    "add_adjustment",
    "allowance_history",
    "approve",
    "close",
    "compute",
    "create_run",
    "delete_run",
    "diff",
    "get_run",
    "line_read",
    "list_lines",
    "list_runs",
    "parse_month",
    "prepare_export",
    "region_month_totals",
    "region_name",
    "return_run",
    "submit",
    "verify_chain",
]


async def create_run(session: AsyncSession, actor: Actor, data: RunCreate) -> PayrollRun:
    actor.require("payroll", "只有津贴发放专员可以创建发放批次。")
    month = parse_month(data.month)
    today = clock.today()
    if evaluate.month_end(month.year, month.month) >= today:
        # Eligibility is judged on the month's last day; before it has passed, nobody knows.
        raise InvalidInput.on_field("month", "month_future", "该月截止日（月末）尚未过去，不能创建发放批次。")
    await require_region(session, data.region_code, "region_code")
    if not actor.may_on("payroll", region_code=data.region_code):
        raise InvalidInput.on_field("region_code", "out_of_scope", f"区划 {data.region_code} 不在您的管辖范围内。")
    run = PayrollRun(
        region_code=data.region_code,
        month=month,
        cutoff=evaluate.month_end(month.year, month.month),
        status="draft",
        prepared_by_id=actor.user_id,
    )
    session.add(run)
    await flush_or_raise(session, RUN_CONSTRAINTS)
    await session.refresh(run)
    # One event for the new run: its state after the first computation, with what was computed.
    computed = await compute_lines(session, actor, run)
    await record(
        session, actor, "create", "payroll_run", run.id, after=snapshot(run), detail=computed, **run_where(run)
    )
    return run


# --- states ------------------------------------------------------------------------------------------


async def _transition(
    session: AsyncSession, actor: Actor, run: PayrollRun, action: str, to: str, **values: Any
) -> PayrollRun:
    before = snapshot(run)
    run.status = to
    for key, value in values.items():
        setattr(run, key, value)
    await session.flush()
    await session.refresh(run)
    await record(session, actor, action, "payroll_run", run.id, before=before, after=snapshot(run), **run_where(run))
    return run


async def submit(session: AsyncSession, actor: Actor, run_id: int) -> PayrollRun:
    run = await get_run(session, actor, run_id, for_update=True)
    require_preparer(actor, run)
    require_state(run, "draft")
    if run.computed_at is None:
        raise Conflict("发放批次尚未计算。", code="payroll_run_not_computed")
    return await _transition(
        session, actor, run, "submit", "submitted", submitted_by_id=actor.user_id, submitted_at=clock.now()
    )


async def _authors(session: AsyncSession, run: PayrollRun) -> set[int]:
    """Everyone whose work the run holds: who prepared it, computed its lines last, added any
    of its adjustment lines, and submitted it. (Lines of an earlier computation are gone.)"""
    writers = (
        await session.scalars(
            select(PayrollLine.created_by_id)
            .where(PayrollLine.run_id == run.id, PayrollLine.created_by_id.is_not(None))
            .distinct()
        )
    ).all()
    people = {run.prepared_by_id, run.computed_by_id, run.submitted_by_id, *writers}
    return {p for p in people if p is not None}


async def approve(session: AsyncSession, actor: Actor, run_id: int) -> PayrollRun:
    run = await get_run(session, actor, run_id, for_update=True)
    if not actor.may_on("approve_payroll", region_code=run.region_code):
        raise Forbidden("只有覆盖该区划的民政工作人员可以审批发放批次。")
    if actor.user_id is not None and actor.user_id in await _authors(session, run):
        raise Forbidden(
            "编制、计算、添加更正行或提交该批次的人员不能审批，请由另一位工作人员审批。", code="own_payroll_run"
        )
    require_state(run, "submitted")
    return await _transition(
        session, actor, run, "approve", "approved", approved_by_id=actor.user_id, approved_at=clock.now()
    )


async def return_run(session: AsyncSession, actor: Actor, run_id: int, data: RunReturn) -> PayrollRun:
    run = await get_run(session, actor, run_id, for_update=True)
    if not actor.may_on("approve_payroll", region_code=run.region_code):
        raise Forbidden("只有覆盖该区划的民政工作人员可以退回发放批次。")
    require_state(run, "submitted")
    return await _transition(
        session, actor, run, "return", "draft", returned_reason=data.reason, submitted_by_id=None, submitted_at=None
    )


async def delete_run(session: AsyncSession, actor: Actor, run_id: int) -> None:
    run = await get_run(session, actor, run_id, for_update=True)
    require_preparer(actor, run)
    require_state(run, "draft")
    before = snapshot(run)
    await session.execute(delete(PayrollRun).where(PayrollRun.id == run.id))
    await record(session, actor, "delete", "payroll_run", run_id, before=before, **run_where(run))


async def close(session: AsyncSession, actor: Actor, run_id: int) -> PayrollRun:
    run = await get_run(session, actor, run_id, for_update=True)
    if not (
        actor.may_on("payroll", region_code=run.region_code)
        or actor.may_on("approve_payroll", region_code=run.region_code)
    ):
        raise Forbidden("只有该区划的津贴发放专员或民政工作人员可以关闭批次。")
    require_state(run, "approved")
    # One region's closings are serialized, so the chain has no forks.
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("payroll:" + run.region_code))))
    head = await chain_head(session, run.region_code)
    previous_hash = head.content_hash if head else None
    # The header as stored (the row is locked), with the closer and the moment, which are part of
    # what is hashed: set them first, then hash.
    await session.refresh(run)
    run.closed_by_id = actor.user_id
    run.closed_at = clock.now()
    content_hash = await digest(session, run, previous_hash, HASH_VERSION)
    return await _transition(
        session,
        actor,
        run,
        "close",
        "closed",
        closed_by_id=run.closed_by_id,
        closed_at=run.closed_at,
        previous_hash=previous_hash,
        content_hash=content_hash,
        hash_version=HASH_VERSION,
    )


# --- reading -----------------------------------------------------------------------------------------


async def list_runs(
    session: AsyncSession, actor: Actor, *, region: str | None, status: str | None
) -> Sequence[PayrollRun]:
    stmt = select(PayrollRun).where(region_code_scope(actor, PayrollRun.region_code, "payroll_read"))
    if region:
        stmt = stmt.where(PayrollRun.region_code == region)
    if status:
        stmt = stmt.where(PayrollRun.status == status)
    return (await session.scalars(stmt.order_by(PayrollRun.month.desc(), PayrollRun.id.desc()).limit(200))).all()


async def region_name(session: AsyncSession, code: str) -> str | None:
    return await session.scalar(select(Region.full_name).where(Region.code == code))


def line_read(line: PayrollLine) -> LineRead:
    read = LineRead.model_validate(line)
    read.id_number_masked = mask_id_number(line.id_number)
    return read


async def list_lines(
    session: AsyncSession, actor: Actor, run_id: int, *, cursor: int | None, limit: int
) -> tuple[list[LineRead], int | None]:
    run = await get_run(session, actor, run_id)
    stmt = select(PayrollLine).where(PayrollLine.run_id == run.id).order_by(PayrollLine.seq).limit(limit + 1)
    if cursor is not None:
        stmt = stmt.where(PayrollLine.seq > cursor)
    lines = (await session.scalars(stmt)).all()
    next_cursor = lines[limit - 1].seq if len(lines) > limit else None
    return [line_read(x) for x in lines[:limit]], next_cursor


async def diff(session: AsyncSession, actor: Actor, run_id: int) -> RunDiff:
    run = await get_run(session, actor, run_id)
    current = {x.practitioner_id: x for x in await run_lines(session, run.id) if x.kind == "regular"}
    adjustments = [x for x in await run_lines(session, run.id) if x.kind == "adjustment"]
    previous = await session.get(PayrollRun, run.previous_run_id) if run.previous_run_id else None
    before = (
        {x.practitioner_id: x for x in await run_lines(session, previous.id) if x.kind == "regular"} if previous else {}
    )
    dropped = {
        d.practitioner_id: d
        for d in (await session.scalars(select(PayrollDropped).where(PayrollDropped.run_id == run.id))).all()
    }
    added = [
        DiffEntry(
            practitioner_id=pid,
            name=line.name,
            previous_amount=None,
            amount=line.amount,
            reason=f"新增：{LABELS.get(line.level, line.level)}，{line.basis}",
        )
        for pid, line in sorted(current.items())
        if pid not in before
    ]
    gone = [
        DiffEntry(
            practitioner_id=pid,
            name=line.name,
            previous_amount=line.amount,
            amount=None,
            reason=dropped[pid].reason if pid in dropped else "本月不符合发放条件。",
        )
        for pid, line in sorted(before.items())
        if pid not in current
    ]
    changed = []
    for pid, line in sorted(current.items()):
        old = before.get(pid)
        if old is None or old.amount == line.amount:
            continue
        why = []
        if old.level != line.level:
            why.append(f"证书等级由{LABELS.get(old.level, old.level)}变为{LABELS.get(line.level, line.level)}")
        if (old.rule_id, old.rule_version) != (line.rule_id, line.rule_version):
            why.append(f"适用规则由 {old.rule_id} v{old.rule_version} 变为 {line.rule_id} v{line.rule_version}")
        changed.append(
            DiffEntry(
                practitioner_id=pid,
                name=line.name,
                previous_amount=old.amount,
                amount=line.amount,
                reason="；".join(why) or "发放标准调整。",
            )
        )
    adj = [
        DiffEntry(practitioner_id=x.practitioner_id, name=x.name, previous_amount=None, amount=x.amount, reason=x.basis)
        for x in adjustments
    ]
    return RunDiff(
        run_id=run.id,
        previous_run_id=previous.id if previous else None,
        previous_month=previous.month if previous else None,
        added=added,
        dropped=gone,
        changed=changed,
        adjustments=adj,
    )


async def prepare_export(
    session: AsyncSession,
    actor: Actor,
    run_id: int,
    fmt: str,
    *,
    full_ids: bool,
    reason: str | None = None,
    list_kind: str = "payroll",
    layout: str | None = None,
) -> PayrollRun:
    """Check and record an export. Full ID numbers only for roles that may reveal them here and
    with a reason; such an export is recorded as a reveal (one row, with the reason). The
    bank-transfer list (``list_kind="bank"``) also holds the accounts: revealed as well."""
    run = await get_run(session, actor, run_id)
    if full_ids and not actor.may_on("reveal", region_code=run.region_code):
        raise Forbidden("您的角色不能导出完整身份证号。")
    if not (
        actor.may_on("payroll", region_code=run.region_code)
        or actor.may_on("approve_payroll", region_code=run.region_code)
        or actor.is_admin
    ):
        raise Forbidden("您的角色不能导出发放名单。")
    reason = (reason or "").strip()
    if full_ids and len(reason) < 2:
        raise InvalidInput.on_field(
            "reason", "reason_required", "导出完整身份证号须写明用途（如：报财务代发），至少 2 个字。"
        )
    detail: dict[str, Any] = {"format": fmt, "full_ids": full_ids, "lines": run.line_count}
    if full_ids:
        detail |= {"fields": ["id_number", "bank_account"] if list_kind == "bank" else ["id_number"], "reason": reason}
    if list_kind != "payroll":
        detail |= {"list": list_kind, "layout": layout}
    await record(
        session, actor, "reveal" if full_ids else "export", "payroll_run", run.id, detail=detail, **run_where(run)
    )
    return run


async def allowance_history(session: AsyncSession, actor: Actor, practitioner_id: int) -> list[dict[str, Any]]:
    """What was paid to a person in approved and closed runs, newest first (the person's page)."""
    await get_practitioner(session, actor, practitioner_id)
    rows = (
        await session.execute(
            select(
                PayrollLine.month,
                PayrollLine.kind,
                PayrollLine.corrects_month,
                PayrollLine.amount,
                PayrollLine.basis,
                PayrollRun.id.label("run_id"),
                PayrollRun.status,
            )
            .join(PayrollRun, PayrollRun.id == PayrollLine.run_id)
            .where(PayrollLine.practitioner_id == practitioner_id, PayrollRun.status.in_(("approved", "closed")))
            .order_by(PayrollLine.month.desc(), PayrollLine.id.desc())
            .limit(60)
        )
    ).all()
    return [r._asdict() for r in rows]


async def region_month_totals(session: AsyncSession, actor: Actor, code: str, months: int = 12) -> list[dict[str, Any]]:
    """Allowance paid per month by the region's approved and closed runs (the dashboard)."""
    lo, hi = subtree_bounds(code)
    rows = (
        await session.execute(
            select(PayrollRun.month, func.sum(PayrollRun.total_amount), func.sum(PayrollRun.line_count))
            .where(
                PayrollRun.region_code.between(lo, hi),
                PayrollRun.status.in_(("approved", "closed")),
                region_code_scope(actor, PayrollRun.region_code, "payroll_read"),
            )
            .group_by(PayrollRun.month)
            .order_by(PayrollRun.month.desc())
            .limit(months)
        )
    ).all()
    return [{"month": m, "total": total, "lines": lines} for m, total, lines in reversed(rows)]
