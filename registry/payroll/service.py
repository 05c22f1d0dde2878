"""Monthly allowance payroll runs: compute (set-based), review, approval by a second person,
closing into a hash chain, adjustments for past months, and the diff against the last run.

A run is computed with a few SQL statements over the region subtree and one pass of the pure
evaluator over the rows; the lines are written with COPY.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, and_, bindparam, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from registry import bounds, clock
from registry.accounts.actor import Actor, Forbidden, region_code_scope
from registry.audit.service import record, snapshot
from registry.certifications.history import certs_of, established_on, registered_over
from registry.db import flush_or_raise
from registry.errors import Conflict, InvalidInput, NotFound
from registry.identity import mask_id_number
from registry.models import (
    Certification,
    CertificationPeriod,
    Employment,
    Organization,
    PayrollDropped,
    PayrollLine,
    PayrollRun,
    Practitioner,
    Region,
)
from registry.payroll.schemas import AdjustmentCreate, ChainCheck, DiffEntry, LineRead, RunCreate, RunDiff, RunReturn
from registry.practitioners.service import get_practitioner
from registry.regions.codes import subtree_bounds
from registry.regions.service import require_region
from registry.rules import evaluate
from registry.rules.model import Decision, Facts, RuleBook, Spell
from registry.rules.service import rule_book
from registry.schemas import LABELS

_RUN_CONSTRAINTS = {
    "uq_payroll_run_region_code_month": lambda: Conflict(
        "该区划该月份已有发放批次；已关闭月份的更正请在以后月份的批次中添加补发/扣回行。",
        code="payroll_run_exists",
    )
}
LINE_COLUMNS = (
    "run_id",
    "seq",
    "kind",
    "practitioner_id",
    "name",
    "id_number",
    "level",
    "certificate_number",
    "organization_id",
    "organization_name",
    "region_code",
    "month",
    "amount",
    "rule_id",
    "rule_version",
    "basis",
    "findings",
    "corrects_month",
    "corrects_line_id",
    "reason",
    "created_by_id",
    "computed",
)


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


def _run_where(run: PayrollRun) -> dict[str, Any]:
    return {"region_code": run.region_code}


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
    await flush_or_raise(session, _RUN_CONSTRAINTS)
    await session.refresh(run)
    # One event for the new run: its state after the first computation, with what was computed.
    computed = await _compute(session, actor, run)
    await record(
        session, actor, "create", "payroll_run", run.id, after=snapshot(run), detail=computed, **_run_where(run)
    )
    return run


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


def _require_state(run: PayrollRun, *states: str) -> None:
    if run.status not in states:
        labels = {"draft": "草稿", "submitted": "已提交", "approved": "已批准", "closed": "已关闭"}
        raise Conflict(
            f"发放批次当前为“{labels[run.status]}”状态，不能执行此操作。",
            code="payroll_run_state",
        )


def _require_preparer(actor: Actor, run: PayrollRun) -> None:
    if not actor.may_on("payroll", region_code=run.region_code):
        raise Forbidden("只有该区划的津贴发放专员可以编制发放批次。")


# --- computing ---------------------------------------------------------------------------------------


async def _candidates(session: AsyncSession, run: PayrollRun) -> Any:
    """Practitioners in post on the cut-off day at an employer in the region who hold a verified
    certificate registered over that day, and those paid in the previous closed run of the
    region (to say why they dropped out).

    The certificate condition is a necessary one of every allowance rule (MCA-REG-3Y: no valid
    certificate, no allowance), taken loosely here (the evaluator still checks the day it was
    verified and everything else): it spares reading and judging the many in post who could not
    be paid anyway, about three in four of a province."""
    lo, hi = subtree_bounds(run.region_code)
    registered = (
        select(Certification.id)
        .where(
            Certification.practitioner_id == Employment.practitioner_id,
            Certification.verification_status == "verified",
            registered_over(run.cutoff),
        )
        .exists()
    )
    in_post = (
        select(Employment.practitioner_id)
        .join(Organization, Organization.id == Employment.organization_id)
        .where(
            Organization.region_code.between(lo, hi),
            Employment.in_post_from <= run.cutoff,
            or_(Employment.in_post_to.is_(None), Employment.in_post_to >= run.cutoff),
            registered,
        )
        .distinct()
    )
    if run.previous_run_id is not None:
        previous = select(PayrollLine.practitioner_id).where(
            PayrollLine.run_id == run.previous_run_id, PayrollLine.kind == "regular"
        )
        in_post = in_post.union(previous)  # type: ignore[assignment]
    return in_post.subquery("candidate")


async def _load(session: AsyncSession, run: PayrollRun) -> tuple[dict[int, Any], dict[int, Facts], dict[int, str]]:
    """Core rows, not ORM objects: this reads a whole province. The candidates are found once;
    the three reads then look them up by index (an array parameter, not one bind per person)."""
    ids = list((await session.scalars(select((await _candidates(session, run)).c.practitioner_id))).all())
    return await _load_people(session, ids)


async def _load_people(
    session: AsyncSession, ids: list[int]
) -> tuple[dict[int, Any], dict[int, Facts], dict[int, str]]:

    def wanted() -> Any:
        return func.unnest(bindparam("candidates", ids, type_=ARRAY(BigInteger))).table_valued("pid").render_derived()

    people_ids, spell_ids = wanted(), wanted()
    people = {
        p.id: p
        for p in (
            await session.execute(
                select(
                    Practitioner.id,
                    Practitioner.name,
                    Practitioner.id_number,
                    Practitioner.birth_date,
                    Practitioner.education,
                    Practitioner.region_code,
                ).join(people_ids, people_ids.c.pid == Practitioner.id)
            )
        ).all()
    }
    spells: dict[int, list[Spell]] = defaultdict(list)
    org_names: dict[int, str] = {}
    for row in (
        await session.execute(
            select(
                Employment.practitioner_id,
                Employment.organization_id,
                Organization.region_code,
                Organization.name,
                Employment.post_type,
                Employment.duty_level,
                Employment.in_post_from,
                Employment.in_post_to,
            )
            .join(Organization, Organization.id == Employment.organization_id)
            .join(spell_ids, spell_ids.c.pid == Employment.practitioner_id)
        )
    ).all():
        spells[row.practitioner_id].append(
            Spell(row.organization_id, row.region_code, row.post_type, row.duty_level, row.in_post_from, row.in_post_to)
        )
        org_names[row.organization_id] = row.name
    certs = await certs_of(session, list(people))
    facts = {
        pid: Facts(
            practitioner_id=pid,
            birth_date=p.birth_date,
            education=p.education,
            region_code=p.region_code,
            spells=tuple(spells[pid]),
            certs=tuple(certs.get(pid, ())),
        )
        for pid, p in people.items()
    }
    return people, facts, org_names


def _findings_json(decision: Decision) -> str:
    return json.dumps(
        [
            {
                "rule_ref": f.rule_ref,
                "rule_id": f.rule_id,
                "version": f.version,
                "met": f.met,
                "text": f.text,
                "citation": f.citation,
            }
            for f in decision.findings
        ],
        ensure_ascii=False,
    )


def _basis(decision: Decision) -> str:
    """依据: the rule, what was found and where it is written, on one line for the export."""
    first = decision.findings[0]
    met = "；".join(f.text.rstrip("。") for f in decision.findings if f.met)
    return f"{first.rule_ref}：{met}。{first.citation}"


async def compute(session: AsyncSession, actor: Actor, run_id: int) -> PayrollRun:
    run = await get_run(session, actor, run_id, for_update=True)
    _require_preparer(actor, run)
    _require_state(run, "draft")
    computed = await _compute(session, actor, run)
    await record(session, actor, "compute", "payroll_run", run.id, detail=computed, **_run_where(run))
    return run


async def _compute(session: AsyncSession, actor: Actor, run: PayrollRun) -> dict[str, Any]:
    """(Re)write the regular lines of a locked draft; returns what the audit event tells."""
    previous = await _previous_closed(session, run)
    run.previous_run_id = previous.id if previous else None
    await session.execute(
        delete(PayrollLine).where(
            PayrollLine.run_id == run.id, or_(PayrollLine.kind == "regular", PayrollLine.computed)
        )
    )
    await session.execute(delete(PayrollDropped).where(PayrollDropped.run_id == run.id))
    await session.flush()

    book = await rule_book(session)
    people, facts, org_names = await _load(session, run)
    lo, hi = subtree_bounds(run.region_code)
    year, month = run.month.year, run.month.month
    records: list[tuple[Any, ...]] = []
    decisions: dict[int, Decision] = {}
    versions: dict[str, int] = {}
    for pid in sorted(people):
        person, fact = people[pid], facts[pid]
        spell = fact.spell_on(run.cutoff)
        decision = evaluate.allowance(fact, book, year, month)
        decisions[pid] = decision
        if not decision.outcome or spell is None or not (lo <= spell.region_code <= hi):
            continue
        cert = evaluate.best_valid_cert(fact, run.cutoff)
        assert cert is not None
        assert decision.amount is not None
        rule = decision.findings[0]
        for f in decision.findings:
            versions[f.rule_id] = f.version
        records.append(
            (
                run.id,
                len(records) + 1,
                "regular",
                pid,
                person.name,
                person.id_number,
                cert.level,
                cert.number,
                spell.organization_id,
                org_names.get(spell.organization_id, ""),
                spell.region_code,
                run.month,
                decision.amount,
                rule.rule_id,
                rule.version,
                _basis(decision),
                _findings_json(decision),
                None,
                None,
                None,
                actor.user_id,
                True,
            )
        )
    back_pay = await _back_pay(session, actor, run, book, len(records))
    for computed_line in back_pay:
        versions[computed_line[13]] = computed_line[14]
    back_pay_rule = book.resolve("back_pay", run.region_code, run.cutoff)
    if back_pay and back_pay_rule is not None:
        versions[back_pay_rule.id] = back_pay_rule.version
    # A clerk's adjustment lines of the draft keep their place after the computed ones.
    await session.execute(
        update(PayrollLine)
        .where(PayrollLine.run_id == run.id, PayrollLine.kind == "adjustment")
        .values(seq=PayrollLine.id + 1_000_000_000)
    )
    await _copy_lines(session, records + back_pay)
    await _renumber_adjustments(session, run.id, len(records) + len(back_pay))

    if previous is not None:
        paid = {
            line.practitioner_id: line
            for line in (
                await session.scalars(
                    select(PayrollLine).where(PayrollLine.run_id == previous.id, PayrollLine.kind == "regular")
                )
            ).all()
        }
        now_paid = {r[3] for r in records}
        for pid, line in sorted(paid.items()):
            if pid in now_paid:
                continue
            dropped_decision = decisions.get(pid)
            if dropped_decision is None:
                reason = "截止日不在本区划任何单位在岗。"
                findings = "[]"
            else:
                failed = [f.text.rstrip("。") for f in dropped_decision.findings if f.met is False]
                reason = ("；".join(failed) + "。") if failed else dropped_decision.summary
                if dropped_decision.outcome and pid in people:
                    reason = "截止日所在单位不在本区划。"
                findings = _findings_json(dropped_decision)
            session.add(
                PayrollDropped(
                    run_id=run.id,
                    practitioner_id=pid,
                    name=line.name,
                    previous_amount=line.amount,
                    reason=reason,
                    findings=json.loads(findings),
                )
            )
    await _refresh_totals(session, run)
    run.rule_versions = versions
    run.computed_at = clock.now()
    run.computed_by_id = actor.user_id
    run.returned_reason = None
    await session.flush()
    await session.refresh(run)
    return {"lines": run.line_count, "total": str(run.total_amount), "rule_versions": versions}


async def _copy_lines(session: AsyncSession, records: list[tuple[Any, ...]]) -> None:
    if not records:
        return
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    try:
        await driver.copy_records_to_table("payroll_line", records=records, columns=LINE_COLUMNS)
    except Exception as exc:
        if "uq_payroll_line_practitioner_id_month_regular" in str(exc):
            detail = str(exc).split("DETAIL:")[-1].strip() if "DETAIL" in str(exc) else ""
            raise Conflict(
                "本批次中有人员已在另一个（区划重叠的）发放批次中领取了该月津贴，同一人每月只能发放一次。" + detail,
                code="payroll_person_already_paid",
            ) from None
        raise


async def _renumber_adjustments(session: AsyncSession, run_id: int, after: int) -> None:
    await session.execute(
        text(
            "UPDATE payroll_line l SET seq = :after + n.rn FROM ("
            " SELECT id, row_number() OVER (ORDER BY id) AS rn FROM payroll_line"
            " WHERE run_id = :run AND kind = 'adjustment' AND NOT computed) n WHERE l.id = n.id"
        ),
        {"after": after, "run": run_id},
    )


async def _refresh_totals(session: AsyncSession, run: PayrollRun) -> None:
    count, total = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(PayrollLine.amount), 0)).where(PayrollLine.run_id == run.id)
        )
    ).one()
    run.line_count = int(count)
    run.total_amount = Decimal(total)


async def _previous_closed(session: AsyncSession, run: PayrollRun) -> PayrollRun | None:
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


# --- back pay and recovery found by the run -----------------------------------------------------------


def months_back(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 - count
    return dt.date(index // 12, index % 12 + 1, 1)


async def _back_pay(
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
    people, facts, org_names = await _load_people(session, ids)
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
                text += _basis(owed) + why
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
            findings = json.loads(_findings_json(owed))
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


# --- adjustments -------------------------------------------------------------------------------------


async def add_adjustment(session: AsyncSession, actor: Actor, run_id: int, data: AdjustmentCreate) -> PayrollLine:
    """Back pay or recovery for a closed month: the evaluator's amount for that month minus
    what the closed runs paid. The amount is computed, never typed."""
    run = await get_run(session, actor, run_id, for_update=True)
    _require_preparer(actor, run)
    _require_state(run, "draft")
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
    facts, org_names = await _load_one(session, person.id)
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
    findings = _findings_json(decision) if decision else "[]"
    kind_text = "补发" if amount > 0 else "扣回"
    basis = f"{kind_text} {month:%Y-%m}：应发 {due} 元，已发 {paid} 元。" + (
        _basis(decision) if decision and decision.outcome else (decision.summary if decision else "")
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
    await _refresh_totals(session, run)
    await session.flush()
    await record(session, actor, "create", "payroll_line", line.id, after=snapshot(line), **_run_where(run))
    return line


async def _load_one(session: AsyncSession, practitioner_id: int) -> tuple[dict[int, Facts], dict[int, str]]:
    person = await session.get(Practitioner, practitioner_id)
    assert person is not None
    rows = (
        await session.execute(
            select(Employment, Organization.region_code, Organization.name)
            .join(Organization, Organization.id == Employment.organization_id)
            .where(Employment.practitioner_id == practitioner_id)
        )
    ).all()
    certs = (await certs_of(session, [practitioner_id])).get(practitioner_id, [])
    fact = Facts(
        practitioner_id=person.id,
        birth_date=person.birth_date,
        education=person.education,
        region_code=person.region_code,
        spells=tuple(
            Spell(e.organization_id, region, e.post_type, e.duty_level, e.in_post_from, e.in_post_to)
            for e, region, _ in rows
        ),
        certs=tuple(certs),
    )
    return {person.id: fact}, {e.organization_id: name for e, _, name in rows}


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
    await record(session, actor, action, "payroll_run", run.id, before=before, after=snapshot(run), **_run_where(run))
    return run


async def submit(session: AsyncSession, actor: Actor, run_id: int) -> PayrollRun:
    run = await get_run(session, actor, run_id, for_update=True)
    _require_preparer(actor, run)
    _require_state(run, "draft")
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
    _require_state(run, "submitted")
    return await _transition(
        session, actor, run, "approve", "approved", approved_by_id=actor.user_id, approved_at=clock.now()
    )


async def return_run(session: AsyncSession, actor: Actor, run_id: int, data: RunReturn) -> PayrollRun:
    run = await get_run(session, actor, run_id, for_update=True)
    if not actor.may_on("approve_payroll", region_code=run.region_code):
        raise Forbidden("只有覆盖该区划的民政工作人员可以退回发放批次。")
    _require_state(run, "submitted")
    return await _transition(
        session, actor, run, "return", "draft", returned_reason=data.reason, submitted_by_id=None, submitted_at=None
    )


async def delete_run(session: AsyncSession, actor: Actor, run_id: int) -> None:
    run = await get_run(session, actor, run_id, for_update=True)
    _require_preparer(actor, run)
    _require_state(run, "draft")
    before = snapshot(run)
    await session.execute(delete(PayrollRun).where(PayrollRun.id == run.id))
    await record(session, actor, "delete", "payroll_run", run_id, before=before, **_run_where(run))


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


def _canonical(
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


async def _lines(session: AsyncSession, run_id: int) -> Sequence[PayrollLine]:
    # As stored: what the session holds from an earlier statement may differ (JSON numbers).
    return (
        await session.scalars(
            select(PayrollLine)
            .where(PayrollLine.run_id == run_id)
            .order_by(PayrollLine.seq)
            .execution_options(populate_existing=True)
        )
    ).all()


async def _dropped(session: AsyncSession, run_id: int) -> Sequence[PayrollDropped]:
    return (
        await session.scalars(
            select(PayrollDropped)
            .where(PayrollDropped.run_id == run_id)
            .order_by(PayrollDropped.practitioner_id)
            .execution_options(populate_existing=True)
        )
    ).all()


async def _digest(session: AsyncSession, run: PayrollRun, previous_hash: str | None, version: int) -> str:
    lines = await _lines(session, run.id)
    dropped = await _dropped(session, run.id) if version >= 3 else ()
    return hashlib.sha256(_canonical(run, lines, previous_hash, version=version, dropped=dropped)).hexdigest()


async def _chain_head(session: AsyncSession, region_code: str) -> PayrollRun | None:
    return (
        await session.scalars(
            select(PayrollRun)
            .where(PayrollRun.region_code == region_code, PayrollRun.status == "closed")
            .order_by(PayrollRun.closed_at.desc(), PayrollRun.id.desc())
            .limit(1)
        )
    ).one_or_none()


async def close(session: AsyncSession, actor: Actor, run_id: int) -> PayrollRun:
    run = await get_run(session, actor, run_id, for_update=True)
    if not (
        actor.may_on("payroll", region_code=run.region_code)
        or actor.may_on("approve_payroll", region_code=run.region_code)
    ):
        raise Forbidden("只有该区划的津贴发放专员或民政工作人员可以关闭批次。")
    _require_state(run, "approved")
    # One region's closings are serialized, so the chain has no forks.
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext("payroll:" + run.region_code))))
    head = await _chain_head(session, run.region_code)
    previous_hash = head.content_hash if head else None
    # The header as stored (the row is locked), with the closer and the moment, which are part of
    # what is hashed: set them first, then hash.
    await session.refresh(run)
    run.closed_by_id = actor.user_id
    run.closed_at = clock.now()
    digest = await _digest(session, run, previous_hash, HASH_VERSION)
    return await _transition(
        session,
        actor,
        run,
        "close",
        "closed",
        closed_by_id=run.closed_by_id,
        closed_at=run.closed_at,
        previous_hash=previous_hash,
        content_hash=digest,
        hash_version=HASH_VERSION,
    )


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
        if await _digest(session, run, run.previous_hash, run.hash_version) != run.content_hash:
            return broken(run, "的发放明细与关闭时的哈希不符，可能被改动。")
        previous = run.content_hash
    return ChainCheck(region_code=region_code, runs_checked=len(runs), ok=True)


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
    current = {x.practitioner_id: x for x in await _lines(session, run.id) if x.kind == "regular"}
    adjustments = [x for x in await _lines(session, run.id) if x.kind == "adjustment"]
    previous = await session.get(PayrollRun, run.previous_run_id) if run.previous_run_id else None
    before = (
        {x.practitioner_id: x for x in await _lines(session, previous.id) if x.kind == "regular"} if previous else {}
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
        session, actor, "reveal" if full_ids else "export", "payroll_run", run.id, detail=detail, **_run_where(run)
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
