"""Awards: nomination, approval by a second person, payment; amounts from the catalogue only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.accounts.actor import Actor, Forbidden, practitioner_scope
from registry.audit.service import about, record, snapshot
from registry.awards.schemas import AwardApprove, AwardNominate, AwardPay, AwardRead, AwardReject, ProgrammeRead
from registry.db import flush_or_raise
from registry.errors import Conflict, FieldError, InvalidInput, NotFound
from registry.models import AwardRow, Practitioner
from registry.practitioners.service import get_practitioner
from registry.rules import evaluate
from registry.rules.facts import load_facts
from registry.rules.service import rule_book

_CONSTRAINTS = {
    "uq_award_practitioner_id_programme_round": lambda: Conflict.on_field(
        "programme", "award_duplicate", "该社工已有此项奖励（或提名），不能重复奖励。"
    )
}


def award_read(row: AwardRow) -> AwardRead:
    read = AwardRead.model_validate(row)
    read.programme_label = evaluate.PROGRAMME_LABELS.get(row.programme, row.programme)
    return read


async def programmes(session: AsyncSession, region: str, day: dt.date) -> list[ProgrammeRead]:
    book = await rule_book(session)
    return [
        ProgrammeRead(
            programme=code,
            label=evaluate.PROGRAMME_LABELS.get(code, code),
            amount=amount,
            rule_ref=rule.ref,
            citation=rule.citation,
            repeatable=bool(rule.params.get("repeatable")),
        )
        for code, (rule, amount) in evaluate.award_programmes(book, region, day).items()
    ]


async def nominate(session: AsyncSession, actor: Actor, data: AwardNominate) -> AwardRow:
    day = data.nominated_on or clock.today()
    if day > clock.today():
        raise InvalidInput.on_field("nominated_on", "date_future", "提名日期不能晚于今天。")
    person = await get_practitioner(session, actor, data.practitioner_id, action="award", for_update=True)
    book = await rule_book(session)
    facts = await load_facts(session, person)
    decision = evaluate.award(facts, book, data.programme, day)
    programmes_open = evaluate.award_programmes(book, facts.region_on(day), day)
    if data.programme not in programmes_open:
        raise InvalidInput.on_field("programme", "award_programme_unknown", decision.summary)
    rule, amount = programmes_open[data.programme]
    repeatable = bool(rule.params.get("repeatable"))
    if repeatable and data.round is None:
        raise InvalidInput.on_field("round", "award_round_required", "该项表彰可多次评选，请填写评选年度。")
    if not decision.outcome:
        reasons = [f.text for f in decision.findings if f.met is False]
        # A repeatable commendation of another round is not a repeat; anything else is refused.
        if not repeatable or any("不重复" in r for r in reasons):
            raise Conflict(
                "；".join(reasons) or decision.summary,
                code="award_not_allowed",
                errors=[FieldError("programme", "award_not_allowed", r) for r in reasons],
            )
    row = AwardRow(
        practitioner_id=person.id,
        programme=data.programme,
        round=data.round if repeatable and data.round else 0,
        rule_id=rule.id,
        rule_version=rule.version,
        amount=amount,
        status="nominated",
        nominated_on=day,
        nominated_by_id=actor.user_id,
        reason=(data.reason or "").strip() or None,
    )
    session.add(row)
    await flush_or_raise(session, _CONSTRAINTS)
    await session.refresh(row)
    await record(session, actor, "create", "award", row.id, after=snapshot(row), **about(person))
    return row


async def _scoped(session: AsyncSession, actor: Actor, award_id: int) -> tuple[AwardRow, Practitioner]:
    row = (
        await session.execute(
            select(AwardRow, Practitioner)
            .join(Practitioner, Practitioner.id == AwardRow.practitioner_id)
            .where(AwardRow.id == award_id, practitioner_scope(actor, "read"))
            .with_for_update(of=AwardRow)
        )
    ).first()
    if row is None:
        raise NotFound(f"奖励记录 {award_id} 不存在或不在您的管辖范围内。", code="award_not_found")
    award, person = row
    return award, person


async def get_award(session: AsyncSession, actor: Actor, award_id: int) -> AwardRow:
    return (await _scoped(session, actor, award_id))[0]


async def _transition(
    session: AsyncSession, actor: Actor, award_id: int, *, frm: tuple[str, ...], to: str, **values: Any
) -> AwardRow:
    award, person = await _scoped(session, actor, award_id)
    if not actor.may_on("award", region_code=person.region_code):
        raise Forbidden("只有辖区民政工作人员可以办理奖励。")
    if award.status not in frm:
        raise Conflict(f"奖励当前状态为 {award.status}，不能执行此操作。", code="award_state")
    before = snapshot(award)
    award.status = to
    for key, value in values.items():
        setattr(award, key, value)
    await session.flush()
    await session.refresh(award)
    action = {"approved": "approve", "paid": "pay", "rejected": "reject"}[to]
    await record(session, actor, action, "award", award.id, before=before, after=snapshot(award), **about(person))
    return award


async def approve(session: AsyncSession, actor: Actor, award_id: int, data: AwardApprove) -> AwardRow:
    award, _ = await _scoped(session, actor, award_id)
    if award.nominated_by_id is not None and award.nominated_by_id == actor.user_id:
        raise Forbidden("提名人不能审批自己的提名，请由另一位工作人员审批。", code="own_nomination")
    day = data.approved_on or clock.today()
    if day < award.nominated_on:
        raise InvalidInput.on_field("approved_on", "dates_out_of_order", "审批日期不能早于提名日期。")
    return await _transition(
        session, actor, award_id, frm=("nominated",), to="approved", approved_on=day, approved_by_id=actor.user_id
    )


async def pay(session: AsyncSession, actor: Actor, award_id: int, data: AwardPay) -> AwardRow:
    award, _ = await _scoped(session, actor, award_id)
    if award.approved_on is not None and data.paid_on < award.approved_on:
        raise InvalidInput.on_field("paid_on", "dates_out_of_order", "发放日期不能早于审批日期。")
    if data.paid_on > clock.today():
        raise InvalidInput.on_field("paid_on", "date_future", "发放日期不能晚于今天。")
    return await _transition(session, actor, award_id, frm=("approved",), to="paid", paid_on=data.paid_on)


async def reject(session: AsyncSession, actor: Actor, award_id: int, data: AwardReject) -> AwardRow:
    return await _transition(
        session, actor, award_id, frm=("nominated", "approved"), to="rejected", rejection_reason=data.reason.strip()
    )


async def list_awards(session: AsyncSession, actor: Actor, practitioner_id: int) -> Sequence[AwardRow]:
    person = await get_practitioner(session, actor, practitioner_id)
    return (
        await session.scalars(select(AwardRow).where(AwardRow.practitioner_id == person.id).order_by(AwardRow.id))
    ).all()
