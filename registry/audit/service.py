"""The audit trail: one append-only row per write, export, reveal and login event."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor, Forbidden, region_code_scope
from registry.audit.schemas import AuditEventRead
from registry.identity import mask_id_number, mask_phone
from registry.models import AuditEvent, User
from registry.schemas import Page

# Derived or secret columns that never go into the trail.
_SKIP = frozenset({"name_tokens", "password_hash", "token_hash", "csrf_token", "created_at", "updated_at"})


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def snapshot(obj: object) -> dict[str, Any]:
    """Column values of a mapped object, ready for JSON (taken before and after a change)."""
    mapper = inspect(type(obj))
    return {attr.key: _jsonable(getattr(obj, attr.key)) for attr in mapper.column_attrs if attr.key not in _SKIP}


def about(person: Any) -> dict[str, Any]:
    """Where an event about a practitioner's record belongs: their region, employer and id
    (what the region's staff may read, and the record's own trail)."""
    return {"region_code": person.region_code, "organization_id": person.organization_id, "practitioner_id": person.id}


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: object | None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
    region_code: str | None = None,
    organization_id: int | None = None,
    practitioner_id: int | None = None,
) -> None:
    """Append one event in the caller's transaction: it lands if and only if the change does.

    An update that changed nothing (the same values before and after, no detail) is no event."""
    if action == "update" and before is not None and before == after and not detail:
        return
    await session.execute(
        insert(AuditEvent).values(
            actor_user_id=actor.user_id,
            actor_name=actor.username[:60],
            action=action,
            entity_type=entity_type,
            entity_id=None if entity_id is None else str(entity_id),
            before=before,
            after=after,
            detail=detail,
            request_id=actor.request_id,
            client_ip=actor.client_ip,
            region_code=region_code,
            organization_id=organization_id,
            practitioner_id=practitioner_id,
        )
    )


def _mask(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    shown = dict(values)
    if isinstance(shown.get("id_number"), str):
        shown["id_number"] = mask_id_number(shown["id_number"])
    if isinstance(shown.get("phone"), str):
        shown["phone"] = mask_phone(shown["phone"])
    return shown


def _read(event: AuditEvent) -> AuditEventRead:
    return AuditEventRead(
        id=event.id,
        at=event.at,
        actor_user_id=event.actor_user_id,
        actor_name=event.actor_name,
        action=event.action,
        entity_type=event.entity_type,
        entity_id=event.entity_id,
        before=_mask(event.before),
        after=_mask(event.after),
        detail=event.detail,
        request_id=event.request_id,
        region_code=event.region_code,
        practitioner_id=event.practitioner_id,
    )


async def list_events(
    session: AsyncSession,
    actor: Actor,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    practitioner_id: int | None = None,
    action: str | None = None,
    cursor: int | None = None,
    limit: int = 50,
) -> Page[AuditEventRead]:
    """Newest first. Admins read everything; civil-affairs staff the events of their regions."""
    if not actor.may("audit"):
        raise Forbidden("只有系统管理员和民政工作人员可以查看审计记录。")
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit + 1)
    if practitioner_id is None:
        # A record's own trail (practitioner_id given) is scoped by the caller, who has already
        # been shown the record; the general trail by the region each event happened in.
        stmt = stmt.where(region_code_scope(actor, AuditEvent.region_code, "audit"))
    else:
        stmt = stmt.where(AuditEvent.practitioner_id == practitioner_id)
    if entity_type:
        stmt = stmt.where(AuditEvent.entity_type == entity_type)
    if entity_id:
        stmt = stmt.where(AuditEvent.entity_id == entity_id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if cursor is not None:
        stmt = stmt.where(AuditEvent.id < cursor)
    rows = (await session.scalars(stmt)).all()
    has_more = len(rows) > limit
    items = [_read(e) for e in rows[:limit]]
    return Page[AuditEventRead](
        items=items,
        next_cursor=str(items[-1].id) if has_more and items else None,
        total=len(items),
        total_exact=not has_more and cursor is None,
    )


async def display_names(session: AsyncSession, user_ids: set[int]) -> dict[int, str]:
    """Users' names as people know them, for a trail read by staff."""
    if not user_ids:
        return {}
    rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids)))
    return {int(i): str(n) for i, n in rows.all()}
