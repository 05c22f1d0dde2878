from __future__ import annotations

from typing import Literal

from litestar import Controller, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from registry import versions
from registry.accounts.actor import Actor
from registry.audit.schemas import AuditEventRead
from registry.db import CACHED_PLANS, READ_ONLY, FixedReads
from registry.models import Employment, Practitioner
from registry.practitioners import service
from registry.practitioners.schemas import (
    EmploymentCreate,
    EmploymentRead,
    EmploymentUpdate,
    PractitionerCreate,
    PractitionerDetail,
    PractitionerPage,
    PractitionerUpdate,
    RevealRequest,
    RevealResult,
)
from registry.schemas import Level, Page, PostType, VerificationStatus, json_response


class PractitionerController(Controller):
    path = "/api/practitioners"
    tags = ["社工 practitioners"]

    @get("/", summary="检索社工 (search)", opt={READ_ONLY: True})
    async def search(
        self,
        fixed_reads: NamedDependency[FixedReads],
        name: str | None = Parameter(default=None, max_length=50, description="姓名片段或拼音首字母，如 小明、zs"),
        name_match: FromQuery[Literal["contains", "prefix"]] = "contains",
        id_number: str | None = Parameter(default=None, max_length=18),
        certificate_number: str | None = Parameter(default=None, max_length=40),
        region: str | None = Parameter(default=None, max_length=6, description="区划代码：含全部下级"),
        organization_id: FromQuery[int | None] = None,
        level: FromQuery[Level | None] = None,
        post_type: FromQuery[PostType | None] = None,
        in_post: FromQuery[bool | None] = None,
        verification_status: FromQuery[VerificationStatus | None] = None,
        cursor: str | None = Parameter(default=None, max_length=20),
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> PractitionerPage:
        filters = service.SearchFilters(
            name=name,
            name_match=name_match,
            id_number=id_number,
            certificate_number=certificate_number,
            region=region,
            organization_id=organization_id,
            level=level,
            post_type=post_type,
            in_post=in_post,
            verification_status=verification_status,
            cursor=cursor,
            limit=limit,
        )
        return await service.search_practitioners(fixed_reads, fixed_reads.actor, filters)

    @post("/", summary="登记社工")
    async def create(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        data: JSONBody[PractitionerCreate],
    ) -> PractitionerDetail:
        person = await service.create_practitioner(db_session, actor, data)
        return await service.practitioner_detail(db_session, actor, person.id)

    @get("/{practitioner_id:int}", summary="社工档案", opt={READ_ONLY: True, CACHED_PLANS: True})
    async def get_practitioner(
        self, fixed_reads: NamedDependency[FixedReads], practitioner_id: FromPath[int]
    ) -> Response[PractitionerDetail]:
        detail, etag = await service.practitioner_record(fixed_reads, fixed_reads.actor, practitioner_id)
        return json_response(detail, headers={"ETag": etag})

    @patch("/{practitioner_id:int}", summary="修改社工信息")
    async def update(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        practitioner_id: FromPath[int],
        data: JSONBody[PractitionerUpdate],
        if_match: versions.IfMatch = None,
    ) -> Response[PractitionerDetail]:
        await service.update_practitioner(db_session, actor, practitioner_id, data, if_match=if_match)
        detail = await service.practitioner_detail(db_session, actor, practitioner_id)
        return await versions.tagged(db_session, Practitioner, practitioner_id, detail)

    @post("/{practitioner_id:int}/reveal", status_code=200, summary="查看完整身份证号/电话（留痕）")
    async def reveal(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        practitioner_id: FromPath[int],
        data: JSONBody[RevealRequest],
    ) -> RevealResult:
        return await service.reveal(db_session, actor, practitioner_id, data)

    @get("/{practitioner_id:int}/audit", summary="档案审计记录")
    async def audit_trail(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        practitioner_id: FromPath[int],
        cursor: FromQuery[int | None] = None,
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> Page[AuditEventRead]:
        return await service.audit_trail(db_session, actor, practitioner_id, cursor=cursor, limit=limit)

    @post("/{practitioner_id:int}/employments", summary="新增在岗记录")
    async def add_employment(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        practitioner_id: FromPath[int],
        data: JSONBody[EmploymentCreate],
    ) -> EmploymentRead:
        return await service.add_employment(db_session, actor, practitioner_id, data)


class EmploymentController(Controller):
    path = "/api/employments"
    tags = ["社工 practitioners"]

    @get("/{employment_id:int}", summary="在岗记录")
    async def get_employment(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], employment_id: FromPath[int]
    ) -> Response[EmploymentRead]:
        spell = await service.get_employment(db_session, actor, employment_id)
        return await versions.tagged(db_session, Employment, employment_id, spell)

    @patch("/{employment_id:int}", summary="修改在岗记录 (如填写离岗日期)")
    async def update(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        employment_id: FromPath[int],
        data: JSONBody[EmploymentUpdate],
        if_match: versions.IfMatch = None,
    ) -> Response[EmploymentRead]:
        spell = await service.update_employment(db_session, actor, employment_id, data, if_match=if_match)
        return await versions.tagged(db_session, Employment, employment_id, spell)
