from __future__ import annotations

from litestar import Controller, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor
from registry.salaries import service
from registry.salaries.schemas import (
    BenchmarkRead,
    BenchmarkUpsert,
    SalaryCreate,
    SalaryRead,
    SalaryReject,
    SalaryReport,
)


class SalaryController(Controller):
    path = "/api"
    tags = ["薪酬 salaries"]

    @put("/salary-benchmarks", summary="登记或更正工资基准（管理员）")
    async def upsert_benchmark(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[BenchmarkUpsert]
    ) -> BenchmarkRead:
        return BenchmarkRead.model_validate(await service.upsert_benchmark(db_session, actor, data))

    @get("/salary-benchmarks", summary="工资基准（本级及上级区划）")
    async def list_benchmarks(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        region: str | None = Parameter(default=None, min_length=6, max_length=6),
        year: int | None = Parameter(default=None, ge=2000, le=2100),
    ) -> list[BenchmarkRead]:
        del actor  # published statistics: any logged-in user
        return [
            BenchmarkRead.model_validate(b) for b in await service.list_benchmarks(db_session, region=region, year=year)
        ]

    @post("/practitioners/{practitioner_id:int}/salaries", summary="登记年度薪酬（待核验）")
    async def submit(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        practitioner_id: FromPath[int],
        data: JSONBody[SalaryCreate],
    ) -> SalaryRead:
        return SalaryRead.model_validate(await service.submit_salary(db_session, actor, practitioner_id, data))

    @get("/practitioners/{practitioner_id:int}/salaries", summary="薪酬记录")
    async def list_salaries(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], practitioner_id: FromPath[int]
    ) -> list[SalaryRead]:
        return [SalaryRead.model_validate(s) for s in await service.list_salaries(db_session, actor, practitioner_id)]

    @post("/salaries/{record_id:int}/verify", status_code=200, summary="核验薪酬记录")
    async def verify(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], record_id: FromPath[int]
    ) -> SalaryRead:
        return SalaryRead.model_validate(await service.decide_salary(db_session, actor, record_id))

    @post("/salaries/{record_id:int}/reject", status_code=200, summary="驳回薪酬记录")
    async def reject(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        record_id: FromPath[int],
        data: JSONBody[SalaryReject],
    ) -> SalaryRead:
        return SalaryRead.model_validate(await service.decide_salary(db_session, actor, record_id, data))

    @get("/organizations/{org_id:int}/salary-report", summary="单位薪酬低于基准的人员")
    async def report(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        org_id: FromPath[int],
        year: int = Parameter(ge=2000, le=2100),
    ) -> SalaryReport:
        return await service.organization_report(db_session, actor, org_id, year)
