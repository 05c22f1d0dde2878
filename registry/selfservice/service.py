"""The signed-in user's own account and record, for the API and the page."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.accounts import service as accounts
from registry.accounts.actor import ROLE_LABELS, Actor
from registry.ce_audit.service import samples_for_person
from registry.certificates.service import CertContext
from registry.practitioners.service import practitioner_detail
from registry.rules.facts import practitioner_decisions
from registry.selfservice.schemas import MeResponse
from registry.web.record import record_context


async def me(session: AsyncSession, actor: Actor) -> MeResponse:
    """The account; for a practitioner also their record and today's decisions."""
    user = await accounts.get_user(session, actor, actor.user_id or 0)
    own = actor.own_practitioner_id
    return MeResponse(
        user=await accounts.user_read(session, user),
        csrf_token=actor.session_csrf,
        practitioner=await practitioner_detail(session, actor, own) if own else None,
        decisions=await practitioner_decisions(session, actor, own, clock.today()) if own else None,
    )


async def me_page_context(
    session: AsyncSession, actor: Actor, certificates: CertContext, *, message: str | None, problem: str | None
) -> dict[str, Any]:
    """The page: the account, and for a practitioner their record with the same parts staff see
    (in plain words) and the CE audit samples they were drawn in."""
    user = await accounts.get_user(session, actor, actor.user_id or 0)
    own = actor.own_practitioner_id
    context: dict[str, Any] = {
        "actor": actor,
        "user": await accounts.user_read(session, user),
        "role_labels": ROLE_LABELS,
        "csrf": actor.session_csrf,
        "message": message,
        "problem": problem,
        "person": None,
    }
    if own:
        context |= await record_context(session, actor, certificates, own)
        context["ce_audits"] = await samples_for_person(session, own)
    return context
