"""Pages for the daily work: correcting a record, the CE verification queue, payroll runs.

Every action is a form posted with the session's CSRF token that calls the same service as the
API and comes back (303) with a message; a refusal shows the service's Chinese message, and
field errors appear next to their fields.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, MediaType, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter, URLEncodedBody
from litestar.response import Redirect, Response, Template
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock, versions
from registry.accounts.actor import Actor
from registry.certificates import batch as batches
from registry.certificates.content import KIND_LABELS
from registry.certificates.schemas import BatchCreate
from registry.errors import RegistryError
from registry.models import Practitioner
from registry.payroll import service as payroll
from registry.payroll.schemas import RunCreate, RunReturn
from registry.practitioners import service as practitioners
from registry.practitioners.schemas import EmploymentCreate, PractitionerCreate, PractitionerUpdate
from registry.web import payroll_exports

Message = Annotated[str | None, QueryParameter(name="message", max_length=300)]
Problem = Annotated[str | None, QueryParameter(name="problem", max_length=2000)]

EDITABLE = ("name", "phone", "education", "social_work_major", "household_region_code")
RUN_ACTIONS = {"compute": "重新计算", "submit": "提交审批", "approve": "批准", "close": "关闭"}


def back(path: str, **params: str) -> Redirect:
    return Redirect(path=f"{path}?{urlencode(params)}" if params else path, status_code=303)


def _pydantic_errors(exc: ValidationError) -> dict[str, str]:
    return {str(e["loc"][0]): "格式不正确" for e in exc.errors() if e["loc"]}


class WorkPages(Controller):
    include_in_schema = False

    # --- correcting a record ----------------------------------------------------------------

    @get("/practitioners/{practitioner_id:int}/edit", media_type=MediaType.HTML)
    async def edit_form(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], practitioner_id: FromPath[int]
    ) -> Template:
        person = await practitioners.get_practitioner(db_session, actor, practitioner_id, action="write")
        values = {k: getattr(person, k) for k in EDITABLE}
        version = await versions.current(db_session, Practitioner, person.id)
        return _edit_page(actor, person.id, person.name, values, {}, None, version)

    @post("/practitioners/{practitioner_id:int}/edit", media_type=MediaType.HTML)
    async def edit_submit(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        practitioner_id: FromPath[int],
        data: URLEncodedBody[dict[str, str]],
    ) -> Response[Any]:
        person = await practitioners.get_practitioner(db_session, actor, practitioner_id, action="write")
        name = person.name  # read now: a rollback below expires the object
        version = data.get("_version") or None
        values: dict[str, Any] = {k: (data.get(k) or "").strip() for k in EDITABLE if k != "social_work_major"}
        values["social_work_major"] = data.get("social_work_major") == "on"
        changes = {
            k: v for k, v in values.items() if v != (getattr(person, k) or ("" if k != "social_work_major" else False))
        }
        if not changes:
            return back(f"/practitioners/{practitioner_id}", message="没有需要保存的修改。")
        try:
            update = PractitionerUpdate(**{k: (v if v != "" else None) for k, v in changes.items()})
        except ValidationError as exc:
            return _edit_page(
                actor, practitioner_id, name, values, _pydantic_errors(exc), "请更正标出的内容。", version
            )
        try:
            await practitioners.update_practitioner(db_session, actor, practitioner_id, update, if_match=version)
        except RegistryError as exc:
            await db_session.rollback()
            errors = {e.field: e.message for e in exc.errors}
            stale = exc.status_code == 412
            return _edit_page(
                actor, practitioner_id, name, values, errors, exc.message, version, status=412 if stale else None
            )
        return back(f"/practitioners/{practitioner_id}", message="已保存。")

    @get("/practitioners/new", media_type=MediaType.HTML)
    async def new_form(self, actor: NamedDependency[Actor]) -> Template:
        actor.require("write", "您的角色无权登记社工。")
        return _new_page(actor, {"education": "bachelor", "post_type": "community_worker"}, {}, None)

    @post("/practitioners/new", media_type=MediaType.HTML)
    async def new_submit(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        data: URLEncodedBody[dict[str, str]],
    ) -> Response[Any]:
        values = {k: (v or "").strip() for k, v in data.items() if k != "_csrf"}
        values["social_work_major"] = "on" if data.get("social_work_major") == "on" else ""
        errors: dict[str, str] = {}
        employment = None
        if values.get("organization_id") or values.get("in_post_from"):
            try:
                employment = EmploymentCreate(
                    organization_id=values.get("organization_id", ""),
                    post_type=values.get("post_type", ""),
                    in_post_from=values.get("in_post_from", ""),
                )
            except ValidationError as exc:
                errors |= {f"employment.{k}": "格式不正确（日期如 2024-03-01）" for k in _pydantic_errors(exc)}
        try:
            create = PractitionerCreate(
                name=values.get("name", ""),
                id_number=values.get("id_number", ""),
                education=values.get("education", ""),
                phone=values.get("phone") or None,
                household_region_code=values.get("household_region_code") or None,
                social_work_major=values["social_work_major"] == "on",
                employment=employment,
            )
        except ValidationError as exc:
            errors |= dict.fromkeys(_pydantic_errors(exc), "必填或格式不正确")
            create = None
        if errors or create is None:
            return _new_page(actor, values, errors, "请更正标出的内容。")
        try:
            person = await practitioners.create_practitioner(db_session, actor, create)
        except RegistryError as exc:
            await db_session.rollback()
            return _new_page(actor, values, {e.field: e.message for e in exc.errors}, exc.message)
        return back(f"/practitioners/{person.id}", message=f"已登记：{person.name}。")

    # --- payroll ----------------------------------------------------------------------------

    @get("/payroll", media_type=MediaType.HTML)
    async def runs(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        message: Message = None,
        problem: Problem = None,
    ) -> Template:
        actor.require("payroll_read", "您的角色无权查看津贴发放批次。")
        today = clock.today()
        last = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
        roots = actor.region_roots("payroll") or []
        return Template(
            template_name="work/payroll_runs.html",
            context={
                "actor": actor,
                "runs": [
                    await _run_view(db_session, r)
                    for r in await payroll.list_runs(db_session, actor, region=None, status=None)
                ],
                "may_prepare": actor.may("payroll"),
                "default_region": roots[0] if roots else "",
                "default_month": last,
                "csrf": actor.session_csrf,
                "message": message,
                "problem": problem,
            },
        )

    @post("/payroll", media_type=MediaType.HTML)
    async def create_run(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        data: URLEncodedBody[dict[str, str]],
    ) -> Redirect:
        try:
            run = await payroll.create_run(
                db_session, actor, RunCreate(region_code=data.get("region_code", ""), month=data.get("month", ""))
            )
        except ValidationError:
            return back("/payroll", problem="请填写 6 位区划代码和月份（YYYY-MM）。")
        except RegistryError as exc:
            await db_session.rollback()
            return back("/payroll", problem=exc.message)
        return back(f"/payroll/{run.id}", message=f"已创建并计算：{run.line_count} 人，合计 {run.total_amount} 元。")

    @get("/payroll/{run_id:int}", media_type=MediaType.HTML)
    async def run_page(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        run_id: FromPath[int],
        message: Message = None,
        problem: Problem = None,
    ) -> Template:
        run = await payroll.get_run(db_session, actor, run_id)
        lines, _ = await payroll.list_lines(db_session, actor, run_id, cursor=None, limit=200)
        prepares = actor.may_on("payroll", region_code=run.region_code)
        approves = actor.may_on("approve_payroll", region_code=run.region_code)
        # Buttons only for those who may press them (the service still checks every action).
        may = {"compute": prepares, "submit": prepares, "approve": approves, "return": approves}
        may["close"] = prepares or approves
        return Template(
            template_name="work/payroll_run.html",
            context={
                "actor": actor,
                "run": await _run_view(db_session, run),
                "lines": lines,
                "diff": await payroll.diff(db_session, actor, run_id),
                "exports": await payroll_exports.page_context(db_session, actor, run),
                "actions": RUN_ACTIONS,
                "may": may,
                "csrf": actor.session_csrf,
                "message": message,
                "problem": problem,
            },
        )

    @post("/payroll/{run_id:int}/{action:str}", media_type=MediaType.HTML)
    async def run_action(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        run_id: FromPath[int],
        action: FromPath[str],
        data: URLEncodedBody[dict[str, str]],
    ) -> Redirect:
        here = f"/payroll/{run_id}"
        try:
            if action == "return":
                await payroll.return_run(db_session, actor, run_id, RunReturn(reason=data.get("reason", "")))
                return back(here, message="已退回编制人修改。")
            if action not in RUN_ACTIONS:
                return back(here, problem="未知操作。")
            run = await getattr(payroll, action)(db_session, actor, run_id)
        except ValidationError:
            return back(here, problem="退回须写明原因（至少 2 个字）。")
        except RegistryError as exc:
            await db_session.rollback()
            return back(here, problem=exc.message)
        return back(here, message=f"{RUN_ACTIONS[action]}完成，当前状态：{_STATUS[run.status]}。")


_STATUS = {"draft": "草稿", "submitted": "待审批", "approved": "已批准", "closed": "已关闭"}


async def _run_view(session: AsyncSession, run: Any) -> dict[str, Any]:
    return {
        "id": run.id,
        "region_code": run.region_code,
        "region_name": await payroll.region_name(session, run.region_code),
        "month": run.month,
        "cutoff": run.cutoff,
        "status": run.status,
        "status_label": _STATUS[run.status],
        "line_count": run.line_count,
        "total_amount": run.total_amount,
        "returned_reason": run.returned_reason,
        "content_hash": run.content_hash,
    }


def _new_page(actor: Actor, values: dict[str, Any], errors: dict[str, str], problem: str | None) -> Template:
    return Template(
        template_name="work/practitioner_new.html",
        context={"actor": actor, "values": values, "errors": errors, "problem": problem, "csrf": actor.session_csrf},
        status_code=422 if errors or problem else 200,
    )


def _edit_page(
    actor: Actor,
    person_id: int,
    name: str,
    values: dict[str, Any],
    errors: dict[str, str],
    problem: str | None,
    version: str | None,
    *,
    status: int | None = None,
) -> Template:
    return Template(
        template_name="work/practitioner_edit.html",
        context={
            "actor": actor,
            "person_id": person_id,
            "name": name,
            "values": values,
            "errors": errors,
            "problem": problem,
            "csrf": actor.session_csrf,
            # The record's version when the form was read: a save over someone else's is refused.
            "version": version or "",
        },
        status_code=status or (422 if errors or problem else 200),
    )


class BatchPages(Controller):
    """Batch issuing of certificates: start a job, watch its progress, download the result."""

    include_in_schema = False

    @get("/certificate-batches", media_type=MediaType.HTML)
    async def batch_form(
        self, actor: NamedDependency[Actor], message: Message = None, problem: Problem = None
    ) -> Template:
        if not (actor.may("batch_certify") or actor.may("batch_certify_allowance")):
            actor.require("batch_certify", "您的角色无权批量出具证明。")
        roots = actor.region_roots("batch_certify_allowance") or actor.region_roots("batch_certify") or []
        today = clock.today()
        return Template(
            template_name="work/batch_form.html",
            context={
                "actor": actor,
                "csrf": actor.session_csrf,
                "default_region": roots[0] if roots else "",
                "default_month": (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m"),
                "kinds": {k: v for k, v in KIND_LABELS.items() if k != "award"},
                "message": message,
                "problem": problem,
            },
        )

    @post("/certificate-batches", media_type=MediaType.HTML)
    async def batch_start(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        data: URLEncodedBody[dict[str, str]],
    ) -> Redirect:
        try:
            create = BatchCreate(
                region_code=data.get("region_code", ""),
                kind=data.get("kind", ""),
                period=data.get("period") or None,
                format=data.get("format", "zip"),
            )
            job = await batches.create_batch(db_session, actor, create)
        except ValidationError:
            return back("/certificate-batches", problem="请填写 6 位区划代码，选择证明种类和文件格式。")
        except RegistryError as exc:
            await db_session.rollback()
            return back("/certificate-batches", problem=exc.message)
        await db_session.commit()
        request.app.state.batch_worker.poke()
        return back(f"/certificate-batches/{job.id}")

    @get("/certificate-batches/{batch_id:int}", media_type=MediaType.HTML)
    async def batch_page(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], batch_id: FromPath[int]
    ) -> Template:
        job = batches.batch_read(await batches.get_batch(db_session, actor, batch_id))
        return Template(template_name="work/batch.html", context={"actor": actor, "job": job, "kinds": KIND_LABELS})
