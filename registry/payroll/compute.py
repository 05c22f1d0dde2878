"""Computing a run: the candidates found with a few SQL statements over the region subtree, one
pass of the pure evaluator over their facts, the lines written with COPY, and who dropped out
since the previous closed run and why."""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from sqlalchemy import delete, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.accounts.actor import Actor
from registry.audit.service import record
from registry.certifications.history import registered_over
from registry.errors import Conflict
from registry.models import Certification, Employment, Organization, PayrollDropped, PayrollLine, PayrollRun
from registry.payroll.adjustments import back_pay
from registry.payroll.facts import basis_of, findings_json, load_people
from registry.payroll.runs import get_run, previous_closed, refresh_totals, require_preparer, require_state, run_where
from registry.regions.codes import subtree_bounds
from registry.rules import evaluate
from registry.rules.model import Decision, Facts, RuleBook
from registry.rules.service import rule_book

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
    return await load_people(session, ids)


async def compute(session: AsyncSession, actor: Actor, run_id: int) -> PayrollRun:
    run = await get_run(session, actor, run_id, for_update=True)
    require_preparer(actor, run)
    require_state(run, "draft")
    computed = await compute_lines(session, actor, run)
    await record(session, actor, "compute", "payroll_run", run.id, detail=computed, **run_where(run))
    return run


_gc_pauses = {"count": 0, "was_enabled": True}


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a run is computed. A province's facts are
    some half a million objects that all live until the end of the run, and the collector's
    full passes over them while they are built took as long again as building them (100,000
    people: 1.7 s of CPU read with it paused, 3.5 s without). Reference counting still frees
    whatever is dropped; cycles made meanwhile (by other requests too) are collected once it
    resumes, when the last run computing in this process ends."""
    if _gc_pauses["count"] == 0:
        _gc_pauses["was_enabled"] = gc.isenabled()
        gc.disable()
    _gc_pauses["count"] += 1
    try:
        yield
    finally:
        _gc_pauses["count"] -= 1
        if _gc_pauses["count"] == 0 and _gc_pauses["was_enabled"]:
            gc.enable()


async def compute_lines(session: AsyncSession, actor: Actor, run: PayrollRun) -> dict[str, Any]:
    """(Re)write the regular lines of a locked draft; returns what the audit event tells."""
    with gc_paused():
        return await _compute_lines(session, actor, run)


async def _compute_lines(session: AsyncSession, actor: Actor, run: PayrollRun) -> dict[str, Any]:
    previous = await previous_closed(session, run)
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
    # A clerk's adjustment lines of the draft keep their place after the computed ones: out of
    # the way of the new numbers first, renumbered at the end.
    await session.execute(
        update(PayrollLine)
        .where(PayrollLine.run_id == run.id, PayrollLine.kind == "adjustment")
        .values(seq=PayrollLine.id + 1_000_000_000)
    )
    records: list[tuple[Any, ...]] = []
    decisions: dict[int, Decision] = {}
    versions: dict[str, int] = {}
    # Judged while PostgreSQL writes: the lines stream into one COPY as they are judged, so the
    # server inserts and indexes the first lines on the other core while this one judges the rest.
    await _copy_lines(session, _regular_lines(run, actor, book, people, facts, org_names, records, decisions, versions))
    back_pay_lines = await back_pay(session, actor, run, book, len(records))
    for computed_line in back_pay_lines:
        versions[computed_line[13]] = computed_line[14]
    back_pay_rule = book.resolve("back_pay", run.region_code, run.cutoff)
    if back_pay_lines and back_pay_rule is not None:
        versions[back_pay_rule.id] = back_pay_rule.version
    await _copy_lines(session, back_pay_lines)
    await _renumber_adjustments(session, run.id, len(records) + len(back_pay_lines))

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
                findings = findings_json(dropped_decision)
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
    await refresh_totals(session, run)
    run.rule_versions = versions
    run.computed_at = clock.now()
    run.computed_by_id = actor.user_id
    run.returned_reason = None
    await session.flush()
    await session.refresh(run)
    return {"lines": run.line_count, "total": str(run.total_amount), "rule_versions": versions}


async def _regular_lines(
    run: PayrollRun,
    actor: Actor,
    book: RuleBook,
    people: dict[int, Any],
    facts: dict[int, Facts],
    org_names: dict[int, str],
    records: list[tuple[Any, ...]],
    decisions: dict[int, Decision],
    versions: dict[str, int],
) -> AsyncIterator[tuple[Any, ...]]:
    """Each candidate judged in turn; a paid one's line is yielded (and kept in ``records``),
    the decision on each one not paid is kept in ``decisions`` (to say why someone dropped out;
    the paid ones' are not kept: 100,000 decisions are a million objects)."""
    lo, hi = subtree_bounds(run.region_code)
    # Plain locals: the run's ORM attributes would be looked up through SQLAlchemy per person.
    run_id, run_month, cutoff, user_id = run.id, run.month, run.cutoff, actor.user_id
    year, month = run_month.year, run_month.month
    for pid in sorted(people):
        person, fact = people[pid], facts[pid]
        decision = evaluate.allowance(fact, book, year, month)
        spell = fact.spell_on(cutoff) if decision.outcome else None
        if spell is None or not (lo <= spell.region_code <= hi):
            decisions[pid] = decision  # why they are not paid (if the previous run paid them)
            continue
        cert = decision.cert  # the best valid certificate on the cut-off day, as judged
        assert cert is not None
        assert decision.amount is not None
        rule = decision.findings[0]
        for f in decision.findings:
            versions[f.rule_id] = f.version
        line = (
            run_id,
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
            run_month,
            decision.amount,
            rule.rule_id,
            rule.version,
            basis_of(decision),
            findings_json(decision),
            None,
            None,
            None,
            user_id,
            True,
        )
        records.append(line)
        yield line


async def _copy_lines(session: AsyncSession, records: list[tuple[Any, ...]] | AsyncIterator[tuple[Any, ...]]) -> None:
    if isinstance(records, list) and not records:
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
        if getattr(exc, "constraint_name", None) == "payroll_line_references":
            raise Conflict(
                "计算期间有社工、单位或账号的记录被删除，请重新计算本批次。", code="payroll_reference_gone"
            ) from None
        raise


async def _renumber_adjustments(session: AsyncSession, run_id: int, after: int) -> None:
    """The draft's adjustment lines numbered on after the computed ones, in the order they were
    made: read by the run's index, then each written by its primary key.

    Not one ``UPDATE … FROM (numbered adjustments)``: after a run's lines were deleted and the
    table vacuumed, its statistics can say it is empty (no rows on pages it still has) while this
    compute has just written 100,000 lines; the planner then put the table on the outer side and
    numbered the adjustments again for each of its lines (found on the all-paid benchmark's second
    run: over nine minutes, until cancelled). Read by index and written by key, no plan can be
    quadratic."""
    ids = (
        await session.scalars(
            select(PayrollLine.id)
            .where(PayrollLine.run_id == run_id, PayrollLine.kind == "adjustment", PayrollLine.computed.is_(False))
            .order_by(PayrollLine.id)
        )
    ).all()
    if ids:
        await session.execute(
            text("UPDATE payroll_line SET seq = :seq WHERE id = :id"),
            [{"seq": after + n, "id": line_id} for n, line_id in enumerate(ids, start=1)],
        )
