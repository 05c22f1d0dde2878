"""``/register`` (page) and ``/api/register`` (JSON): public, no login, limited per client."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter, URLEncodedBody
from litestar.response import Template
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.accounts.actor import Actor
from registry.accounts.auth import client_ip
from registry.register import service
from registry.register.throttle import SlidingWindow
from registry.web.errors import problem


class RegisterQuery(BaseModel):
    name: str | None = Field(default=None, max_length=50)
    certificate_number: str | None = Field(default=None, max_length=40)


class LookupCount(BaseModel):
    day: dt.date
    outcome: str
    lookups: int


def _allowed(state: State, request: Request[Any, Any, Any]) -> bool:
    window: SlidingWindow = state.register_window
    return window.allow(client_ip(request) or "unknown")


def _page(answer: service.RegisterAnswer | None, name: str, number: str, status: int = 200) -> Template:
    return Template(
        template_name="register/register.html",
        context={"answer": answer, "name": name, "number": number},
        status_code=status,
    )


class RegisterController(Controller):
    tags = ["公开登记查询 public register"]

    @post("/api/register", status_code=200, summary="公开登记查询（姓名与证书编号均须填写）", opt={"public": True})
    async def lookup_api(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: NamedDependency[AsyncSession],
        data: JSONBody[RegisterQuery],
    ) -> Response[Any]:
        today = clock.today()
        if not _allowed(state, request):
            await service.count(db_session, today, "limited")
            return problem(
                request, status=429, code="register_rate_limited", title="查询过于频繁", detail=service.LIMITED
            )
        answer = await service.answer(db_session, data.name, data.certificate_number, today)
        if not answer.found and answer.message == service.INCOMPLETE:
            return problem(
                request, status=400, code="register_query_incomplete", title="查询条件不全", detail=answer.message
            )
        return Response(answer)

    @get("/api/register/lookups", summary="公开登记查询的每日次数（汇总）")
    async def lookups(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        since: Annotated[dt.date | None, QueryParameter(name="since")] = None,
    ) -> list[LookupCount]:
        actor.require("audit")
        start = since if since and since.year >= 2000 else clock.today() - dt.timedelta(days=30)
        rows = await service.counts(db_session, start)
        return [LookupCount(day=d, outcome=o, lookups=n) for d, o, n in rows]

    @get("/register", media_type=MediaType.HTML, include_in_schema=False, opt={"public": True})
    async def form(self) -> Template:
        return _page(None, "", "")

    @post("/register", media_type=MediaType.HTML, include_in_schema=False, opt={"public": True})
    async def lookup_page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        db_session: NamedDependency[AsyncSession],
        data: URLEncodedBody[dict[str, str]],
    ) -> Template:
        name, number = (data.get("name") or "")[:50], (data.get("certificate_number") or "")[:40]
        today = clock.today()
        if not _allowed(state, request):
            await service.count(db_session, today, "limited")
            return _page(service.RegisterAnswer(found=False, message=service.LIMITED), name, number, 429)
        answer = await service.answer(db_session, name, number, today)
        return _page(answer, name, number, 200 if answer.found or answer.message != service.INCOMPLETE else 400)
