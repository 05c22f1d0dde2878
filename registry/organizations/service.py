from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock, versions
from registry.accounts.actor import Actor, Forbidden, organization_scope
from registry.audit.service import record, snapshot
from registry.db import flush_or_raise
from registry.errors import Conflict, InvalidInput, NotFound, Problems
from registry.identity import validate_credit_code
from registry.models import Organization, Practitioner
from registry.organizations.schemas import OrganizationCreate, OrganizationUpdate
from registry.regions.codes import subtree_bounds
from registry.regions.service import region_options, require_active_region

_CONSTRAINTS = {
    "uq_organization_credit_code": lambda: Conflict.on_field(
        "credit_code", "credit_code_duplicate", "该统一社会信用代码已登记在另一家单位名下。"
    )
}


def _check_credit_code(raw: str | None, problems: Problems) -> str | None:
    if not raw or not raw.strip():
        return None
    result = validate_credit_code(raw)
    if isinstance(result, str):
        return result
    problems.errors.append(result)
    return None


def _require_region_in_scope(actor: Actor, region_code: str) -> None:
    if not actor.may_on("manage_org", region_code=region_code):
        raise InvalidInput.on_field(
            "region_code", "out_of_scope", f"区划 {region_code} 不在您的管辖范围内，不能在此登记单位。"
        )


def _check_dates(founded: dt.date | None, closed: dt.date | None, problems: Problems) -> None:
    today = clock.today()
    if founded is not None and founded > today:
        problems.add("founded_on", "founded_future", "成立日期不能晚于今天。")
    if closed is not None and closed > today:
        problems.add("closed_on", "closed_future", "注销日期不能晚于今天。")
    if founded is not None and closed is not None and closed < founded:
        problems.add("closed_on", "closed_before_founded", "注销日期不能早于成立日期。")


async def create_organization(session: AsyncSession, actor: Actor, data: OrganizationCreate) -> Organization:
    actor.require("manage_org", "只有系统管理员和民政工作人员可以登记单位。")
    problems = Problems()
    credit_code = _check_credit_code(data.credit_code, problems)
    _check_dates(data.founded_on, data.closed_on, problems)
    problems.raise_if_any()
    await require_active_region(session, data.region_code, "region_code")
    _require_region_in_scope(actor, data.region_code)
    org = Organization(
        name=data.name.strip(),
        org_type=data.org_type,
        region_code=data.region_code,
        credit_code=credit_code,
        founded_on=data.founded_on,
        closed_on=data.closed_on,
    )
    session.add(org)
    await flush_or_raise(session, _CONSTRAINTS)
    await session.refresh(org)
    await record(
        session,
        actor,
        "create",
        "organization",
        org.id,
        after=snapshot(org),
        region_code=org.region_code,
        organization_id=org.id,
    )
    return org


async def get_organization(
    session: AsyncSession, actor: Actor, org_id: int, *, for_update: bool = False
) -> Organization:
    stmt = select(Organization).where(Organization.id == org_id, organization_scope(actor, "read"))
    if for_update:
        stmt = stmt.with_for_update()
    org = (await session.scalars(stmt)).one_or_none()
    if org is None:
        raise NotFound(f"单位 {org_id} 不存在或不在您的管辖范围内。", code="organization_not_found")
    return org


async def update_organization(
    session: AsyncSession, actor: Actor, org_id: int, data: OrganizationUpdate, *, if_match: str | None = None
) -> Organization:
    org = await get_organization(session, actor, org_id, for_update=True)
    await versions.require(session, Organization, org.id, if_match)
    if not actor.may_on("manage_org", region_code=org.region_code):
        raise Forbidden("只有系统管理员和辖区民政工作人员可以修改单位信息。")
    before = snapshot(org)
    changes = data.model_dump(exclude_unset=True)
    problems = Problems()
    if "credit_code" in changes:
        changes["credit_code"] = _check_credit_code(changes["credit_code"], problems)
    _check_dates(changes.get("founded_on", org.founded_on), changes.get("closed_on", org.closed_on), problems)
    problems.raise_if_any()
    if changes.get("region_code") is not None:
        await require_active_region(session, changes["region_code"], "region_code")
        _require_region_in_scope(actor, changes["region_code"])
    for key, value in changes.items():
        if value is None and key not in ("credit_code", "founded_on", "closed_on"):
            continue
        setattr(org, key, value.strip() if key == "name" else value)
    await flush_or_raise(session, _CONSTRAINTS)
    if "region_code" in changes:
        # Practitioners' jurisdiction follows their employer's region.
        await session.execute(
            update(Practitioner).where(Practitioner.organization_id == org.id).values(region_code=org.region_code)
        )
    await session.refresh(org)
    await record(
        session,
        actor,
        "update",
        "organization",
        org.id,
        before=before,
        after=snapshot(org),
        region_code=org.region_code,
        organization_id=org.id,
    )
    return org


async def list_organizations(
    session: AsyncSession, actor: Actor, *, region: str | None, q: str | None, cursor: int | None, limit: int
) -> tuple[Sequence[Organization], int | None, int]:
    """A page of organizations the actor may see, the next cursor, and the count of all matches."""
    conds: list[ColumnElement[bool]] = [organization_scope(actor, "read")]
    if region:
        lo, hi = subtree_bounds(region)
        conds.append(Organization.region_code.between(lo, hi))
    if q:
        conds.append(Organization.name.contains(q, autoescape=True))
    stmt = select(Organization).where(*conds).order_by(Organization.id).limit(limit + 1)
    if cursor is not None:
        stmt = stmt.where(Organization.id > cursor)
    rows = (await session.scalars(stmt)).all()
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    total = int(await session.scalar(select(func.count()).select_from(Organization).where(*conds)) or 0)
    return rows[:limit], next_cursor, total


CHOICES_LIMIT = 300


async def scope_choices(session: AsyncSession, actor: Actor, action: str) -> dict[str, list[Any]]:
    """Regions and organizations the actor works on, by name, for the filters of a list page
    (the values are the codes and ids the list's URL keeps); the first organizations by name."""
    orgs = (
        await session.execute(
            select(Organization.id, Organization.name)
            .where(organization_scope(actor, action))
            .order_by(Organization.name)
            .limit(CHOICES_LIMIT)
        )
    ).all()
    return {
        "region_options": await region_options(session, actor.region_roots(action)),
        "organizations": [(str(i), str(n)) for i, n in orgs],
    }
