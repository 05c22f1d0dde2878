"""Corrections of closed months: the back pay and recovery a computation finds by itself
(REG-BACKPAY-12M), and the adjustment line a clerk adds to a draft. Closed runs are never
touched: a correction is a line of a later run."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor
from registry.audit.service import record, snapshot
from registry.certifications.history import established_on
from registry.errors import Conflict, InvalidInput
from registry.models import Certification, CertificationPeriod, Employment, Organization, PayrollLine, PayrollRun
from registry.payroll.facts import basis_of, findings_json, load_one, load_people
from registry.payroll.runs import (
    get_run,
    months_back,
    parse_month,
    refresh_totals,
    require_preparer,
    require_state,
    run_where,
)
from registry.payroll.schemas import AdjustmentCreate
from registry.practitioners.service import get_practitioner
from registry.regions.codes import subtree_bounds
from registry.rules import evaluate
from registry.rules.model import RuleBook
from registry.rules.service import rule_book


async def back_pay(
    session: AsyncSession, actor: Actor, run: PayrollRun, book: RuleBook, after: int
) -> list[tuple[Any, ...]]:
    """Adjustment lines for the closed months of the look-back window (REG-BACKPAY-12M):

    - back pay for a month the person was entitled to (a valid certificate, registered, neither
      suspended nor cancelled, in post) but not paid because the verification was recorded
      after its cut-off day;
    - recovery of a month paid whose certificate is now found not valid then (a registration
      corrected or withdrawn, a suspension, a cancellation or a rejection recorded since).

    Months paid or being corrected elsewhere (a closed line, an open run's line, a clerk's
    adjustment) are left alone, so that a second run never pays a month twice. Closed runs
    are not touched: their lines and hashes stay as closed."""
    rule = book.resolve("back_pay", run.region_code, run.cutoff)
    if rule is None:
        return []
    window = int(rule.params.get("months", 12))
    first = months_back(run.month, window)
    closed = {
        r.month: r
        for r in (
            await session.scalars(
                select(PayrollRun).where(
                    PayrollRun.region_code == run.region_code,
                    PayrollRun.status == "closed",
                    PayrollRun.month >= first,
                    PayrollRun.month < run.month,
                )
            )
        ).all()
    }
    if not closed:
        return []
    lo, hi = subtree_bounds(run.region_code)
    earliest = min(r.cutoff for r in closed.values())
    established = established_on()
    late = (
        select(Certification.practitioner_id)
        .join(Employment, Employment.practitioner_id == Certification.practitioner_id)
        .join(Organization, Organization.id == Employment.organization_id)
        .where(
            Certification.verification_status == "verified",
            established > earliest,
            Organization.region_code.between(lo, hi),
            Employment.in_post_from <= run.cutoff,
            or_(Employment.in_post_to.is_(None), Employment.in_post_to >= first),
        )
    )
    # Paid in a closed month of the window, holding a certificate with something that may take
    # a paid month back: a rejection, a suspension, a cancellation or a corrected period.
    questioned = or_(
        Certification.verification_status == "rejected",
        select(CertificationPeriod.id)
        .where(
            CertificationPeriod.certification_id == Certification.id,
            or_(
                CertificationPeriod.kind.in_(("suspension", "cancellation")),
                CertificationPeriod.replaces_id.is_not(None),
            ),
        )
        .exists(),
    )
    changed = (
        select(PayrollLine.practitioner_id)
        .join(Certification, Certification.practitioner_id == PayrollLine.practitioner_id)
        .where(
            PayrollLine.run_id.in_([r.id for r in closed.values()]),
            PayrollLine.kind == "regular",
            questioned,
        )
    )
    ids = sorted(set((await session.scalars(late.union(changed))).all()))
    if not ids:
        return []
    people, facts, org_names = await load_people(session, ids)
    # Every line of these people for the window's months, in any run.
    paid: dict[tuple[int, dt.date], Decimal] = defaultdict(Decimal)
    open_elsewhere: set[tuple[int, dt.date]] = set()
    paid_line: dict[tuple[int, dt.date], int] = {}
    for row in (
        await session.execute(
            select(
                PayrollLine.id,
                PayrollLine.practitioner_id,
                PayrollLine.kind,
                func.coalesce(PayrollLine.corrects_month, PayrollLine.month).label("for_month"),
                PayrollLine.amount,
                PayrollLine.run_id,
                PayrollRun.status,
            )
            .join(PayrollRun, PayrollRun.id == PayrollLine.run_id)
            .where(
                PayrollLine.practitioner_id.in_(ids),
                func.coalesce(PayrollLine.corrects_month, PayrollLine.month) >= first,
            )
        )
    ).all():
        key = (row.practitioner_id, row.for_month)
        if row.status == "closed":
            paid[key] += row.amount
            if row.kind == "regular":
                paid_line[key] = row.id
        else:
            open_elsewhere.add(key)  # a draft's line (this run's own are a clerk's)
    out: list[tuple[Any, ...]] = []
    for pid in ids:
        fact, person = facts.get(pid), people.get(pid)
        if fact is None or person is None:
            continue
        pending = any(c.status == "pending" for c in fact.certs)
        for month in sorted(closed):
            cutoff = closed[month].cutoff
            spell = fact.spell_on(cutoff)
            key = (pid, month)
            if spell is None or not (lo <= spell.region_code <= hi) or key in open_elsewhere:
                continue
            owed = evaluate.allowance(fact, book, month.year, month.month, entitled=True)
            due = owed.amount if owed.outcome and owed.amount is not None else Decimal(0)
            before = paid.get(key, Decimal(0))
            cert = evaluate.best_valid_cert(fact, cutoff, entitled=True)
            if due > 0 and before == 0:
                if evaluate.allowance(fact, book, month.year, month.month).outcome:
                    continue  # owed then as now, yet unpaid: a clerk's adjustment says why
                assert cert is not None
                why = (
                    f"证书于 {cert.verified_on} 核验，晚于 {month:%Y-%m} 的截止日 {cutoff}；"
                    f"登记有效、在岗，依 {rule.ref} 在回溯期（{window} 个月）内补发。"
                )
                amount, reason, text = due, "迟延核验补发", f"补发 {month:%Y-%m}：应发 {due} 元，已发 0 元。"
                text += basis_of(owed) + why
            elif before > 0 and cert is None and not pending:
                failed = [f.text.rstrip("。") for f in owed.findings if f.met is False]
                why = f"已发月份经查证书登记无效，依 {rule.ref} 扣回。"
                amount, reason = -before, "登记无效扣回"
                text = f"扣回 {month:%Y-%m}：应发 0 元，已发 {before} 元。" + "；".join(failed) + "。" + why
            else:
                continue
            await session.execute(
                select(func.pg_advisory_xact_lock(func.hashtext(f"payroll-adjustment:{pid}:{month:%Y-%m}")))
            )
            findings = json.loads(findings_json(owed))
            findings.append(
                {
                    "rule_ref": rule.ref,
                    "rule_id": rule.id,
                    "version": rule.version,
                    "met": True,
                    "text": why,
                    "citation": rule.citation,
                }
            )
            first_finding = owed.findings[0] if owed.findings else None
            out.append(
                (
                    run.id,
                    after + len(out) + 1,
                    "adjustment",
                    pid,
                    person.name,
                    person.id_number,
                    cert.level if cert else "",
                    cert.number if cert else "",
                    spell.organization_id,
                    org_names.get(spell.organization_id, ""),
                    spell.region_code,
                    run.month,
                    amount,
                    first_finding.rule_id if first_finding else rule.id,
                    first_finding.version if first_finding else rule.version,
                    text,
                    json.dumps(findings, ensure_ascii=False),
                    month,
                    paid_line.get(key),
                    reason,
                    actor.user_id,
                    True,
                )
            )
    return out


async def add_adjustment(session: AsyncSession, actor: Actor, run_id: int, data: AdjustmentCreate) -> PayrollLine:
    """Back pay or recovery for a closed month: the evaluator's amount for that month minus
    what the closed runs paid. The amount is computed, never typed."""
    run = await get_run(session, actor, run_id, for_update=True)
    require_preparer(actor, run)
    require_state(run, "draft")
    month = parse_month(data.corrects_month, "corrects_month")
    if month >= run.month:
        raise InvalidInput.on_field("corrects_month", "month_not_past", "只能更正本批次月份之前的月份。")
    closed = (
        await session.scalars(
            select(PayrollRun).where(
                PayrollRun.region_code == run.region_code, PayrollRun.month == month, PayrollRun.status == "closed"
            )
        )
    ).one_or_none()
    if closed is None:
        raise InvalidInput.on_field(
            "corrects_month", "month_not_closed", "该月份在本区划没有已关闭的发放批次；未关闭的批次请直接重新计算。"
        )
    # Only someone the clerk may see, and who worked in the run's region on that month's cut-off.
    person = await get_practitioner(session, actor, data.practitioner_id)
    facts, org_names = await load_one(session, person.id)
    book = await rule_book(session)
    fact = facts.get(person.id)
    then = fact.spell_on(closed.cutoff) if fact else None
    lo, hi = subtree_bounds(run.region_code)
    if then is None or not (lo <= then.region_code <= hi):
        raise InvalidInput.on_field(
            "practitioner_id",
            "out_of_scope",
            f"{month:%Y-%m} 截止日该社工不在本区划的单位在岗，不能在本批次中更正。",
        )
    # What was owed, knowing what is known now (a verification recorded late counts back to the
    # month it established, as the run's own back pay does).
    decision = evaluate.allowance(fact, book, month.year, month.month, entitled=True) if fact else None
    due = decision.amount if decision and decision.outcome and decision.amount is not None else Decimal(0)
    # What was paid for the month is read under a lock on the person's corrections, so that two
    # clerks adding the same back pay to two drafts at once see each other's line.
    #
    # Not a unique index on (practitioner_id, corrects_month) of adjustment lines: a month may
    # rightly be corrected again after the first correction was closed (a certificate revoked
    # later, say), and whether a line is still open is the state of its run, another table. So
    # the service checks, in one transaction per person and month at a time: the lock is held
    # until commit, and each statement after it sees what the other transaction committed.
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext(f"payroll-adjustment:{person.id}:{month:%Y-%m}")))
    )
    open_line = (
        await session.execute(
            select(PayrollLine.run_id, PayrollLine.kind)
            .join(PayrollRun, PayrollRun.id == PayrollLine.run_id)
            .where(
                PayrollLine.practitioner_id == person.id,
                PayrollRun.status != "closed",
                or_(
                    and_(PayrollLine.kind == "adjustment", PayrollLine.corrects_month == month),
                    # An overlapping region's run of that month, not yet closed, paying them.
                    and_(PayrollLine.kind == "regular", PayrollLine.month == month),
                ),
            )
            .order_by(PayrollLine.run_id != run.id, PayrollLine.run_id)
            .limit(1)
        )
    ).first()
    if open_line is not None and open_line.run_id == run.id:
        raise Conflict("本批次已有该人员该月份的更正行。", code="adjustment_exists")
    if open_line is not None:
        raise Conflict(
            f"该社工 {month:%Y-%m} 的"
            + ("更正" if open_line.kind == "adjustment" else "津贴")
            + f"已在批次 {open_line.run_id} 中（尚未关闭），请在该批次处理；该批次关闭后如仍有差额再更正。",
            code="adjustment_pending",
        )
    paid_rows = (
        await session.execute(
            select(PayrollLine.id, PayrollLine.amount, PayrollLine.kind)
            .join(PayrollRun, PayrollRun.id == PayrollLine.run_id)
            .where(
                PayrollLine.practitioner_id == person.id,
                PayrollRun.status == "closed",
                or_(
                    and_(PayrollLine.kind == "regular", PayrollLine.month == month),
                    and_(PayrollLine.kind == "adjustment", PayrollLine.corrects_month == month),
                ),
            )
        )
    ).all()
    paid = sum((r.amount for r in paid_rows), Decimal(0))
    amount = due - paid
    if amount == 0:
        raise InvalidInput.on_field(
            "practitioner_id",
            "nothing_to_correct",
            f"{month:%Y-%m} 应发 {due} 元，已发 {paid} 元，无需更正。",
        )
    regular = next((r.id for r in paid_rows if r.kind == "regular"), None)
    cert = evaluate.best_valid_cert(fact, closed.cutoff, entitled=True) if fact else None
    spell = fact.spell_on(closed.cutoff) if fact else None
    findings = findings_json(decision) if decision else "[]"
    kind_text = "补发" if amount > 0 else "扣回"
    basis = f"{kind_text} {month:%Y-%m}：应发 {due} 元，已发 {paid} 元。" + (
        basis_of(decision) if decision and decision.outcome else (decision.summary if decision else "")
    )
    seq = (
        int(
            await session.scalar(
                select(func.coalesce(func.max(PayrollLine.seq), 0)).where(PayrollLine.run_id == run.id)
            )
            or 0
        )
        + 1
    )
    line = PayrollLine(
        run_id=run.id,
        seq=seq,
        kind="adjustment",
        practitioner_id=person.id,
        name=person.name,
        id_number=person.id_number,
        level=cert.level if cert else "",
        certificate_number=cert.number if cert else "",
        organization_id=spell.organization_id if spell else None,
        organization_name=org_names.get(spell.organization_id, "") if spell else "",
        region_code=spell.region_code if spell else (person.region_code or run.region_code),
        month=run.month,
        amount=amount,
        rule_id=decision.findings[0].rule_id if decision and decision.findings else "",
        rule_version=decision.findings[0].version if decision and decision.findings else 0,
        basis=basis,
        findings=json.loads(findings),
        corrects_month=month,
        corrects_line_id=regular,
        reason=data.reason.strip(),
        created_by_id=actor.user_id,
    )
    session.add(line)
    await session.flush()
    await refresh_totals(session, run)
    await session.flush()
    await record(session, actor, "create", "payroll_line", line.id, after=snapshot(line), **run_where(run))
    return line
