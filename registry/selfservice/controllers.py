"""``/me`` (the page) and ``/api/me`` (the API): one's own account and record."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, MediaType, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, QueryParameter
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts import service as accounts
from registry.accounts.actor import Actor
from registry.accounts.schemas import PasswordChange
from registry.certificates.service import CertContext
from registry.db import CACHED_PLANS, READ_ONLY
from registry.selfservice import service
from registry.selfservice.schemas import MeResponse


class MeController(Controller):
    path = "/api/me"
    tags = ["本人 self-service"]

    @get("", summary="我的账户与档案", opt={READ_ONLY: True, CACHED_PLANS: True})
    async def me(self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]) -> MeResponse:
        return await service.me(db_session, actor)

    @post("/password", status_code=204, summary="修改本人密码")
    async def change_password(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[PasswordChange]
    ) -> None:
        await accounts.change_own_password(db_session, actor, data)


class MePages(Controller):
    include_in_schema = False

    @get("/me", media_type=MediaType.HTML)
    async def me_page(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        certificates: NamedDependency[CertContext],
        message: Annotated[str | None, QueryParameter(name="message", max_length=300)] = None,
        problem: Annotated[str | None, QueryParameter(name="problem", max_length=2000)] = None,
    ) -> Template:
        """The account; for a practitioner, their own record with the same parts as staff see."""
        context = await service.me_page_context(db_session, actor, certificates, message=message, problem=problem)
        return Template(template_name="me/me.html", context=context)
