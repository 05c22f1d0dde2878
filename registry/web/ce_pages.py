"""Continuing education on pages: the holder submits hours with the evidence file, a clerk
records them on someone's behalf, and the queue reaches every pending record of the clerk's
scope (filters, a total, keyset pages, names) and decides several at once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, MediaType, Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, QueryParameter
from litestar.response import Redirect, Response, Template
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from registry import bounds
from registry.accounts.actor import Actor
from registry.education import service as education
from registry.education.schemas import CeRecordCreate
from registry.errors import RegistryError
from registry.models.policy import CE_CATEGORIES, EVIDENCE_MAX_BYTES
from registry.organizations import service as organizations
from registry.practitioners import service as practitioners
from registry.regions.codes import CODE_RE
from registry.regions.service import resolve_region

Message = Annotated[str | None, QueryParameter(name="message", max_length=300)]
Problem = Annotated[str | None, QueryParameter(name="problem", max_length=2000)]
Short = Annotated[str | None, QueryParameter(max_length=20)]

CATEGORY_LABELS = {"training": "培训", "supervision": "督导", "academic": "学术活动", "other": "其他"}
FILTERS = ("region", "organization_id", "category", "date_from", "date_to", "submitted_by")
FIELD_LABELS = {
    "activity_date": "请填写活动日期（如 2026-03-02）。",
    "hours": "请填写学时数（如 6 或 2.5）。",
    "unit": "请选择单位。",
    "category": "请选择类别。",
    "provider": "请填写举办机构（100 字以内）。",
    "course": "请填写课程或活动名称（200 字以内）。",
}


def _back(path: str, **params: str) -> Redirect:
    return Redirect(path=f"{path}?{urlencode(params)}" if params else path, status_code=303)


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def queue_filters(query: dict[str, str]) -> tuple[education.QueueFilters, dict[str, str]]:
    """The filters from the query string, and the problems with any of them (by field)."""
    problems: dict[str, str] = {}
    region = (query.get("region") or "").strip() or None
    if region and not CODE_RE.match(region):
        problems["region"] = f"找不到名为“{region}”的区划，请从列表中选择。"
        region = None
    org = (query.get("organization_id") or "").strip()
    if org and not bounds.digits(org):
        problems["organization_id"] = "请从列表中选择单位。"
    category = query.get("category") or None
    if category and category not in CE_CATEGORIES:
        problems["category"] = "请选择类别。"
        category = None
    dates = {}
    for key in ("date_from", "date_to"):
        dates[key] = _date(query.get(key))
        if query.get(key) and dates[key] is None:
            problems[key] = "日期格式如 2026-03-02。"
    submitted_by = query.get("submitted_by") if query.get("submitted_by") in ("self", "staff") else None
    filters = education.QueueFilters(
        region=region,
        organization_id=int(org) if bounds.digits(org) and len(org) < 18 else None,
        category=category,
        date_from=dates["date_from"],
        date_to=dates["date_to"],
        submitted_by=submitted_by,
    )
    return filters, problems


class CePages(Controller):
    include_in_schema = False

    @get("/ce-queue", media_type=MediaType.HTML)
    async def ce_queue(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        cursor: Short = None,
        message: Message = None,
        problem: Problem = None,
    ) -> Template | Redirect:
        query = {k: v for k, v in request.query_params.items() if k in FILTERS and isinstance(v, str)}
        typed = (query.get("region") or "").strip()
        if typed and not CODE_RE.match(typed):
            code = await resolve_region(db_session, typed)
            if code is not None:  # chosen by name: the code into the URL
                return Redirect(
                    path="/ce-queue?" + urlencode({k: v for k, v in query.items() if v} | {"region": code}),
                    status_code=303,
                )
        filters, errors = queue_filters(query)
        after = int(cursor) if cursor and bounds.digits(cursor) and len(cursor) < 18 else None
        page = await education.queue_page(db_session, actor, filters, cursor=after)
        kept = {k: v for k, v in query.items() if v}
        next_url = "/ce-queue?" + urlencode(kept | {"cursor": str(page.next_cursor)}) if page.next_cursor else None
        here = "/ce-queue" + ("?" + urlencode(kept | ({"cursor": cursor} if after else {})) if kept or after else "")
        options = await organizations.scope_choices(db_session, actor, "verify")
        return Template(
            template_name="work/ce_queue.html",
            context={
                "actor": actor,
                "page": page,
                "query": query,
                "errors": errors,
                "next_url": next_url,
                "first_url": "/ce-queue?" + urlencode(kept) if after else None,
                "here": here,
                "categories": CATEGORY_LABELS,
                "choices": options,
                "csrf": actor.session_csrf,
                "message": message,
                "problem": problem,
            },
        )

    @post("/ce-queue", media_type=MediaType.HTML)
    async def ce_decide_many(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> Redirect:
        form = await request.form()
        here = str(form.get("back") or "/ce-queue")
        if not here.startswith("/ce-queue"):
            here = "/ce-queue"
        only = str(form.get("only") or "")
        raw = [only] if only else [str(v) for v in form.getall("ids")] if "ids" in form else []
        ids = [int(v) for v in raw if bounds.digits(v) and len(v) < 18]
        # A row's own button verifies that record alone.
        decision = "verify" if only else str(form.get("decision") or "")
        sep = "&" if "?" in here else "?"
        if not ids or decision not in ("verify", "reject"):
            return Redirect(path=here + sep + urlencode({"problem": "请先勾选要处理的记录。"}), status_code=303)
        try:
            outcome = await education.decide_many(db_session, actor, ids, decision, str(form.get("reason") or ""))
        except ValidationError:
            return Redirect(
                path=here + sep + urlencode({"problem": "驳回须写明原因（至少 2 个字）。"}), status_code=303
            )
        verb = "核验通过" if decision == "verify" else "驳回"
        params = {"message": f"已{verb} {len(outcome.done)} 条记录。"} if outcome.done else {}
        if outcome.refused:
            params["problem"] = "；".join(f"记录 {i}：{why}" for i, why in outcome.refused[:10]) + (
                f"；另有 {len(outcome.refused) - 10} 条未处理。" if len(outcome.refused) > 10 else ""
            )
        return Redirect(path=here + sep + urlencode(params), status_code=303)

    @post("/ce-queue/{record_id:int}", media_type=MediaType.HTML)
    async def ce_decide(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        record_id: FromPath[int],
    ) -> Redirect:
        form = await request.form()
        decision, reason = str(form.get("decision") or ""), str(form.get("reason") or "")
        try:
            outcome = await education.decide_many(db_session, actor, [record_id], decision, reason)
        except ValidationError:
            return _back("/ce-queue", problem="驳回须写明原因（至少 2 个字）。")
        if outcome.refused:
            return _back("/ce-queue", problem=outcome.refused[0][1])
        return _back("/ce-queue", message=f"记录 {record_id} 已{'核验' if decision == 'verify' else '驳回'}。")

    @get("/ce-records/{record_id:int}/evidence", media_type=MediaType.TEXT)
    async def evidence(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], record_id: FromPath[int]
    ) -> Response[bytes]:
        file = await education.get_evidence(db_session, actor, record_id)
        return Response(
            content=file.data,
            media_type=file.content_type,
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(file.filename)}",
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, no-store",
            },
        )

    @get("/practitioners/{practitioner_id:int}/ce-records/new", media_type=MediaType.HTML)
    async def ce_form(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], practitioner_id: FromPath[int]
    ) -> Template:
        person = await practitioners.get_practitioner(db_session, actor, practitioner_id, action="submit_ce")
        return _ce_page(actor, person, {"unit": "学时", "category": "training"}, {}, None, 200)

    @post(
        "/practitioners/{practitioner_id:int}/ce-records/new",
        media_type=MediaType.HTML,
        request_max_body_size=EVIDENCE_MAX_BYTES + 1024 * 1024,
    )
    async def ce_submit(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        practitioner_id: FromPath[int],
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Response[Any]:
        person = await practitioners.get_practitioner(db_session, actor, practitioner_id, action="submit_ce")
        own = actor.own_practitioner_id == person.id
        values = {k: str(v).strip() for k, v in data.items() if isinstance(v, str) and k != "_csrf"}
        errors: dict[str, str] = {}
        upload = data.get("evidence")
        content = await upload.read() if isinstance(upload, UploadFile) else b""
        if content:
            problem = education.evidence_problem(content)
            if problem:
                errors["evidence"] = problem[1]
        elif own:
            errors["evidence"] = "请上传证明材料（PDF、JPG 或 PNG，5 MB 以内）。"
        hours = values.get("hours", "").replace("，", ".")
        try:
            Decimal(hours)
        except InvalidOperation:
            errors["hours"] = FIELD_LABELS["hours"]
        create = None
        try:
            create = CeRecordCreate(
                activity_date=values.get("activity_date", ""),
                hours=hours if "hours" not in errors else "0",
                unit=values.get("unit", ""),
                category=values.get("category", ""),
                provider=values.get("provider", ""),
                course=values.get("course", ""),
                evidence_note=values.get("evidence_note") or None,
            )
        except ValidationError as exc:
            for detail in exc.errors():
                key = str(detail["loc"][0]) if detail["loc"] else ""
                errors.setdefault(key, FIELD_LABELS.get(key, "格式不正确。"))
        if create is not None and "hours" not in errors:
            try:
                async with db_session.begin_nested():
                    row = await education.submit(db_session, actor, person.id, create)
                    if content and "evidence" not in errors:
                        await education.attach_evidence(
                            db_session, row, upload.filename if isinstance(upload, UploadFile) else "", content
                        )
                    if errors:
                        raise _Undo
            except RegistryError as exc:
                for problem_ in exc.errors or []:
                    errors.setdefault(problem_.field, problem_.message)
                if not exc.errors:
                    errors.setdefault("", exc.message)
            except _Undo:
                pass
        if errors:
            return _ce_page(actor, person, values, errors, "请更正标出的内容（全部问题已一并列出）。", 422)
        target = "/me" if own else f"/practitioners/{person.id}"
        return _back(
            target, message=f"已提交继续教育记录（{create.hours if create else ''} {values.get('unit')}），等待核验。"
        )


class _Undo(Exception):
    """Leaves the savepoint without writing when another field of the form is wrong."""


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _ce_page(
    actor: Actor, person: Any, values: dict[str, str], errors: dict[str, str], problem: str | None, status: int
) -> Template:
    return Template(
        template_name="work/ce_form.html",
        context={
            "actor": actor,
            "person": person,
            "own": actor.own_practitioner_id == person.id,
            "values": values,
            "errors": errors,
            "problem": problem,
            "categories": CATEGORY_LABELS,
            "csrf": actor.session_csrf,
            "max_mb": EVIDENCE_MAX_BYTES // (1024 * 1024),
            "today": dt.date.today(),
        },
        status_code=status,
    )
