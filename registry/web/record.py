"""A person's record as the pages show it: one context for the staff page (/practitioners/{id})
and the practitioner's own (/me), each part read through its feature's service and scope."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.accounts.actor import Actor
from registry.audit.plain import describe
from registry.audit.service import display_names, list_events
from registry.awards.service import award_read, list_awards
from registry.certificates import service as cert_service
from registry.certificates.content import KIND_HELP, KIND_LABELS
from registry.certificates.service import CertContext
from registry.education.service import list_for_practitioner as ce_records
from registry.payroll.service import allowance_history
from registry.practitioners import service as practitioners
from registry.rules.facts import practitioner_decisions
from registry.salaries.service import list_salaries


def ce_progress(decision: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The CE findings with hours and a requirement, as progress bars."""
    bars = []
    for f in (decision or {}).get("findings", []):
        figures = f.get("figures", {})
        if "required" in figures and "hours" in figures:
            got, need = float(figures["hours"]), float(figures["required"])
            document = re.search(r"《[^》]+》", f.get("citation", ""))
            bars.append(
                {
                    "label": f["rule_ref"],
                    "title": document.group(0) if document else "继续教育要求",
                    "got": figures["hours"],
                    "need": figures["required"],
                    "unit": figures.get("unit", ""),
                    "share": min(1.0, got / need) if need else 1.0,
                    "met": f["met"],
                }
            )
    return bars


def ce_summary(records: Sequence[Any]) -> dict[str, Any]:
    """The calendar year's CE at a glance: verified hours by the unit they were recorded in (a
    学时 is not always an hour: the rules say how long, so the two are not added up here)."""
    verified: dict[str, Decimal] = {}
    for r in records:
        if r.status == "verified":
            verified[r.unit] = verified.get(r.unit, Decimal(0)) + r.hours
    return {"verified": verified, "pending": sum(1 for r in records if r.status == "pending")}


async def record_context(session: AsyncSession, actor: Actor, ctx: CertContext, practitioner_id: int) -> dict[str, Any]:
    """Everything a person's page shows (staff and the practitioner alike), each part scoped."""
    today = clock.today()
    person = await practitioners.practitioner_detail(session, actor, practitioner_id)
    decisions = await practitioner_decisions(session, actor, practitioner_id, today)
    ce_decision = next((d.model_dump() for d in decisions.decisions if d.question == "ce"), None)
    awards = [award_read(a) for a in await list_awards(session, actor, practitioner_id)]
    audit = None
    if actor.may("audit"):
        events = (await list_events(session, actor, practitioner_id=practitioner_id, limit=30)).items
        names = await display_names(session, {e.actor_user_id for e in events if e.actor_user_id})
        audit = describe(events, names)
    may_issue = actor.may_on(
        "certify", region_code=person.region_code, organization_id=person.organization_id, practitioner_id=person.id
    ) or actor.may_on(
        "certify_allowance",
        region_code=person.region_code,
        organization_id=person.organization_id,
        practitioner_id=person.id,
    )
    records = await ce_records(session, actor, practitioner_id, year=today.year)
    may_submit_ce = actor.may_on(
        "submit_ce", region_code=person.region_code, organization_id=person.organization_id, practitioner_id=person.id
    )
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    return {
        "actor": actor,
        "person": person,
        "decisions": decisions,
        "ce_bars": ce_progress(ce_decision),
        "ce_records": records,
        "ce_summary": ce_summary(records),
        "salaries": await list_salaries(session, actor, practitioner_id),
        "allowances": await allowance_history(session, actor, practitioner_id),
        "awards": awards,
        "certificates": await cert_service.list_for_practitioner(session, actor, ctx, practitioner_id),
        "audit": audit,
        "may_issue": may_issue,
        "may_submit_ce": may_submit_ce,
        "may_revoke": actor.may_on("revoke_certificate", region_code=person.region_code),
        "kind_labels": KIND_LABELS,
        "kind_help": KIND_HELP,
        "defaults": {"allowance": last_month, "ce": str(today.year - 1), "salary": str(today.year - 1)},
        "csrf": actor.session_csrf,
        "today": today,
        # The holder reading their own record: rules in words, no ids or source notes.
        "outward": actor.own_practitioner_id == practitioner_id,
    }
