"""The work inbox: where staff land after logging in."""

from __future__ import annotations

from litestar import Controller, MediaType, get
from litestar.di import NamedDependency
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.accounts.actor import Actor
from registry.inbox import service


class InboxPages(Controller):
    include_in_schema = False

    @get("/work", media_type=MediaType.HTML)
    async def inbox(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> Template | Redirect:
        if actor.own_practitioner_id:
            return Redirect(path="/me", status_code=303)
        box = await service.inbox(db_session, actor)
        return Template(template_name="work/inbox.html", context={"actor": actor, "box": box})

    @get("/work/expiring", media_type=MediaType.HTML)
    async def expiring(self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]) -> Template:
        actor.require("read")
        today = clock.today()
        rows = await service.expiring(db_session, actor, today)
        return Template(
            template_name="work/expiring.html",
            context={"actor": actor, "rows": rows, "today": today, "days": service.EXPIRING_DAYS},
        )
