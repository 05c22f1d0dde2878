"""Spreadsheet import pages: upload, the dry run's problems by sheet, row and column, then commit.

The same service and jobs as ``/api/imports``; the page polls while a job runs.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, MediaType, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, Parameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor
from registry.errors import RegistryError
from registry.imports import service
from registry.imports.sheets import KIND_LABELS
from registry.imports.values import MAX_STORED_PROBLEMS
from registry.web.work_pages import Message, Problem, back


class ImportPages(Controller):
    include_in_schema = False

    @get("/imports", media_type=MediaType.HTML)
    async def upload_form(
        self, actor: NamedDependency[Actor], message: Message = None, problem: Problem = None
    ) -> Template:
        service.require_importer(actor)
        return Template(
            template_name="work/import_form.html",
            context={"actor": actor, "csrf": actor.session_csrf, "message": message, "problem": problem},
        )

    @post("/imports", media_type=MediaType.HTML, request_max_body_size=service.MAX_UPLOAD_BYTES + 1024 * 1024)
    async def upload(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Redirect:
        upload = data.get("file")
        if not isinstance(upload, UploadFile):
            return back("/imports", problem="请选择要导入的 .xlsx 或 .csv 文件。")
        try:
            job = await service.create_import(
                db_session, actor, request.app.state.settings, upload.filename or "", await upload.read()
            )
        except RegistryError as exc:
            await db_session.rollback()
            return back("/imports", problem=exc.message)
        await db_session.commit()
        request.app.state.import_worker.poke()
        return back(f"/imports/{job.id}")

    @get("/imports/{import_id:int}", media_type=MediaType.HTML)
    async def import_page(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        import_id: FromPath[int],
        message: Message = None,
        problem: Problem = None,
        page: int = Parameter(default=1, ge=1, le=MAX_STORED_PROBLEMS // service.PROBLEMS_PAGE),
    ) -> Template:
        offset = (page - 1) * service.PROBLEMS_PAGE
        job = service.import_read(await service.get_import(db_session, actor, import_id), problems_offset=offset)
        return Template(
            template_name="work/import.html",
            context={
                "actor": actor,
                "job": job,
                "kinds": KIND_LABELS,
                "csrf": actor.session_csrf,
                "message": message,
                "problem": problem,
                "page": page,
                "pages": max(1, -(-job.problems_stored // service.PROBLEMS_PAGE)),
            },
        )

    @post("/imports/{import_id:int}/commit", media_type=MediaType.HTML)
    async def commit(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        import_id: FromPath[int],
    ) -> Redirect:
        try:
            await service.request_commit(db_session, actor, request.app.state.settings, import_id)
        except RegistryError as exc:
            await db_session.rollback()
            return back(f"/imports/{import_id}", problem=exc.message)
        await db_session.commit()
        request.app.state.import_worker.poke()
        return back(f"/imports/{import_id}", message="已提交，正在写入。")
