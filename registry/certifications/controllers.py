from __future__ import annotations

from litestar import Controller, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from registry import versions
from registry.accounts.actor import Actor
from registry.certifications import service
from registry.certifications.schemas import (
    CertificationCreate,
    CertificationRead,
    CertificationReject,
    CertificationUpdate,
    CertificationVerify,
    PeriodCorrection,
    PeriodCreate,
)
from registry.models import Certification


class CertificationController(Controller):
    path = "/api"
    tags = ["证书 certifications"]

    @post("/practitioners/{practitioner_id:int}/certifications", summary="登记职业水平证书")
    async def create(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        practitioner_id: FromPath[int],
        data: JSONBody[CertificationCreate],
    ) -> CertificationRead:
        cert = await service.add_certification(db_session, actor, practitioner_id, data)
        return await service.certification_read(db_session, cert)

    @get("/certifications/{certification_id:int}", summary="证书详情")
    async def get_certification(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], certification_id: FromPath[int]
    ) -> Response[CertificationRead]:
        cert = await service.get_certification(db_session, actor, certification_id)
        read = await service.certification_read(db_session, cert)
        return await versions.tagged(db_session, Certification, certification_id, read)

    @patch("/certifications/{certification_id:int}", summary="修改证书（已核验的将退回待核验）")
    async def update(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        certification_id: FromPath[int],
        data: JSONBody[CertificationUpdate],
        if_match: versions.IfMatch = None,
    ) -> Response[CertificationRead]:
        cert = await service.update_certification(db_session, actor, certification_id, data, if_match=if_match)
        read = await service.certification_read(db_session, cert)
        return await versions.tagged(db_session, Certification, certification_id, read)

    @post(
        "/certifications/{certification_id:int}/verify",
        status_code=200,
        summary="核验通过（可补录以前的核验日期，须附依据）",
    )
    async def verify(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        certification_id: FromPath[int],
        data: JSONBody[CertificationVerify | None] = None,
    ) -> CertificationRead:
        cert = await service.verify_certification(db_session, actor, certification_id, data)
        return await service.certification_read(db_session, cert)

    @post("/certifications/{certification_id:int}/periods", summary="登记、再登记、暂停或注销")
    async def add_period(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        certification_id: FromPath[int],
        data: JSONBody[PeriodCreate],
    ) -> CertificationRead:
        period = await service.add_period(db_session, actor, certification_id, data)
        return await service.certification_read(
            db_session, await service.get_certification(db_session, actor, period.certification_id)
        )

    @post(
        "/certifications/{certification_id:int}/periods/{period_id:int}/corrections",
        summary="更正登记、暂停或注销记录（原记录保留）",
    )
    async def correct_period(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        certification_id: FromPath[int],
        period_id: FromPath[int],
        data: JSONBody[PeriodCorrection],
    ) -> CertificationRead:
        period = await service.correct_period(db_session, actor, certification_id, period_id, data)
        return await service.certification_read(
            db_session, await service.get_certification(db_session, actor, period.certification_id)
        )

    @post("/certifications/{certification_id:int}/reject", status_code=200, summary="驳回")
    async def reject(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        certification_id: FromPath[int],
        data: JSONBody[CertificationReject],
    ) -> CertificationRead:
        cert = await service.reject_certification(db_session, actor, certification_id, data)
        return await service.certification_read(db_session, cert)
