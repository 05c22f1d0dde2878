from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, PathParameter, QueryParameter
from litestar.response import File, Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor
from registry.certificates import batch as batches
from registry.certificates import service
from registry.certificates.schemas import (
    BatchCreate,
    BatchRead,
    CertificateRead,
    IssueRequest,
    KeyRead,
    PublicStatus,
    RevokeRequest,
)
from registry.certificates.service import CertContext
from registry.certificates.signing import SHORT_PREFIX
from registry.db import CACHED_PLANS, READ_ONLY
from registry.errors import RegistryError

Qr = Annotated[str | None, QueryParameter(name="q", max_length=1000)]


def provide_certificates(state: State) -> CertContext:
    ctx: CertContext = state.certificates
    return ctx


class CertificateController(Controller):
    path = "/api"
    tags = ["证明 certificates"]

    @post("/certificates", status_code=201, summary="出具证明（决定为否时 409，附理由）")
    async def issue(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        certificates: NamedDependency[CertContext],
        data: JSONBody[IssueRequest],
    ) -> Response[CertificateRead]:
        read, created = await service.issue(db_session, actor, certificates, data)
        # The same certificate asked for again is returned as it is (200), not issued twice.
        return Response(read, status_code=201 if created else 200)

    @get("/certificates/{serial:str}", summary="证明详情")
    async def get_certificate(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        certificates: NamedDependency[CertContext],
        serial: FromPath[str],
    ) -> CertificateRead:
        return await service.get_certificate(db_session, actor, certificates, serial)

    @get("/certificates/{serial:str}/pdf", summary="下载 PDF", media_type="application/pdf")
    async def pdf(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        certificates: NamedDependency[CertContext],
        serial: FromPath[str],
    ) -> Response[bytes]:
        data, name = await service.pdf(db_session, actor, certificates, serial)
        return Response(
            data, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    @post("/certificates/{serial:str}/revoke", status_code=200, summary="撤销（须写明理由）")
    async def revoke(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        certificates: NamedDependency[CertContext],
        serial: FromPath[str],
        data: JSONBody[RevokeRequest],
    ) -> CertificateRead:
        return await service.revoke(db_session, actor, certificates, serial, data)

    @post("/certificates/{serial:str}/reissue", status_code=201, summary="按最新登记信息重新出具（原证明被替代）")
    async def reissue(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        certificates: NamedDependency[CertContext],
        serial: FromPath[str],
        data: JSONBody[RevokeRequest],
    ) -> CertificateRead:
        return await service.reissue(db_session, actor, certificates, serial, data)

    @get("/practitioners/{practitioner_id:int}/certificates", summary="个人的证明")
    async def list_for_practitioner(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        certificates: NamedDependency[CertContext],
        practitioner_id: FromPath[int],
    ) -> list[CertificateRead]:
        return await service.list_for_practitioner(db_session, actor, certificates, practitioner_id)

    @post("/certificate-batches", status_code=202, summary="批量出具（后台任务，可查询进度）")
    async def create_batch(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        data: JSONBody[BatchCreate],
    ) -> BatchRead:
        job = await batches.create_batch(db_session, actor, data)
        await db_session.commit()  # queued for the worker, which is woken at once
        request.app.state.batch_worker.poke()
        return batches.batch_read(job)

    @get("/certificate-batches/{batch_id:int}", summary="批量出具进度")
    async def get_batch(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], batch_id: FromPath[int]
    ) -> BatchRead:
        return batches.batch_read(await batches.get_batch(db_session, actor, batch_id))

    @get("/certificate-batches/{batch_id:int}/download", summary="下载批量结果（ZIP 或合并 PDF）")
    async def download_batch(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        certificates: NamedDependency[CertContext],
        batch_id: FromPath[int],
    ) -> File:
        job = await batches.get_batch(db_session, actor, batch_id)
        path = batches.batch_file(certificates, job)
        media = "application/zip" if job.format == "zip" else "application/pdf"
        return File(path=path, filename=path.name, media_type=media)


def _verify_page(result: PublicStatus | None, error: RegistryError | None, serial: str) -> Response[Any]:
    return Template(
        template_name="certificates/verify.html",
        context={"result": result, "error": error.message if error else None, "serial": serial},
        status_code=error.status_code if error else 200,
    )


class VerificationController(Controller):
    """Public: anyone holding a paper may check it, with no account."""

    tags = ["核验 verification"]

    @get(
        "/api/verify/{serial:str}",
        summary="公开核验（无需登录）",
        opt={"public": True, READ_ONLY: True, CACHED_PLANS: True},
    )
    async def verify_api(
        self,
        db_session: NamedDependency[AsyncSession],
        certificates: NamedDependency[CertContext],
        serial: FromPath[str],
        q: Qr = None,
    ) -> PublicStatus:
        return await service.public_status(db_session, certificates, serial, q)

    @get(
        "/verify",
        media_type=MediaType.HTML,
        include_in_schema=False,
        opt={"public": True, READ_ONLY: True, CACHED_PLANS: True},
    )
    async def verify_form(
        self,
        db_session: NamedDependency[AsyncSession],
        certificates: NamedDependency[CertContext],
        serial: Annotated[str | None, QueryParameter(name="serial", max_length=40)] = None,
        q: Qr = None,
    ) -> Response[Any]:
        """The form; a typed serial goes to its page; a scanned QR code (``?q=``) is answered here."""
        if serial:
            return Redirect(path=f"/verify/{''.join(serial.split())}", status_code=303)
        if not q:
            return _verify_page(None, None, "")
        try:
            found = await service.serial_from_payload(db_session, q)
        except RegistryError as exc:
            return _verify_page(None, exc, "")
        return await self._answer(db_session, certificates, found, q)

    @get(
        "/verify/{serial:str}",
        media_type=MediaType.HTML,
        include_in_schema=False,
        opt={"public": True, READ_ONLY: True, CACHED_PLANS: True},
    )
    async def verify_page(
        self,
        db_session: NamedDependency[AsyncSession],
        certificates: NamedDependency[CertContext],
        serial: FromPath[str],
        q: Qr = None,
    ) -> Response[Any]:
        return await self._answer(db_session, certificates, serial, q)

    @get(
        "/V/{serial:str}/{code:str}",
        media_type=MediaType.HTML,
        include_in_schema=False,
        opt={"public": True, READ_ONLY: True, CACHED_PLANS: True},
    )
    async def short_page(
        self,
        db_session: NamedDependency[AsyncSession],
        certificates: NamedDependency[CertContext],
        serial: Annotated[str, PathParameter(max_length=40)],
        code: Annotated[str, PathParameter(max_length=200)],
    ) -> Response[Any]:
        """The address a certificate's QR code holds (upper case, for the code's sake)."""
        return await self._answer(db_session, certificates, serial, f"{SHORT_PREFIX}{serial.upper()}.{code}")

    @staticmethod
    async def _answer(session: AsyncSession, ctx: CertContext, serial: str, q: str | None) -> Response[Any]:
        try:
            return _verify_page(await service.public_status(session, ctx, serial, q), None, serial)
        except RegistryError as exc:
            return _verify_page(None, exc, serial)

    @get("/.well-known/registry-signing-keys.json", summary="证明签名公钥（全部，含已轮换的）", opt={"public": True})
    async def keys(
        self, db_session: NamedDependency[AsyncSession], certificates: NamedDependency[CertContext]
    ) -> dict[str, list[KeyRead]]:
        return {"keys": await service.known_keys(db_session, certificates)}

    @get(
        "/.well-known/registry-signing-key.pem",
        summary="当前签名公钥（PEM）",
        media_type="application/x-pem-file",
        opt={"public": True},
    )
    async def current_key(self, certificates: NamedDependency[CertContext]) -> str:
        return certificates.signer.public_pem
