from __future__ import annotations

import datetime as dt

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.accounts.actor import Actor
from registry.reports.schemas import RegionFigures
from registry.reports.service import region_figures
from registry.rules import service
from registry.rules.facts import practitioner_decisions
from registry.rules.schemas import DecisionsRead, PolicyRead, PolicyVersionCreate


class PolicyController(Controller):
    path = "/api"
    tags = ["政策与判定 policies and decisions"]

    @get("/policies", summary="政策规则目录（当日生效的版本，或全部）")
    async def list_policies(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        kind: str | None = Parameter(default=None, max_length=30),
        region: str | None = Parameter(default=None, min_length=6, max_length=6),
        as_of: FromQuery[dt.date | None] = None,
    ) -> list[PolicyRead]:
        del actor  # any logged-in user may read the catalogue
        return await service.list_policies(db_session, kind=kind, region=region, as_of=as_of)

    @get("/policies/{rule_id:str}", summary="一条规则的全部版本")
    async def versions(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], rule_id: FromPath[str]
    ) -> list[PolicyRead]:
        del actor
        return await service.policy_versions(db_session, rule_id)

    @post("/policies/{rule_id:str}/versions", summary="新增规则版本（管理员；旧版本保留用于以往月份）")
    async def add_version(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        rule_id: FromPath[str],
        data: JSONBody[PolicyVersionCreate],
    ) -> PolicyRead:
        return service.policy_read(await service.add_version(db_session, actor, rule_id, data))

    @get("/practitioners/{practitioner_id:int}/decisions", summary="判定结果：津贴、继续教育、薪酬、奖励、任职条件")
    async def decisions(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        practitioner_id: FromPath[int],
        as_of: FromQuery[dt.date | None] = None,
    ) -> DecisionsRead:
        return await practitioner_decisions(db_session, actor, practitioner_id, as_of or clock.today())

    @get("/regions/{code:str}/figures", summary="区划统计与政策目标对照")
    async def figures(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        code: FromPath[str],
        as_of: FromQuery[dt.date | None] = None,
    ) -> RegionFigures:
        return await region_figures(db_session, actor, code, as_of or clock.today())
