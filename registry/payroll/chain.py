"""The hash chain of a region's closed runs: what is hashed (the canonical form, by format),
and checking the chain. Closing itself is a state change (``service.close``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor, Forbidden
from registry.models import PayrollDropped, PayrollLine, PayrollRun
from registry.payroll.runs import run_lines
from registry.payroll.schemas import ChainCheck

HASH_VERSION = 3


def _instant(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def _line_fields(line: PayrollLine, version: int) -> list[Any]:
    fields: list[Any] = [
        line.seq,
        line.kind,
        line.practitioner_id,
        line.id_number,
        line.name,
        line.level,
        line.certificate_number,
        line.organization_id,
        line.region_code,
        line.month.isoformat(),
        str(line.amount),
        line.rule_id,
        line.rule_version,
        line.corrects_month.isoformat() if line.corrects_month else None,
        line.corrects_line_id,
    ]
    if version >= 2:
        # What the export and the reader show besides: the unit's name, 依据 and the reason.
        fields += [line.organization_name, line.basis, line.reason]
    if version >= 3:
        # Every other stored field: the findings a page prints, who wrote the line, its id
        # (what an adjustment's corrects_line_id points at), computed or added by a clerk.
        fields += [line.id, line.findings, line.created_by_id, line.computed]
    return fields


def _run_fields(run: PayrollRun, version: int) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": run.id,
        "region_code": run.region_code,
        "month": run.month.isoformat(),
        "cutoff": run.cutoff.isoformat(),
        "approved_by_id": run.approved_by_id,
        "rule_versions": run.rule_versions,
    }
    if version >= 3:
        # Who did what and when, and the figures the header shows.
        fields |= {
            "prepared_by_id": run.prepared_by_id,
            "computed_by_id": run.computed_by_id,
            "computed_at": _instant(run.computed_at),
            "submitted_by_id": run.submitted_by_id,
            "submitted_at": _instant(run.submitted_at),
            "approved_at": _instant(run.approved_at),
            "closed_by_id": run.closed_by_id,
            "closed_at": _instant(run.closed_at),
            "returned_reason": run.returned_reason,
            "line_count": run.line_count,
            "total_amount": str(run.total_amount),
            "previous_run_id": run.previous_run_id,
            "created_at": _instant(run.created_at),
        }
    return fields


def _dropped_fields(dropped: Sequence[PayrollDropped]) -> list[list[Any]]:
    return [[d.practitioner_id, d.name, str(d.previous_amount), d.reason, d.findings] for d in dropped]


def canonical(
    run: PayrollRun,
    lines: Sequence[PayrollLine],
    previous_hash: str | None,
    *,
    version: int | None = None,
    dropped: Sequence[PayrollDropped] = (),
) -> bytes:
    """What a closed run's hash is taken over; closing and verify_chain both use this. The
    format is the run's own (``hash_version``): runs closed under formats 1 and 2 keep verifying.
    Format 3 covers every stored field of the header and the lines that a person reads or that
    says who did what, and who was dropped from the previous run and why."""
    version = run.hash_version if version is None else version
    body: dict[str, Any] = {
        "run": _run_fields(run, version),
        "lines": [_line_fields(line, version) for line in lines],
        "previous_hash": previous_hash,
    }
    if version >= 2:
        body["hash_version"] = version
    if version >= 3:
        body["dropped"] = _dropped_fields(dropped)
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


async def dropped_of(session: AsyncSession, run_id: int) -> Sequence[PayrollDropped]:
    return (
        await session.scalars(
            select(PayrollDropped)
            .where(PayrollDropped.run_id == run_id)
            .order_by(PayrollDropped.practitioner_id)
            .execution_options(populate_existing=True)
        )
    ).all()


async def digest(session: AsyncSession, run: PayrollRun, previous_hash: str | None, version: int) -> str:
    lines = await run_lines(session, run.id)
    dropped = await dropped_of(session, run.id) if version >= 3 else ()
    return hashlib.sha256(canonical(run, lines, previous_hash, version=version, dropped=dropped)).hexdigest()


async def chain_head(session: AsyncSession, region_code: str) -> PayrollRun | None:
    return (
        await session.scalars(
            select(PayrollRun)
            .where(PayrollRun.region_code == region_code, PayrollRun.status == "closed")
            .order_by(PayrollRun.closed_at.desc(), PayrollRun.id.desc())
            .limit(1)
        )
    ).one_or_none()


async def verify_chain(session: AsyncSession, actor: Actor, region_code: str) -> ChainCheck:
    if not actor.may_on("payroll_read", region_code=region_code):
        raise Forbidden("该区划不在您的管辖范围内。")
    # A hashed run that is no longer 'closed' has left the chain: that is a break too.
    runs = (
        await session.scalars(
            select(PayrollRun)
            .where(
                PayrollRun.region_code == region_code,
                (PayrollRun.status == "closed") | PayrollRun.content_hash.is_not(None),
            )
            .order_by(PayrollRun.closed_at, PayrollRun.id)
            .execution_options(populate_existing=True)
        )
    ).all()

    def broken(run: PayrollRun, what: str) -> ChainCheck:
        return ChainCheck(
            region_code=region_code,
            runs_checked=len(runs),
            ok=False,
            broken_run_id=run.id,
            problem=f"批次 {run.id}（{run.month:%Y-%m}）{what}",
        )

    previous: str | None = None
    for run in runs:
        if run.status != "closed":
            return broken(run, "已关闭并计入哈希链，却不再是“已关闭”状态，可能被改动。")
        if run.previous_hash != previous:
            return broken(run, "记录的上一哈希与链上前一批次不符。")
        if await digest(session, run, run.previous_hash, run.hash_version) != run.content_hash:
            return broken(run, "的发放明细与关闭时的哈希不符，可能被改动。")
        previous = run.content_hash
    return ChainCheck(region_code=region_code, runs_checked=len(runs), ok=True)
