from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor
from registry.audit import service
from registry.audit.schemas import AuditEventRead
from registry.schemas import Page


class AuditController(Controller):
    path = "/api/audit-events"
    tags = ["审计 audit"]

    @get("/", summary="审计记录（管理员：全部；民政工作人员：本辖区）")
    async def list_events(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        entity_type: str | None = Parameter(default=None, max_length=30),
        entity_id: str | None = Parameter(default=None, max_length=40),
        action: str | None = Parameter(default=None, max_length=30),
        cursor: FromQuery[int | None] = None,
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> Page[AuditEventRead]:
        return await service.list_events(
            db_session, actor, entity_type=entity_type, entity_id=entity_id, action=action, cursor=cursor, limit=limit
        )
