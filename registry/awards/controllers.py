from __future__ import annotations

import datetime as dt

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.accounts.actor import Actor
from registry.awards import service
from registry.awards.schemas import AwardApprove, AwardNominate, AwardPay, AwardRead, AwardReject, ProgrammeRead


class AwardController(Controller):
    path = "/api"
    tags = ["奖励 awards"]

    @get("/award-programmes", summary="某区划当日可评的奖励项目及金额（来自政策目录）")
    async def programmes(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        region: str = Parameter(min_length=6, max_length=6),
        as_of: FromQuery[dt.date | None] = None,
    ) -> list[ProgrammeRead]:
        del actor
        return await service.programmes(db_session, region, as_of or clock.today())

    @post("/awards", summary="提名")
    async def nominate(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[AwardNominate]
    ) -> AwardRead:
        return service.award_read(await service.nominate(db_session, actor, data))

    @get("/awards/{award_id:int}", summary="奖励详情")
    async def get_award(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], award_id: FromPath[int]
    ) -> AwardRead:
        return service.award_read(await service.get_award(db_session, actor, award_id))

    @post("/awards/{award_id:int}/approve", status_code=200, summary="审批（须由提名人以外的工作人员）")
    async def approve(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        award_id: FromPath[int],
        data: JSONBody[AwardApprove],
    ) -> AwardRead:
        return service.award_read(await service.approve(db_session, actor, award_id, data))

    @post("/awards/{award_id:int}/pay", status_code=200, summary="登记发放")
    async def pay(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        award_id: FromPath[int],
        data: JSONBody[AwardPay],
    ) -> AwardRead:
        return service.award_read(await service.pay(db_session, actor, award_id, data))

    @post("/awards/{award_id:int}/reject", status_code=200, summary="不予奖励")
    async def reject(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        award_id: FromPath[int],
        data: JSONBody[AwardReject],
    ) -> AwardRead:
        return service.award_read(await service.reject(db_session, actor, award_id, data))

    @get("/practitioners/{practitioner_id:int}/awards", summary="个人奖励记录")
    async def list_awards(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], practitioner_id: FromPath[int]
    ) -> list[AwardRead]:
        return [service.award_read(a) for a in await service.list_awards(db_session, actor, practitioner_id)]
