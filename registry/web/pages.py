"""Server-rendered pages for staff and practitioners (zh-CN, no build step).

Each page calls the same services as the API, with the same scope: a record outside the
caller's scope is "not found" here too. Forms post back with the session's CSRF token and
redirect (303) to the page they came from, with a message in the query string.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, MediaType, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter, URLEncodedBody
from litestar.response import Redirect, Template
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from registry import bounds, clock
from registry.accounts.actor import Actor, Forbidden
from registry.certificates import service as cert_service
from registry.certificates.schemas import IssueRequest
from registry.certificates.service import CertContext
from registry.errors import RegistryError
from registry.organizations.service import scope_choices
from registry.payroll.service import region_month_totals
from registry.practitioners import service as practitioners
from registry.regions.codes import CODE_RE
from registry.regions.service import region_options, resolve_region
from registry.reports.summary import country_summary, figures_of, queue_refresh, rates_of, summary_for
from registry.schemas import LABELS
from registry.web.record import record_context

Text = Annotated[str | None, QueryParameter(max_length=50)]

SEARCH_FIELDS = (
    "name",
    "id_number",
    "certificate_number",
    "region",
    "organization_id",
    "level",
    "post_type",
    "in_post",
    "verification_status",
)


def _filters(query: dict[str, str]) -> practitioners.SearchFilters:
    values: dict[str, Any] = {k: v.strip() for k, v in query.items() if k in SEARCH_FIELDS and v.strip()}
    if "in_post" in values:
        values["in_post"] = values["in_post"] == "true"
    return practitioners.SearchFilters(**values, cursor=query.get("cursor") or None, limit=50)


class Pages(Controller):
    include_in_schema = False

    @get("/practitioners", media_type=MediaType.HTML)
    async def search(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> Template | Redirect:
        query = {k: v for k, v in request.query_params.items() if isinstance(v, str)}
        error = None
        page = None
        typed = (query.get("region") or "").strip()
        if typed and not CODE_RE.match(typed):
            # A region chosen by name: the code goes into the URL, which stays bookmarkable.
            code = await resolve_region(db_session, typed)
            if code is None:
                error = f"找不到名为“{typed}”的区划，请从列表中选择。"
                query.pop("region")
            elif query.get("partial"):
                query["region"] = code
            else:
                kept = {k: v for k, v in query.items() if k in SEARCH_FIELDS and v}
                return Redirect(path="/practitioners?" + urlencode(kept | {"region": code}), status_code=303)
        if error is None and any(query.get(k) for k in SEARCH_FIELDS):
            try:
                page = await practitioners.search_practitioners(db_session, actor, _filters(query))
            except (RegistryError, ValidationError) as exc:
                error = exc.message if isinstance(exc, RegistryError) else "检索条件格式不正确，请检查。"
        next_url = None
        if page is not None and page.next_cursor:
            next_url = "/practitioners?" + urlencode(
                {**{k: v for k, v in query.items() if k in SEARCH_FIELDS}, "cursor": page.next_cursor}
            )
        context = {"actor": actor, "query": query, "page": page, "error": error, "next_url": next_url}
        if not query.get("partial"):
            context["choices"] = await scope_choices(db_session, actor, "read")
        # Results as you type: the page asks for the results part alone.
        name = "practitioners/_results.html" if query.get("partial") else "practitioners/search.html"
        return Template(template_name=name, context=context)

    @get("/practitioners/{practitioner_id:int}", media_type=MediaType.HTML)
    async def record(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        certificates: NamedDependency[CertContext],
        practitioner_id: FromPath[int],
        message: Annotated[str | None, QueryParameter(name="message", max_length=300)] = None,
        problem: Annotated[str | None, QueryParameter(name="problem", max_length=2000)] = None,
    ) -> Template:
        return Template(
            template_name="practitioners/record.html",
            context=await record_context(db_session, actor, certificates, practitioner_id)
            | {"message": message, "problem": problem},
        )

    @post("/practitioners/{practitioner_id:int}/certificates", media_type=MediaType.HTML)
    async def issue_certificate(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        certificates: NamedDependency[CertContext],
        practitioner_id: FromPath[int],
        data: URLEncodedBody[dict[str, str]],
    ) -> Redirect:
        back = "/me" if data.get("back") == "me" else f"/practitioners/{practitioner_id}"
        try:
            request = IssueRequest(
                practitioner_id=practitioner_id,
                kind=data.get("kind", ""),
                period=data.get("period") or None,
                award_id=int(data["award_id"]) if bounds.digits(data.get("award_id", "")) else None,
            )
        except ValidationError:
            return _back(back, problem="请选择证明种类并填写期间。")
        try:
            read, created = await cert_service.issue(db_session, actor, certificates, request)
        except RegistryError as exc:
            await db_session.rollback()
            reasons = "；".join(e.message for e in exc.errors if e.field != "period") if exc.errors else ""
            return _back(back, problem=exc.message + (f"（{reasons}）" if reasons and exc.status_code == 409 else ""))
        return _back(back, message=f"已{'出具' if created else '找到已出具的'}{read.kind_label}，编号 {read.serial}。")

    @post("/certificates/{serial:str}/revoke", media_type=MediaType.HTML)
    async def revoke_certificate(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        certificates: NamedDependency[CertContext],
        serial: FromPath[str],
        data: URLEncodedBody[dict[str, str]],
    ) -> Redirect:
        from registry.certificates.schemas import RevokeRequest

        back = f"/practitioners/{int(data.get('practitioner_id', '0') or 0)}"
        try:
            reason = RevokeRequest(reason=data.get("reason", ""))
        except ValidationError:
            return _back(back, problem="请填写撤销原因（至少 2 个字）。")
        try:
            read = await cert_service.revoke(db_session, actor, certificates, serial, reason)
        except RegistryError as exc:
            await db_session.rollback()
            return _back(back, problem=exc.message)
        return _back(back, message=f"证明 {read.serial} 已撤销。")

    @get("/dashboard", media_type=MediaType.HTML)
    async def dashboard(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        region: Annotated[str | None, QueryParameter(name="region", max_length=60)] = None,
    ) -> Template | Redirect:
        """Read from the summary the queue worker keeps (``reports.summary``): one row, however
        many people the region has. None made yet: one is queued and the page says so."""
        actor.require("figures", "只有民政、津贴发放人员和系统管理员可以查看区域工作台。")
        today = clock.today()
        typed = (region or "").strip()
        if typed and not CODE_RE.match(typed):
            # A region chosen by name (the chooser without script): the code goes into the URL.
            found_code = await resolve_region(db_session, typed)
            if found_code is None:
                raise RegistryError(f"找不到名为“{typed}”的区划，请从列表中选择。", code="unknown_region")
            return _back("/dashboard", region=found_code)
        code = typed or _default_region(actor)
        if code is None:
            # Whoever reads every region starts from the whole country, by province.
            found = await country_summary(db_session, actor, today.year)
            if found is None:
                return await _preparing(request, db_session, actor, "全国", kind="full")
            country, refreshed_at = found
            return Template(
                template_name="reports/country.html",
                context={
                    "actor": actor,
                    "c": country,
                    "today": today,
                    "refreshed_at": _local(refreshed_at),
                    "region_options": await region_options(db_session, actor.region_roots("figures")),
                    "province_rows": [(p.region_name, p.practitioners) for p in country.provinces],
                },
            )
        place, row = await summary_for(db_session, actor, code, today.year)
        if row is None:
            return await _preparing(request, db_session, actor, place.full_name, region_codes=[code])
        figures = figures_of(row)
        months = await region_month_totals(db_session, actor, code) if actor.may("payroll_read") else []
        return Template(
            template_name="reports/dashboard.html",
            context={
                "actor": actor,
                "f": figures,
                "months": months,
                "rates": rates_of(row),
                "today": today,
                "refreshed_at": _local(row.refreshed_at),
                "region_options": await region_options(db_session, actor.region_roots("figures")),
                "months_rows": [(m["month"].strftime("%Y-%m"), float(m["total"])) for m in months],
                "post_rows": [
                    (LABELS.get(k, k), v)
                    for k, v in sorted(figures.in_post_by_post_type.items(), key=lambda kv: -kv[1])
                ],
            },
        )


def _local(moment: dt.datetime) -> str:
    """A moment as the practitioner's clock shows it (Beijing time), to the minute."""
    return moment.astimezone(clock.CHINA).strftime("%Y-%m-%d %H:%M")


async def _preparing(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    actor: Actor,
    name: str,
    *,
    kind: str = "delta",
    region_codes: list[str] | None = None,
) -> Template:
    """No summary yet: queue one, wake the worker, and say it is being prepared."""
    await queue_refresh(session, kind=kind, region_codes=region_codes, user_id=actor.user_id)
    await session.commit()
    request.app.state.summary_worker.poke()
    return Template(template_name="reports/preparing.html", context={"actor": actor, "region_name": name})


def _back(path: str, **params: str) -> Redirect:
    return Redirect(path=f"{path}?{urlencode(params)}", status_code=303)


def _default_region(actor: Actor) -> str | None:
    roots = actor.region_roots("figures")
    if roots is None:
        return None
    if not roots:
        raise Forbidden("您的账号没有可查看的区划。")
    return roots[0]
