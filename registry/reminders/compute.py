"""One day's reminders from the catalogue's ``reminder`` rules: set-based reads, one row per
reminder with a unique key, so that a reminder is made once however often the day is computed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from registry import clock
from registry.certifications.history import in_force, registered_over
from registry.models import CeRecordRow, Certification, CertificationPeriod, PayrollRun, Practitioner, Reminder
from registry.rules import evaluate
from registry.rules.facts import load_facts_many
from registry.rules.model import Finding, PolicyRule, RuleBook
from registry.rules.service import rule_book
from registry.schemas import LABELS

CHUNK = 1000


@dataclass(frozen=True)
class Draft:
    key: str
    rule: PolicyRule
    audience: str
    title: str
    message: str
    practitioner_id: int | None = None
    region_code: str | None = None
    action: str | None = None
    due_date: dt.date | None = None


def _on_day(column: Any) -> Any:
    """A timestamp's civil date in China, as SQL."""
    return func.date(func.timezone(str(clock.CHINA), column))


def _registration_end(day: dt.date) -> Any:
    """SQL: the last day of the certificate's registration period in force on ``day``."""
    reg = aliased(CertificationPeriod)
    return (
        select(func.max(reg.end_date))
        .where(
            reg.certification_id == Certification.id,
            reg.kind.in_(("registration", "renewal")),
            reg.start_date <= day,
            reg.end_date >= day,
            in_force(reg),
        )
        .scalar_subquery()
    )


async def registration_ends(session: AsyncSession, rule: PolicyRule, day: dt.date) -> list[Draft]:
    """Certificates registered today whose period ends within the window and is not followed by
    a renewal (read from the certificate's periods in force)."""
    within, more_than = int(rule.params["within_days"]), int(rule.params["more_than_days"])
    ends = _registration_end(day)
    rows = await session.execute(
        select(Certification.id, Certification.level, Certification.certificate_number)
        .add_columns(ends.label("ends"), Practitioner.id.label("pid"), Practitioner.region_code)
        .join(Practitioner, Practitioner.id == Certification.practitioner_id)
        .where(
            Certification.verification_status == "verified",
            registered_over(day),
            ends.between(day + dt.timedelta(days=more_than + 1), day + dt.timedelta(days=within)),
            ~registered_over(day + dt.timedelta(days=within + 1)),
        )
    )
    drafts = []
    for r in rows:
        if r.ends is None:
            continue
        left = (r.ends - day).days
        drafts.append(
            Draft(
                key=f"{rule.id}:{r.id}:{r.ends}",
                rule=rule,
                audience="practitioner",
                practitioner_id=r.pid,
                region_code=r.region_code,
                due_date=r.ends,
                title=f"证书登记将于 {r.ends} 到期",
                message=(
                    f"您的{LABELS[r.level]}证书（编号 {r.certificate_number}）登记有效期至 {r.ends}，"
                    f"还有 {left} 天。请在有效期届满前向登记机关申请再登记；再登记须完成规定的继续教育。"
                ),
            )
        )
    return drafts


async def ce_shortfall(session: AsyncSession, rule: PolicyRule, book: RuleBook, day: dt.date) -> list[Draft]:
    month, dom = (int(part) for part in str(rule.params["from"]).split("-"))
    if day < dt.date(day.year, month, dom):
        return []
    # CE requirements bind holders of a certificate in force: only they are evaluated.
    people = (
        await session.scalars(
            select(Practitioner)
            .where(
                Practitioner.id.in_(
                    select(Certification.practitioner_id).where(
                        Certification.verification_status == "verified", registered_over(day)
                    )
                ),
                ~select(Reminder.id)
                .where(Reminder.key == func.concat(f"{rule.id}:", Practitioner.id, f":{day.year}"))
                .exists(),
            )
            .order_by(Practitioner.id)
        )
    ).all()
    drafts = []
    for start in range(0, len(people), CHUNK):
        chunk = people[start : start + CHUNK]
        facts = await load_facts_many(session, chunk)
        for person in chunk:
            decision = evaluate.continuing_education(facts[person.id], book, day.year, day)
            gaps = _gaps(decision.findings, book, day)
            if not gaps:
                continue
            due = min(deadline for _, deadline in gaps)
            drafts.append(
                Draft(
                    key=f"{rule.id}:{person.id}:{day.year}",
                    rule=rule,
                    audience="practitioner",
                    practitioner_id=person.id,
                    region_code=person.region_code,
                    due_date=due,
                    title=f"{day.year} 年继续教育时数尚未达标",
                    message=(
                        f"您的继续教育{'；'.join(text for text, _ in gaps)}。"
                        f"请在 {due.month} 月 {due.day} 日前完成并提交记录，以免影响登记和津贴。"
                    ),
                )
            )
    return drafts


# Requirements judged on the calendar year (deadline 31 December) and on a registration period
# (deadline its last day, reminded only in the year it ends).
def _num(value: Decimal) -> str:
    return f"{value.normalize():f}"


YEARLY = ("ce_annual", "ce_supervision_training", "ce_cumulative")


def _gaps(findings: Sequence[Finding], book: RuleBook, day: dt.date) -> list[tuple[str, dt.date]]:
    gaps = []
    for f in findings:
        rule = book.find(f.rule_id, f.version)
        if f.met is True or rule is None:
            continue
        if rule.kind in YEARLY:
            deadline = dt.date(day.year, 12, 31)
        elif rule.kind == "ce_cycle" and "period_to" in f.figures:
            deadline = dt.date.fromisoformat(f.figures["period_to"])
            if deadline.year != day.year or deadline < day:
                continue
        else:
            continue
        if "hours" in f.figures and "required" in f.figures:
            unit = f.figures.get("unit", "")
            got, need = Decimal(f.figures["hours"]), Decimal(f.figures["required"])
            if need <= got:
                continue
            gaps.append(
                (f"已核验 {_num(got)} {unit}，要求不少于 {_num(need)} {unit}，尚差 {_num(need - got)} {unit}", deadline)
            )
        else:
            gaps.append((f.text.rstrip("。"), deadline))
    return gaps


async def _waiting(
    session: AsyncSession, rule: PolicyRule, day: dt.date, model: Any, status: Any, title: str, what: Any
) -> list[Draft]:
    """Staff reminders for rows of ``model`` still pending ``days`` after they were entered;
    ``what(row, entered)`` says which row, in words."""
    days = int(rule.params["days"])
    entered = _on_day(model.created_at)
    rows = await session.execute(
        select(model, entered.label("entered"), Practitioner.name, Practitioner.region_code)
        .join(Practitioner, Practitioner.id == model.practitioner_id)
        .where(status == "pending", entered <= day - dt.timedelta(days=days))
    )
    return [
        Draft(
            key=f"{rule.id}:{row[0].id}",
            rule=rule,
            audience="staff",
            action="verify",
            region_code=row.region_code,
            title=title.format(days=days),
            message=f"{what(row[0], row.name, row.entered)}，已等待核验 {(day - row.entered).days} 天，请及时核验。",
        )
        for row in rows
    ]


async def ce_record_pending(session: AsyncSession, rule: PolicyRule, day: dt.date) -> list[Draft]:
    return await _waiting(
        session,
        rule,
        day,
        CeRecordRow,
        CeRecordRow.status,
        "继续教育记录待核验已超过 {days} 天",
        lambda r, name, on: f"{name} 于 {on} 提交的继续教育记录（{r.course}，{r.hours} {r.unit}）",
    )


async def certification_pending(session: AsyncSession, rule: PolicyRule, day: dt.date) -> list[Draft]:
    return await _waiting(
        session,
        rule,
        day,
        Certification,
        Certification.verification_status,
        "证书待核验已超过 {days} 天",
        lambda c, name, on: f"{name} 的{LABELS[c.level]}证书（编号 {c.certificate_number}）于 {on} 录入",
    )


async def payroll_unapproved(session: AsyncSession, rule: PolicyRule, day: dt.date) -> list[Draft]:
    dom = int(rule.params["day_of_month"])
    if day.day < dom:
        return []
    last_month = (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    runs = await session.execute(
        select(PayrollRun.id, PayrollRun.region_code, PayrollRun.status).where(
            PayrollRun.month == last_month, PayrollRun.status.in_(("draft", "submitted"))
        )
    )
    label = f"{last_month.year} 年 {last_month.month} 月"
    return [
        Draft(
            key=f"{rule.id}:{r.id}",
            rule=rule,
            audience="staff",
            action="approve_payroll",
            region_code=r.region_code,
            due_date=day.replace(day=dom),
            title=f"{label}津贴发放尚未审批",
            message=(
                f"{label}的津贴发放批次（第 {r.id} 号）到本月 {dom} 日仍"
                f"{'未提交审批' if r.status == 'draft' else '待审批'}，请尽快办理。"
            ),
        )
        for r in runs
    ]


async def drafts_for(session: AsyncSession, day: dt.date) -> list[Draft]:
    book = await rule_book(session)
    drafts: list[Draft] = []
    for rule in book.chain("reminder", None, day):
        event = rule.params.get("event")
        if event == "registration_ends":
            drafts += await registration_ends(session, rule, day)
        elif event == "ce_shortfall":
            drafts += await ce_shortfall(session, rule, book, day)
        elif event == "ce_record_pending":
            drafts += await ce_record_pending(session, rule, day)
        elif event == "certification_pending":
            drafts += await certification_pending(session, rule, day)
        elif event == "payroll_unapproved":
            drafts += await payroll_unapproved(session, rule, day)
    return drafts


async def store(session: AsyncSession, drafts: Sequence[Draft], day: dt.date) -> list[int]:
    """Insert the drafts not made before; the ids of the new ones."""
    if not drafts:
        return []
    rows = [
        {
            "key": d.key,
            "rule_id": d.rule.id,
            "event": str(d.rule.params["event"]),
            "audience": d.audience,
            "action": d.action,
            "practitioner_id": d.practitioner_id,
            "region_code": d.region_code,
            "title": d.title,
            "message": d.message,
            "due_date": d.due_date,
            "day": day,
        }
        for d in drafts
    ]
    made: list[int] = []
    for start in range(0, len(rows), CHUNK):
        stmt = insert(Reminder).values(rows[start : start + CHUNK])
        made += (
            await session.scalars(stmt.on_conflict_do_nothing(index_elements=["key"]).returning(Reminder.id))
        ).all()
    return made


async def compute_day(session: AsyncSession, day: dt.date) -> list[int]:
    return await store(session, await drafts_for(session, day), day)
