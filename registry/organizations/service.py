from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from registry.db import flush_or_raise
from registry.errors import Conflict, NotFound, Problems
from registry.identity import validate_credit_code
from registry.models import Organization, Practitioner
from registry.organizations.schemas import OrganizationCreate, OrganizationUpdate
from registry.regions.codes import subtree_bounds
from registry.regions.service import require_active_region

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


async def create_organization(session: AsyncSession, data: OrganizationCreate) -> Organization:
    problems = Problems()
    credit_code = _check_credit_code(data.credit_code, problems)
    problems.raise_if_any()
    await require_active_region(session, data.region_code, "region_code")
    org = Organization(
        name=data.name.strip(), org_type=data.org_type, region_code=data.region_code, credit_code=credit_code
    )
    session.add(org)
    await flush_or_raise(session, _CONSTRAINTS)
    await session.refresh(org)
    return org


async def get_organization(session: AsyncSession, org_id: int) -> Organization:
    org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound(f"单位 {org_id} 不存在。", code="organization_not_found")
    return org


async def update_organization(session: AsyncSession, org_id: int, data: OrganizationUpdate) -> Organization:
    org = await get_organization(session, org_id)
    changes = data.model_dump(exclude_unset=True)
    problems = Problems()
    if "credit_code" in changes:
        changes["credit_code"] = _check_credit_code(changes["credit_code"], problems)
    problems.raise_if_any()
    if changes.get("region_code") is not None:
        await require_active_region(session, changes["region_code"], "region_code")
    for key, value in changes.items():
        if value is None and key != "credit_code":
            continue
        setattr(org, key, value.strip() if key == "name" else value)
    await flush_or_raise(session, _CONSTRAINTS)
    if "region_code" in changes:
        # Practitioners' jurisdiction follows their employer's region.
        await session.execute(
            update(Practitioner).where(Practitioner.organization_id == org.id).values(region_code=org.region_code)
        )
    await session.refresh(org)
    return org


async def list_organizations(
    session: AsyncSession, *, region: str | None, q: str | None, cursor: int | None, limit: int
) -> tuple[Sequence[Organization], int | None]:
    stmt = select(Organization).order_by(Organization.id).limit(limit + 1)
    if region:
        lo, hi = subtree_bounds(region)
        stmt = stmt.where(Organization.region_code.between(lo, hi))
    if q:
        stmt = stmt.where(Organization.name.contains(q, autoescape=True))
    if cursor is not None:
        stmt = stmt.where(Organization.id > cursor)
    rows = (await session.scalars(stmt)).all()
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return rows[:limit], next_cursor
