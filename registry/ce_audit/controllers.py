"""``/api/ce-audits``: draw a region's yearly sample, evidence, outcomes, the report; and the
staff pages ``/ce-audits``. The practitioner's own part is on /me (``templates/ce_audit/_me.html``)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, MediaType, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import JSONBody, MultipartBody, PathParameter, URLEncodedBody
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor
from registry.ce_audit import service
from registry.ce_audit.service import (
    AuditedRecord,
    OutcomeCreate,
    SampleCreate,
    SampleRead,
    SampleReport,
    SampleSummary,
)
from registry.errors import InvalidInput, RegistryError

Id = Annotated[int, PathParameter(ge=1, le=2**63 - 1)]
UPLOAD_LIMIT = service.MAX_EVIDENCE_BYTES + 1024 * 1024


class CeAuditController(Controller):
    path = "/api/ce-audits"
    tags = ["继续教育抽查 CE audit"]

    @get("", summary="抽查列表（本辖区）")
    async def list_samples(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> list[SampleSummary]:
        return await service.list_samples(db_session, actor)

    @post("", summary="抽取某年某地区的抽查样本（种子与抽取结果留存）")
    async def draw(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[SampleCreate]
    ) -> SampleRead:
        return await service.draw_sample(db_session, actor, data)

    @get("/{sample_id:int}", summary="抽查样本：抽中人员及其记录、材料、结论")
    async def get_sample(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], sample_id: Id
    ) -> SampleRead:
        return await service.get_sample(db_session, actor, sample_id)

    @get("/{sample_id:int}/report", summary="抽查结果汇总与地区继续教育达标情况")
    async def report(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], sample_id: Id
    ) -> SampleReport:
        return await service.report(db_session, actor, sample_id)

    @post("/{sample_id:int}/outcomes", summary="记录一条记录的抽查结论（属实／不予认可并说明理由）")
    async def decide(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        sample_id: Id,
        data: JSONBody[OutcomeCreate],
    ) -> AuditedRecord:
        return await service.decide(db_session, actor, sample_id, data)

    @post(
        "/{sample_id:int}/records/{record_id:int}/evidence",
        summary="上传一条记录的证明材料（PDF、JPEG、PNG，5 MB 以内）",
        request_max_body_size=UPLOAD_LIMIT,
    )
    async def evidence(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        sample_id: Id,
        record_id: Id,
        data: MultipartBody[dict[str, Any]],
    ) -> AuditedRecord:
        # Read as a form, as the import upload is: Litestar answers a multipart body without any
        # file part with a 500 when the handler asks for MultipartBody[UploadFile].
        upload = data.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput.on_field(
                "file", "file_missing", "请选择要上传的证明材料（PDF、JPEG 或 PNG，表单字段 file）。"
            )
        content = await upload.read()
        return await service.add_evidence(db_session, actor, sample_id, record_id, upload.filename or "", content)


class CeAuditPages(Controller):
    include_in_schema = False

    @get("/ce-audits", media_type=MediaType.HTML)
    async def samples(self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]) -> Template:
        return await _samples_page(db_session, actor, None)

    @post("/ce-audits", media_type=MediaType.HTML)
    async def draw(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        data: URLEncodedBody[dict[str, str]],
    ) -> Response[Any]:
        try:
            sample = await service.draw_sample(
                db_session,
                actor,
                SampleCreate(
                    year=int(data.get("year") or 0),
                    region_code=(data.get("region_code") or "").strip(),
                    seed=(data.get("seed") or "").strip() or None,
                ),
            )
        except (RegistryError, ValueError) as exc:
            message = exc.message if isinstance(exc, RegistryError) else "年度或地区代码格式不正确。"
            return await _samples_page(db_session, actor, message, status=400)
        return Redirect(path=f"/ce-audits/{sample.id}", status_code=303)

    @get("/ce-audits/{sample_id:int}", media_type=MediaType.HTML)
    async def sample(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], sample_id: Id
    ) -> Template:
        return await _sample_page(db_session, actor, sample_id, None)

    @post("/ce-audits/{sample_id:int}/outcomes", media_type=MediaType.HTML)
    async def decide(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        sample_id: Id,
        data: URLEncodedBody[dict[str, str]],
    ) -> Response[Any]:
        try:
            await service.decide(
                db_session,
                actor,
                sample_id,
                OutcomeCreate(
                    ce_record_id=int(data.get("ce_record_id") or 0),
                    outcome=data.get("outcome") or "",
                    reason=(data.get("reason") or "")[:500],
                ),
            )
        except (RegistryError, ValueError) as exc:
            message = exc.message if isinstance(exc, RegistryError) else "请选择结论。"
            return await _sample_page(db_session, actor, sample_id, message, status=400)
        return Redirect(path=f"/ce-audits/{sample_id}", status_code=303)

    @post(
        "/me/ce-audits/{sample_id:int}/records/{record_id:int}/evidence",
        media_type=MediaType.HTML,
        request_max_body_size=UPLOAD_LIMIT,
    )
    async def upload(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        sample_id: Id,
        record_id: Id,
        data: MultipartBody[dict[str, Any]],
    ) -> Redirect:
        file = data.get("file")
        content = await file.read() if isinstance(file, UploadFile) else b""
        name = file.filename if isinstance(file, UploadFile) else ""
        try:
            await service.add_evidence(db_session, actor, sample_id, record_id, name or "", content)
        except RegistryError as exc:
            return Redirect(path="/me", query_params={"problem": exc.message}, status_code=303)
        return Redirect(path="/me", query_params={"message": "证明材料已上传。"}, status_code=303)


async def _samples_page(session: AsyncSession, actor: Actor, problem: str | None, status: int = 200) -> Template:
    return Template(
        template_name="ce_audit/samples.html",
        context={
            "actor": actor,
            "csrf": actor.session_csrf,
            "samples": await service.list_samples(session, actor),
            "default_share": service.DEFAULT_SHARE,
            "problem": problem,
        },
        status_code=status,
    )


async def _sample_page(
    session: AsyncSession, actor: Actor, sample_id: int, problem: str | None, status: int = 200
) -> Template:
    return Template(
        template_name="ce_audit/sample.html",
        context={
            "actor": actor,
            "csrf": actor.session_csrf,
            "sample": await service.get_sample(session, actor, sample_id),
            "report": await service.report(session, actor, sample_id),
            "problem": problem,
            "may_decide": actor.may("verify"),
        },
        status_code=status,
    )
