from __future__ import annotations

from litestar import Controller, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from registry import versions
from registry.accounts.actor import Actor
from registry.models import Organization
from registry.organizations import service
from registry.organizations.schemas import OrganizationCreate, OrganizationRead, OrganizationUpdate
from registry.schemas import Page


class OrganizationController(Controller):
    path = "/api/organizations"
    tags = ["单位 organizations"]

    @post("/", summary="登记单位")
    async def create(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        data: JSONBody[OrganizationCreate],
    ) -> OrganizationRead:
        return OrganizationRead.model_validate(await service.create_organization(db_session, actor, data))

    @get("/", summary="单位列表")
    async def list_organizations(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        region: str | None = Parameter(default=None, max_length=6),
        q: str | None = Parameter(default=None, max_length=50),
        cursor: FromQuery[int | None] = None,
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> Page[OrganizationRead]:
        rows, next_cursor, total = await service.list_organizations(
            db_session, actor, region=region, q=q, cursor=cursor, limit=limit
        )
        return Page[OrganizationRead](
            items=[OrganizationRead.model_validate(r) for r in rows],
            next_cursor=str(next_cursor) if next_cursor else None,
            total=total,
            total_exact=True,
        )

    @get("/{org_id:int}", summary="单位详情")
    async def get_organization(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], org_id: FromPath[int]
    ) -> Response[OrganizationRead]:
        read = OrganizationRead.model_validate(await service.get_organization(db_session, actor, org_id))
        return await versions.tagged(db_session, Organization, org_id, read)

    @patch("/{org_id:int}", summary="修改单位")
    async def update(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        org_id: FromPath[int],
        data: JSONBody[OrganizationUpdate],
        if_match: versions.IfMatch = None,
    ) -> Response[OrganizationRead]:
        org = await service.update_organization(db_session, actor, org_id, data, if_match=if_match)
        return await versions.tagged(db_session, Organization, org_id, OrganizationRead.model_validate(org))
