"""Who sees which reminder, read marks, the email address, the list of people to chase, and
emailing a day's new reminders."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import re

from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, false, func, or_, select, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.accounts.actor import Actor, practitioner_scope
from registry.accounts.service import actor_for_user
from registry.config import Settings
from registry.errors import InvalidInput, NotFound
from registry.identity import mask_id_number
from registry.models import Practitioner, Region, Reminder, ReminderAddress, ReminderDelivery, ReminderRead, User
from registry.regions.codes import subtree_bounds
from registry.reminders import mail

log = logging.getLogger("registry")
STAFF_ACTIONS = ("verify", "approve_payroll")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class ReminderItem(BaseModel):
    id: int
    rule_id: str
    title: str
    message: str
    due_date: dt.date | None
    day: dt.date
    read: bool


class RemindersRead(BaseModel):
    unread: int
    items: list[ReminderItem]
    email: str | None


class AddressUpdate(BaseModel):
    address: str | None = None


def visible(actor: Actor) -> ColumnElement[bool]:
    """Reminders addressed to the actor: their own as a practitioner, and staff reminders of the
    regions where they hold the reminder's action."""
    conds: list[ColumnElement[bool]] = []
    own = actor.own_practitioner_id
    if own is not None:
        conds.append(and_(Reminder.audience == "practitioner", Reminder.practitioner_id == own))
    for action in STAFF_ACTIONS:
        if not actor.may(action):
            continue
        roots = actor.region_roots(action)
        where: ColumnElement[bool] = (
            true()
            if roots is None
            else or_(*(Reminder.region_code.between(*subtree_bounds(r)) for r in roots))
            if roots
            else false()
        )
        conds.append(and_(Reminder.audience == "staff", Reminder.action == action, where))
    return or_(*conds) if conds else false()


def _is_read(actor: Actor) -> ColumnElement[bool]:
    return (
        select(ReminderRead.reminder_id)
        .where(ReminderRead.reminder_id == Reminder.id, ReminderRead.user_id == (actor.user_id or 0))
        .exists()
    )


async def unread_count(session: AsyncSession, actor: Actor) -> int:
    stmt = select(func.count()).select_from(Reminder).where(visible(actor), ~_is_read(actor))
    return int(await session.scalar(stmt) or 0)


async def reminders_for(session: AsyncSession, actor: Actor, *, unread_only: bool = False) -> RemindersRead:
    read = _is_read(actor).label("read")
    stmt = select(Reminder, read).where(visible(actor)).order_by(Reminder.day.desc(), Reminder.id.desc()).limit(200)
    if unread_only:
        stmt = stmt.where(~_is_read(actor))
    items = [
        ReminderItem(
            id=r.id, rule_id=r.rule_id, title=r.title, message=r.message, due_date=r.due_date, day=r.day, read=is_read
        )
        for r, is_read in (await session.execute(stmt)).all()
    ]
    address = await session.get(ReminderAddress, actor.user_id) if actor.user_id else None
    return RemindersRead(
        unread=await unread_count(session, actor), items=items, email=address.address if address else None
    )


async def mark_read(session: AsyncSession, actor: Actor, reminder_id: int | None) -> int:
    """Mark one reminder (or, with None, all of the actor's) read; how many were unread."""
    ids = select(Reminder.id).where(visible(actor), ~_is_read(actor))
    if reminder_id is not None:
        if await session.scalar(select(Reminder.id).where(Reminder.id == reminder_id, visible(actor))) is None:
            raise NotFound("没有这条提醒。", code="reminder_not_found")
        ids = ids.where(Reminder.id == reminder_id)
    if actor.user_id is None:
        return 0
    rows = [{"reminder_id": i, "user_id": actor.user_id} for i in (await session.scalars(ids)).all()]
    if rows:
        await session.execute(insert(ReminderRead).values(rows).on_conflict_do_nothing())
    return len(rows)


async def set_address(session: AsyncSession, actor: Actor, address: str | None) -> str | None:
    if actor.user_id is None:
        raise InvalidInput("只有登录的用户可以设置提醒邮箱。", code="reminder_email_no_user")
    text = (address or "").strip()
    current = await session.get(ReminderAddress, actor.user_id)
    if not text:
        if current is not None:
            await session.delete(current)
        return None
    if len(text) > 254 or not EMAIL.match(text):
        raise InvalidInput.on_field("address", "email_invalid", "邮箱地址格式不正确，例如 wang@example.cn。")
    if current is None:
        session.add(ReminderAddress(user_id=actor.user_id, address=text))
    else:
        current.address, current.updated_at = text, clock.now()
    return text


async def chase_list(session: AsyncSession, actor: Actor) -> str:
    """CSV of the people with open reminders (due today or later) in the actor's scope."""
    actor.require("write", "只有民政工作人员和单位人事专员可以导出催办名单。")
    rows = await session.execute(
        select(Practitioner.name, Practitioner.id_number, Region.full_name, Reminder.title, Reminder.due_date)
        .add_columns(Reminder.day)
        .join(Practitioner, Practitioner.id == Reminder.practitioner_id)
        .outerjoin(Region, Region.code == Practitioner.region_code)
        .where(
            Reminder.audience == "practitioner",
            practitioner_scope(actor, "write"),
            or_(Reminder.due_date.is_(None), Reminder.due_date >= clock.today()),
        )
        .order_by(Region.full_name, Practitioner.name, Reminder.day)
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["姓名", "公民身份号码", "所在地区", "提醒事项", "截止日期", "提醒日期"])
    for r in rows:
        # A leading = + - @ would be a formula in a spreadsheet: none of these columns needs one.
        cells = [r.name, mask_id_number(r.id_number), r.full_name or "", r.title, r.due_date or "", r.day]
        writer.writerow([str(c).lstrip("=+-@") for c in cells])
    return "\ufeff" + out.getvalue()


async def deliver(session: AsyncSession, settings: Settings, day: dt.date) -> int:
    """Email the day's reminders to the users who gave an address, once each; nothing when no
    SMTP server is configured. A refused connection is logged; the reminders stay in the app."""
    if settings.smtp_host is None:
        return 0
    addresses = (
        await session.execute(
            select(ReminderAddress.user_id, ReminderAddress.address)
            .join(User, User.id == ReminderAddress.user_id)
            .where(User.active)
        )
    ).all()
    outgoing = []
    for user_id, address in addresses:
        actor = await actor_for_user(session, user_id)
        sent = select(ReminderDelivery.reminder_id).where(
            ReminderDelivery.reminder_id == Reminder.id, ReminderDelivery.user_id == user_id
        )
        due = (await session.scalars(select(Reminder).where(Reminder.day == day, visible(actor), ~sent.exists()))).all()
        outgoing += [(user_id, address, r) for r in due]
    if not outgoing:
        return 0
    try:
        await mail.send(settings, [mail.message(settings, a, r.title, r.message) for _, a, r in outgoing])
    except OSError:
        log.exception("reminder email: SMTP server %s refused", settings.smtp_host)
        return 0
    await session.execute(
        insert(ReminderDelivery)
        .values([{"reminder_id": r.id, "user_id": u, "address": a} for u, a, r in outgoing])
        .on_conflict_do_nothing()
    )
    return len(outgoing)
