from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath, MultipartBody, Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor
from registry.config import Settings
from registry.errors import InvalidInput
from registry.imports import service
from registry.imports.schemas import ImportRead
from registry.imports.template import scope_examples, template_xlsx
from registry.imports.values import MAX_STORED_PROBLEMS

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ImportController(Controller):
    path = "/api/imports"
    tags = ["导入 imports"]

    @get("/template.xlsx", summary="下载导入模板（每类一个工作表，含示例行和说明）")
    async def template(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> Response[bytes]:
        service.require_importer(actor)
        return Response(
            template_xlsx(await scope_examples(db_session, actor)),
            media_type=XLSX,
            headers={"Content-Disposition": "attachment; filename*=UTF-8''%E5%AF%BC%E5%85%A5%E6%A8%A1%E6%9D%BF.xlsx"},
        )

    @post(
        "/",
        status_code=202,
        summary="上传 XLSX／CSV 并排队检查（不写入）；轮询进度与问题",
        request_max_body_size=service.MAX_UPLOAD_BYTES + 1024 * 1024,
    )
    async def upload(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        data: MultipartBody[dict[str, Any]],
    ) -> ImportRead:
        settings: Settings = request.app.state.settings
        # Read as a form, not as MultipartBody[UploadFile]: Litestar answers a multipart body
        # without any file part with a 500 (StopIteration inside its extractor).
        upload = data.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput.on_field("file", "file_missing", "请选择要上传的 .xlsx 或 .csv 文件（表单字段 file）。")
        content = await upload.read()
        job = await service.create_import(db_session, actor, settings, upload.filename or "", content)
        await db_session.commit()  # queued for the worker, which is woken at once
        request.app.state.import_worker.poke()
        return service.import_read(job)

    @get("/{import_id:int}", summary="导入进度、问题清单和将要（或已经）写入的数量")
    async def get_import(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        import_id: FromPath[int],
        problems_offset: int = Parameter(default=0, ge=0, le=MAX_STORED_PROBLEMS),
        problems_limit: int = Parameter(default=service.PROBLEMS_PAGE, ge=1, le=500),
    ) -> ImportRead:
        job = await service.get_import(db_session, actor, import_id)
        return service.import_read(job, problems_offset=problems_offset, problems_limit=problems_limit)

    @post("/{import_id:int}/commit", status_code=202, summary="提交检查无误的导入（全部写入或全部不写入）")
    async def commit(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        import_id: FromPath[int],
    ) -> ImportRead:
        settings: Settings = request.app.state.settings
        job = await service.request_commit(db_session, actor, settings, import_id)
        await db_session.commit()
        request.app.state.import_worker.poke()
        return service.import_read(job)
