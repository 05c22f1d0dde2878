"""``/api/reminders`` and the ``/reminders`` page: one's own reminders, read marks, the email
address, and for staff the list of people to chase."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from litestar import Controller, MediaType, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter, URLEncodedBody
from litestar.response import Redirect, Template
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.accounts.actor import Actor
from registry.errors import RegistryError
from registry.reminders import service
from registry.reminders.service import AddressUpdate, RemindersRead

ReminderId = Annotated[int, PathParameter(ge=1, le=2**63 - 1)]


class Unread(BaseModel):
    unread: int


class Marked(BaseModel):
    marked: int


class ReminderController(Controller):
    tags = ["提醒 reminders"]

    @get("/api/reminders", summary="我的提醒")
    async def list_reminders(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        unread: Annotated[bool, QueryParameter(name="unread")] = False,
    ) -> RemindersRead:
        return await service.reminders_for(db_session, actor, unread_only=unread)

    @get("/api/reminders/unread", summary="未读提醒数（页眉角标）")
    async def unread(self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]) -> Unread:
        return Unread(unread=await service.unread_count(db_session, actor))

    @post("/api/reminders/{reminder_id:int}/read", status_code=200, summary="标为已读")
    async def mark_read(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], reminder_id: ReminderId
    ) -> Marked:
        return Marked(marked=await service.mark_read(db_session, actor, reminder_id))

    @post("/api/reminders/read-all", status_code=200, summary="全部标为已读")
    async def mark_all_read(self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]) -> Marked:
        return Marked(marked=await service.mark_read(db_session, actor, None))

    @put("/api/reminders/email", summary="接收提醒的邮箱（空为不发邮件）")
    async def set_email(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[AddressUpdate]
    ) -> AddressUpdate:
        return AddressUpdate(address=await service.set_address(db_session, actor, data.address))

    @get("/api/reminders/chase.csv", summary="需要催办的人员（本辖区，CSV）", media_type="text/csv")
    async def chase(self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]) -> Response[str]:
        body = await service.chase_list(db_session, actor)
        name = f"催办名单-{clock.today()}.csv"
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
        )


class ReminderPages(Controller):
    include_in_schema = False

    @get("/reminders", media_type=MediaType.HTML)
    async def page(self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]) -> Template:
        return await _page(db_session, actor, None)

    @post("/reminders/{reminder_id:int}/read", media_type=MediaType.HTML)
    async def read_one(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], reminder_id: ReminderId
    ) -> Redirect:
        await service.mark_read(db_session, actor, reminder_id)
        return Redirect(path="/reminders", status_code=303)

    @post("/reminders/read-all", media_type=MediaType.HTML)
    async def read_all(self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]) -> Redirect:
        await service.mark_read(db_session, actor, None)
        return Redirect(path="/reminders", status_code=303)

    @post("/reminders/email", media_type=MediaType.HTML)
    async def email(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        data: URLEncodedBody[dict[str, str]],
    ) -> Response[Any]:
        try:
            await service.set_address(db_session, actor, (data.get("address") or "")[:300])
        except RegistryError as exc:
            return await _page(db_session, actor, exc.message, status=400)
        return Redirect(path="/reminders", status_code=303)


async def _page(session: AsyncSession, actor: Actor, problem: str | None, status: int = 200) -> Template:
    return Template(
        template_name="reminders/reminders.html",
        context={
            "actor": actor,
            "csrf": actor.session_csrf,
            "data": await service.reminders_for(session, actor),
            "problem": problem,
            "may_chase": actor.may("write"),
        },
        status_code=status,
    )
