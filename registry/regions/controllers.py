from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from registry.regions import service
from registry.regions.schemas import RegionRead


class RegionController(Controller):
    path = "/api/regions"
    tags = ["行政区划 regions"]

    @get("/", summary="下级区划 (children of a region; provinces when no parent)")
    async def list_children(
        self,
        db_session: NamedDependency[AsyncSession],
        parent: str | None = Parameter(default=None, max_length=6),
    ) -> list[RegionRead]:
        return [RegionRead.model_validate(r) for r in await service.children(db_session, parent)]

    @get("/{code:str}", summary="区划详情")
    async def get_region(self, db_session: NamedDependency[AsyncSession], code: FromPath[str]) -> RegionRead:
        return RegionRead.model_validate(await service.get_region(db_session, code))
