from __future__ import annotations

from litestar import Controller, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from registry.certifications import service
from registry.certifications.schemas import (
    CertificationCreate,
    CertificationRead,
    CertificationReject,
    CertificationUpdate,
)

# Until accounts exist every verification is recorded under this name.
_VERIFIER = "api"


class CertificationController(Controller):
    path = "/api"
    tags = ["证书 certifications"]

    @post("/practitioners/{practitioner_id:int}/certifications", summary="登记职业水平证书")
    async def create(
        self,
        db_session: NamedDependency[AsyncSession],
        practitioner_id: FromPath[int],
        data: JSONBody[CertificationCreate],
    ) -> CertificationRead:
        return CertificationRead.model_validate(await service.add_certification(db_session, practitioner_id, data))

    @get("/certifications/{certification_id:int}", summary="证书详情")
    async def get_certification(
        self, db_session: NamedDependency[AsyncSession], certification_id: FromPath[int]
    ) -> CertificationRead:
        return CertificationRead.model_validate(await service.get_certification(db_session, certification_id))

    @patch("/certifications/{certification_id:int}", summary="修改证书（已核验的将退回待核验）")
    async def update(
        self,
        db_session: NamedDependency[AsyncSession],
        certification_id: FromPath[int],
        data: JSONBody[CertificationUpdate],
    ) -> CertificationRead:
        return CertificationRead.model_validate(await service.update_certification(db_session, certification_id, data))

    @post("/certifications/{certification_id:int}/verify", status_code=200, summary="核验通过")
    async def verify(
        self, db_session: NamedDependency[AsyncSession], certification_id: FromPath[int]
    ) -> CertificationRead:
        return CertificationRead.model_validate(
            await service.verify_certification(db_session, certification_id, verifier=_VERIFIER)
        )

    @post("/certifications/{certification_id:int}/reject", status_code=200, summary="驳回")
    async def reject(
        self,
        db_session: NamedDependency[AsyncSession],
        certification_id: FromPath[int],
        data: JSONBody[CertificationReject],
    ) -> CertificationRead:
        return CertificationRead.model_validate(
            await service.reject_certification(db_session, certification_id, data, verifier=_VERIFIER)
        )
