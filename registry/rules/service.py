"""The catalogue in the database: loading the shipped file, versions added by admins, and the
``RuleBook`` the evaluator reads."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor, Forbidden
from registry.audit.service import record, snapshot
from registry.errors import InvalidInput, NotFound, Problems
from registry.models import PolicyRuleRow
from registry.regions.codes import in_subtree
from registry.regions.service import require_active_region
from registry.rules.catalogue import load_catalogue_data, rule_from_entry
from registry.rules.model import Decision, PolicyRule, RuleBook
from registry.rules.schemas import DecisionRead, FindingRead, PolicyRead, PolicyVersionCreate


async def load_catalogue(session: AsyncSession) -> int:
    """Insert the shipped versions the database lacks; versions already there (shipped or made
    by an admin) are never overwritten. Returns the number inserted."""
    rows = []
    for entry in load_catalogue_data()["rule"]:
        rule = rule_from_entry(entry)
        rows.append(_row_values(rule))
    result = await session.execute(
        insert(PolicyRuleRow).values(rows).on_conflict_do_nothing(index_elements=["rule_id", "version"])
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _row_values(rule: PolicyRule) -> dict[str, Any]:
    return {
        "rule_id": rule.id,
        "version": rule.version,
        "alias": rule.alias,
        "kind": rule.kind,
        "title": rule.title,
        "region_code": rule.region_code,
        "effective_from": rule.effective_from,
        "effective_to": rule.effective_to,
        "params": dict(rule.params),
        "issuer": rule.issuer,
        "document_title": rule.document_title,
        "document_number": rule.document_number,
        "clause": rule.clause,
        "source": rule.source,
        "trust": rule.trust,
        "note": rule.note,
    }


def to_rule(row: PolicyRuleRow) -> PolicyRule:
    return PolicyRule(
        id=row.rule_id,
        version=row.version,
        kind=row.kind,
        title=row.title,
        region_code=row.region_code,
        effective_from=row.effective_from,
        effective_to=row.effective_to,
        params=row.params,
        issuer=row.issuer,
        document_title=row.document_title,
        document_number=row.document_number,
        clause=row.clause,
        source=row.source,
        trust=row.trust,
        note=row.note,
        alias=row.alias,
    )


async def rule_book(session: AsyncSession) -> RuleBook:
    rows = (await session.scalars(select(PolicyRuleRow).order_by(PolicyRuleRow.rule_id, PolicyRuleRow.version))).all()
    return RuleBook(to_rule(r) for r in rows)


def policy_read(row: PolicyRuleRow) -> PolicyRead:
    read = PolicyRead.model_validate(row)
    read.citation = to_rule(row).citation
    return read


async def list_policies(
    session: AsyncSession, *, kind: str | None, region: str | None, as_of: dt.date | None
) -> list[PolicyRead]:
    """The catalogue is public policy: any logged-in user may read it."""
    conds: list[ColumnElement[bool]] = []
    if kind:
        conds.append(PolicyRuleRow.kind == kind)
    rows = (
        await session.scalars(
            select(PolicyRuleRow).where(*conds).order_by(PolicyRuleRow.rule_id, PolicyRuleRow.version)
        )
    ).all()
    out = []
    for row in rows:
        rule = to_rule(row)
        if region and not rule.covers_region(region):
            continue
        if as_of and not rule.in_force(as_of):
            continue
        out.append(policy_read(row))
    return out


async def policy_versions(session: AsyncSession, rule_id: str) -> list[PolicyRead]:
    rows = (
        await session.scalars(
            select(PolicyRuleRow).where(PolicyRuleRow.rule_id == rule_id).order_by(PolicyRuleRow.version)
        )
    ).all()
    if not rows:
        raise NotFound(f"政策规则 {rule_id} 不存在。", code="policy_not_found")
    return [policy_read(r) for r in rows]


def _amounts(params: dict[str, Any]) -> dict[str, Decimal]:
    out = {}
    for level, value in (params.get("amounts") or {}).items():
        try:
            out[level] = Decimal(str(value))
        except InvalidOperation:
            raise InvalidInput.on_field(
                f"params.amounts.{level}", "amount_invalid", f"金额“{value}”不是有效数字。"
            ) from None
    return out


async def add_version(session: AsyncSession, actor: Actor, rule_id: str, data: PolicyVersionCreate) -> PolicyRuleRow:
    """A new version: the old ones stay and keep answering for the dates they cover."""
    if not actor.is_admin:
        raise Forbidden("只有系统管理员可以修改政策规则。")
    latest = (
        await session.scalars(
            select(PolicyRuleRow)
            .where(PolicyRuleRow.rule_id == rule_id)
            .order_by(PolicyRuleRow.version.desc())
            .limit(1)
            .with_for_update()
        )
    ).one_or_none()
    if latest is None:
        raise NotFound(f"政策规则 {rule_id} 不存在。", code="policy_not_found")
    # The rule's own region is that of its first version. Later versions may narrow it to a
    # jurisdiction (Wuhan's own amounts for Hubei's rule); the latest version's region is no
    # bound, or the province's next version after such a city version would be refused.
    own_region = await session.scalar(
        select(PolicyRuleRow.region_code)
        .where(PolicyRuleRow.rule_id == rule_id)
        .order_by(PolicyRuleRow.version)
        .limit(1)
    )
    problems = Problems()
    region = data.region_code if "region_code" in data.model_fields_set else latest.region_code
    if region is not None:
        await require_active_region(session, region, "region_code")
    if own_region is not None and (region is None or not in_subtree(region, own_region)):
        problems.add("region_code", "region_outside_rule", f"该规则适用于 {own_region}，不能用于其辖区以外的地区。")
    if data.effective_to is not None and data.effective_to < data.effective_from:
        problems.add("effective_to", "dates_out_of_order", "失效日期不能早于生效日期。")
    params = data.params if data.params is not None else latest.params
    problems.raise_if_any()
    new_amounts = _amounts(params)
    if latest.params.get("floor") and new_amounts:
        # Amounts that are floors ("不低于") can be raised, never lowered, by a later or a more
        # specific version: compare with every version of the rule in force on the start date
        # that covers this region.
        book = await rule_book(session)
        for other in book.rules:
            if other.id != rule_id or not other.in_force(data.effective_from) or not other.covers_region(region):
                continue
            for level, floor in _amounts(dict(other.params)).items():
                if level in new_amounts and new_amounts[level] < floor:
                    raise InvalidInput.on_field(
                        f"params.amounts.{level}",
                        "below_floor",
                        f"{level} 标准 {new_amounts[level]} 元低于 {other.ref} 规定的下限 {floor} 元（“不低于”只能提高，不能降低）。",
                    )
    row = PolicyRuleRow(
        rule_id=latest.rule_id,
        version=latest.version + 1,
        alias=None,  # an alias names the source of one version only
        kind=latest.kind,
        title=data.title or latest.title,
        region_code=region,
        effective_from=data.effective_from,
        effective_to=data.effective_to,
        params=params,
        issuer=data.issuer or latest.issuer,
        document_title=data.document_title or latest.document_title,
        document_number=data.document_number or latest.document_number,
        clause=data.clause or latest.clause,
        source="管理员录入",
        trust=data.trust or latest.trust,
        note=data.note,
        created_by_id=actor.user_id,
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    await record(session, actor, "create", "policy_rule", f"{row.rule_id} v{row.version}", after=snapshot(row))
    return row


async def rule_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(PolicyRuleRow)) or 0)


def decision_read(decision: Decision) -> DecisionRead:
    return DecisionRead(
        question=decision.question,
        period=decision.period,
        outcome=decision.outcome,
        summary=decision.summary,
        amount=decision.amount,
        subject=decision.subject,
        findings=[
            FindingRead(
                rule_id=f.rule_id,
                version=f.version,
                rule_ref=f.rule_ref,
                met=f.met,
                text=f.text,
                figures=dict(f.figures),
                citation=f.citation,
            )
            for f in decision.findings
        ],
    )
