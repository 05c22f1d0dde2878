from __future__ import annotations

from typing import Literal

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor
from registry.education import service
from registry.education.schemas import CeRecordCreate, CeRecordRead, CeRecordReject, CeYearTotals
from registry.schemas import Page


class EducationController(Controller):
    path = "/api"
    tags = ["继续教育 continuing education"]

    @post("/practitioners/{practitioner_id:int}/ce-records", summary="提交继续教育记录（待核验）")
    async def submit(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        practitioner_id: FromPath[int],
        data: JSONBody[CeRecordCreate],
    ) -> CeRecordRead:
        return CeRecordRead.model_validate(await service.submit(db_session, actor, practitioner_id, data))

    @get("/practitioners/{practitioner_id:int}/ce-records", summary="继续教育记录")
    async def list_records(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        practitioner_id: FromPath[int],
        year: int | None = Parameter(default=None, ge=2000, le=2100),
    ) -> list[CeRecordRead]:
        rows = await service.list_for_practitioner(db_session, actor, practitioner_id, year=year)
        return [CeRecordRead.model_validate(r) for r in rows]

    @get("/practitioners/{practitioner_id:int}/ce-totals", summary="年度已核验学时（按类别）")
    async def totals(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        practitioner_id: FromPath[int],
        year: int = Parameter(ge=2000, le=2100),
    ) -> CeYearTotals:
        return await service.year_totals(db_session, actor, practitioner_id, year)

    @get("/ce-records", summary="继续教育核验队列（本辖区）")
    async def queue(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        status: FromQuery[Literal["pending", "verified", "rejected"]] = "pending",
        cursor: FromQuery[int | None] = None,
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> Page[CeRecordRead]:
        return await service.queue(db_session, actor, status=status, cursor=cursor, limit=limit)

    @get("/ce-records/{record_id:int}", summary="继续教育记录详情")
    async def get_record(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], record_id: FromPath[int]
    ) -> CeRecordRead:
        return CeRecordRead.model_validate(await service.get_record(db_session, actor, record_id))

    @post("/ce-records/{record_id:int}/verify", status_code=200, summary="核验通过")
    async def verify(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], record_id: FromPath[int]
    ) -> CeRecordRead:
        return CeRecordRead.model_validate(await service.verify(db_session, actor, record_id))

    @post("/ce-records/{record_id:int}/reject", status_code=200, summary="驳回")
    async def reject(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        record_id: FromPath[int],
        data: JSONBody[CeRecordReject],
    ) -> CeRecordRead:
        return CeRecordRead.model_validate(await service.reject(db_session, actor, record_id, data))
