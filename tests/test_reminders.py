"""Reminders through a year: the clock moves a day at a time, the queue worker runs each day's
reminders, and each reminder appears on its day, for the right people, once. Emails go to a
real SMTP server on localhost (aiosmtpd); with no server configured nothing is sent and the run
still succeeds."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry import clock
from registry.certifications.schemas import CertificationCreate
from registry.certifications.service import add_certification
from registry.config import Settings
from registry.models import CeRecordRow, Certification, PayrollRun, Reminder, ReminderDelivery, ReminderRun
from registry.organizations.schemas import OrganizationCreate
from registry.organizations.service import create_organization
from registry.practitioners.schemas import EmploymentCreate, PractitionerCreate
from registry.practitioners.service import add_employment, create_practitioner
from registry.reminders.compute import compute_day
from registry.reminders.jobs import ReminderWorker
from tests.accounts import bearer, make_token, make_user
from tests.scene import LOADER, id_number

SIMING, JIANGAN = "350203", "420102"  # 厦门市思明区 (80 学时 a year), 武汉市江岸区 (no annual rule)
Y = clock.today().year + 1


@dataclass
class Inbox:
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        parsed["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.messages.append(parsed)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:  # a free port on loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@dataclass
class World:
    people: dict[str, int]
    record: int  # C's CE record left pending
    cert_d: int  # D's certification left pending
    run: int  # Xiamen's January payroll run, never approved
    users: dict[str, dict[str, str]]


async def _person(session: AsyncSession, org: int, region: str, name: str) -> int:
    p = await create_practitioner(
        session, LOADER, PractitionerCreate(name=name, id_number=id_number(region, "19900101"), education="bachelor")
    )
    await add_employment(
        session,
        LOADER,
        p.id,
        EmploymentCreate(organization_id=org, post_type="service_org_staff", in_post_from=dt.date(2015, 1, 1)),
    )
    return p.id


async def _cert(session: AsyncSession, pid: int, start: dt.date, end: dt.date, *, verified: bool = True) -> int:
    c = await add_certification(
        session,
        LOADER,
        pid,
        CertificationCreate(
            level="intermediate",
            certificate_number=f"RM{pid:08d}",
            exam_year=2020,
            registration_valid_from=start,
            registration_valid_to=end,
        ),
        today=dt.date(Y, 12, 31),
    )
    row = await session.get(Certification, c.id)
    assert row is not None
    if verified:
        row.verification_status, row.verified_at = "verified", dt.datetime(Y - 1, 1, 5, tzinfo=dt.UTC)
    return c.id


def _ce(pid: int, day: dt.date, hours: int, status: str = "verified") -> CeRecordRow:
    return CeRecordRow(
        practitioner_id=pid,
        activity_date=day,
        hours=Decimal(hours),
        unit="学时",
        category="training",
        provider="厦门市社会工作协会",
        course="个案管理实务",
        status=status,
    )


def at_china_noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=clock.CHINA)


async def build_world(session: AsyncSession) -> World:
    xm = await create_organization(
        session, LOADER, OrganizationCreate(name="思明区社会工作服务中心", org_type="service_org", region_code=SIMING)
    )
    wh = await create_organization(
        session, LOADER, OrganizationCreate(name="江岸区社会工作服务中心", org_type="service_org", region_code=JIANGAN)
    )
    people = {
        "A": await _person(session, xm.id, SIMING, "陈晓燕"),  # registration ends 30 June
        "B": await _person(session, xm.id, SIMING, "林志明"),  # 20 of 80 学时 by October
        "C": await _person(session, xm.id, SIMING, "黄丽娟"),  # 80 学时: no reminder of her own
        "D": await _person(session, xm.id, SIMING, "吴建国"),  # a certification left pending
        "E": await _person(session, wh.id, JIANGAN, "张伟"),  # Hubei: registration ends 31 August
    }
    await _cert(session, people["A"], dt.date(Y - 3, 7, 1), dt.date(Y, 6, 30))
    await _cert(session, people["B"], dt.date(Y - 1, 1, 1), dt.date(Y + 1, 12, 31))
    await _cert(session, people["C"], dt.date(Y - 1, 1, 1), dt.date(Y + 1, 12, 31))
    cert_d = await _cert(session, people["D"], dt.date(Y, 3, 1), dt.date(Y + 2, 2, 28), verified=False)
    await _cert(session, people["E"], dt.date(Y - 3, 9, 1), dt.date(Y, 8, 31))
    session.add(_ce(people["B"], dt.date(Y, 3, 10), 20))
    session.add_all(_ce(people["C"], dt.date(Y, 3, 10 + k), 20) for k in range(4))
    pending = _ce(people["C"], dt.date(Y, 1, 20), 8, status="pending")
    session.add(pending)
    run = PayrollRun(region_code=SIMING, month=dt.date(Y, 1, 1), cutoff=dt.date(Y, 1, 31), status="draft")
    done = PayrollRun(region_code=SIMING, month=dt.date(Y, 2, 1), cutoff=dt.date(Y, 2, 28), status="approved")
    session.add_all([run, done])
    await session.flush()
    # Submitted and entered on these days (the table's own timestamps, as the clock moves).
    pending.created_at = at_china_noon(dt.date(Y, 2, 1))
    row = await session.get(Certification, cert_d)
    assert row is not None
    row.created_at = at_china_noon(dt.date(Y, 3, 1))
    users = {}
    for name, grant in (
        ("A", {"role": "practitioner", "practitioner_id": people["A"]}),
        ("B", {"role": "practitioner", "practitioner_id": people["B"]}),
        ("C", {"role": "practitioner", "practitioner_id": people["C"]}),
        ("E", {"role": "practitioner", "practitioner_id": people["E"]}),
        ("xm-clerk", {"role": "civil_affairs", "region_code": SIMING}),
        ("wh-clerk", {"role": "civil_affairs", "region_code": JIANGAN}),
        ("xm-payroll", {"role": "payroll_clerk", "region_code": SIMING}),
    ):
        user = await make_user(session, f"rm-{name.lower()}", grant)
        users[name] = bearer(await make_token(session, user))
    await session.commit()
    return World(people, pending.id, cert_d, run.id, users)


def expected(world: World) -> set[tuple[str, str, dt.date]]:
    p = world.people
    return {
        ("RMD-REG-90", f"p{p['A']}", dt.date(Y, 6, 30) - dt.timedelta(days=90)),
        ("RMD-REG-30", f"p{p['A']}", dt.date(Y, 6, 30) - dt.timedelta(days=30)),
        ("RMD-REG-90", f"p{p['E']}", dt.date(Y, 8, 31) - dt.timedelta(days=90)),
        ("RMD-REG-30", f"p{p['E']}", dt.date(Y, 8, 31) - dt.timedelta(days=30)),
        ("RMD-CE-SHORT", f"p{p['B']}", dt.date(Y, 10, 1)),
        ("RMD-CE-PENDING", f"r{world.record}", dt.date(Y, 2, 22)),
        ("RMD-CERT-PENDING", f"c{world.cert_d}", dt.date(Y, 3, 22)),
        ("RMD-PAYROLL", f"run{world.run}", dt.date(Y, 2, 10)),
    }


def _subject(r: Reminder) -> str:
    if r.practitioner_id is not None:
        return f"p{r.practitioner_id}"
    ident = r.key.split(":")[1]
    return {"RMD-CE-PENDING": "r", "RMD-CERT-PENDING": "c", "RMD-PAYROLL": "run"}[r.rule_id] + ident


async def _titles(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    answer = await client.get("/api/reminders", headers=headers)
    assert answer.status_code == 200, answer.text
    return sorted(item["title"] for item in answer.json()["items"])


async def test_a_year_of_reminders_each_on_its_day_for_the_right_people_once_and_by_email(
    anonymous: httpx.AsyncClient,
    session: AsyncSession,
    session_maker: async_sessionmaker[AsyncSession],
    smtp: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox, port = smtp
    world = await build_world(session)
    for who, address in (("A", "chen.xiaoyan@example.cn"), ("xm-clerk", "siming.mz@example.cn")):
        put = await anonymous.put("/api/reminders/email", json={"address": address}, headers=world.users[who])
        assert put.status_code == 200 and put.json()["address"] == address
    bad = await anonymous.put("/api/reminders/email", json={"address": "not an address"}, headers=world.users["B"])
    assert bad.status_code == 422 and bad.json()["code"] == "email_invalid"

    settings = Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_from="noreply@registry.example.cn")
    worker = ReminderWorker(session_maker, settings)
    appeared: dict[dt.date, set[str]] = {}
    day = dt.date(Y, 1, 1)
    while day.year == Y:
        monkeypatch.setattr(clock, "today", lambda d=day: d)
        await worker.prepare()
        assert await worker.drain() == 1  # one run a day
        keys = set((await session.scalars(select(Reminder.key).where(Reminder.day == day))).all())
        if keys:
            appeared[day] = keys
        day += dt.timedelta(days=1)
    # Computing a day again makes nothing new.
    total = await session.scalar(select(func.count()).select_from(Reminder))
    for day in (dt.date(Y, 4, 1), dt.date(Y, 10, 1), dt.date(Y, 12, 31)):
        assert await compute_day(session, day) == []
    assert await session.scalar(select(func.count()).select_from(Reminder)) == total

    reminders = (await session.scalars(select(Reminder))).all()
    got = {(r.rule_id, _subject(r), r.day) for r in reminders}
    assert got == expected(world)
    assert len(reminders) == len(got)  # once each
    runs = (await session.scalars(select(ReminderRun).order_by(ReminderRun.day))).all()
    assert len(runs) == 365 and all(r.status == "done" for r in runs)

    # Who sees what (the clock in October).
    monkeypatch.setattr(clock, "today", lambda: dt.date(Y, 10, 2))
    u = world.users
    assert await _titles(anonymous, u["A"]) == [f"证书登记将于 {dt.date(Y, 6, 30)} 到期"] * 2
    assert await _titles(anonymous, u["B"]) == [f"{Y} 年继续教育时数尚未达标"]
    assert await _titles(anonymous, u["C"]) == []  # her pending record is for staff to act on
    assert len(await _titles(anonymous, u["E"])) == 2
    assert await _titles(anonymous, u["xm-clerk"]) == sorted(
        ["继续教育记录待核验已超过 21 天", "证书待核验已超过 21 天", f"{Y} 年 1 月津贴发放尚未审批"]
    )
    assert await _titles(anonymous, u["wh-clerk"]) == []  # nothing in Jiang'an for staff
    assert await _titles(anonymous, u["xm-payroll"]) == []  # approving is the clerk's
    short = (await anonymous.get("/api/reminders", headers=u["B"])).json()["items"][0]
    assert "尚差 60 学时" in short["message"] and "已核验 20 学时" in short["message"]

    # Marked read, one and then all; someone else's reminder is not theirs to mark.
    mine = (await anonymous.get("/api/reminders", headers=u["A"])).json()
    assert mine["unread"] == 2 and mine["email"] == "chen.xiaoyan@example.cn"
    first = mine["items"][0]["id"]
    assert (await anonymous.post(f"/api/reminders/{first}/read", headers=u["A"])).json() == {"marked": 1}
    assert (await anonymous.get("/api/reminders/unread", headers=u["A"])).json() == {"unread": 1}
    assert (await anonymous.post(f"/api/reminders/{first}/read", headers=u["B"])).status_code == 404
    assert (await anonymous.post("/api/reminders/read-all", headers=u["A"])).json() == {"marked": 1}
    assert (await anonymous.get("/api/reminders?unread=true", headers=u["A"])).json()["items"] == []
    page = await anonymous.get("/reminders", headers=u["B"])
    assert page.status_code == 200 and "继续教育时数尚未达标" in page.text and "未读" in page.text
    # The header's badge: a link and a static script that asks /api/reminders/unread.
    assert 'id="reminders-badge"' in page.text and '<script src="/static/js/reminders.js"' in page.text
    script = await anonymous.get("/static/js/reminders.js")
    assert script.status_code == 200 and "/api/reminders/unread" in script.text

    # Staff export the people to chase in their own region (open reminders only).
    sheet = await anonymous.get("/api/reminders/chase.csv", headers=u["xm-clerk"])
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/csv")
    lines = sheet.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("姓名,公民身份号码") and len(lines) == 2 and lines[1].startswith("林志明,")
    assert "张伟" not in sheet.text
    assert (await anonymous.get("/api/reminders/chase.csv", headers=u["wh-clerk"])).content.decode("utf-8-sig").count(
        "\n"
    ) == 1
    assert (await anonymous.get("/api/reminders/chase.csv", headers=u["B"])).status_code == 403

    # Email: to the two who gave an address, in Chinese, each reminder once.
    sent = sorted((m["X-Envelope-To"], str(m["Subject"])) for m in inbox.messages)
    assert sent == sorted(
        [
            ("chen.xiaoyan@example.cn", f"社会工作人才库提醒：证书登记将于 {dt.date(Y, 6, 30)} 到期"),
            ("chen.xiaoyan@example.cn", f"社会工作人才库提醒：证书登记将于 {dt.date(Y, 6, 30)} 到期"),
            ("siming.mz@example.cn", "社会工作人才库提醒：继续教育记录待核验已超过 21 天"),
            ("siming.mz@example.cn", "社会工作人才库提醒：证书待核验已超过 21 天"),
            ("siming.mz@example.cn", f"社会工作人才库提醒：{Y} 年 1 月津贴发放尚未审批"),
        ]
    )
    body = next(m for m in inbox.messages if "津贴" in str(m["Subject"])).get_content()
    assert "到本月 10 日仍未提交审批" in body and "/reminders" in body
    assert str(inbox.messages[0]["To"]) == inbox.messages[0]["X-Envelope-To"]
    assert await session.scalar(select(func.count()).select_from(ReminderDelivery)) == 5


async def test_with_no_smtp_server_nothing_is_sent_and_the_run_succeeds(
    anonymous: httpx.AsyncClient,
    session: AsyncSession,
    session_maker: async_sessionmaker[AsyncSession],
    smtp: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox, _ = smtp
    world = await build_world(session)
    put = await anonymous.put("/api/reminders/email", json={"address": "a@example.cn"}, headers=world.users["A"])
    assert put.status_code == 200
    worker = ReminderWorker(session_maker, Settings())  # no REGISTRY_SMTP_HOST: email is off
    day = dt.date(Y, 6, 30) - dt.timedelta(days=90)
    monkeypatch.setattr(clock, "today", lambda: day)
    await worker.prepare()
    assert await worker.drain() == 1
    run = (await session.scalars(select(ReminderRun).where(ReminderRun.day == day))).one()
    # A's registration (90 days), and the CE record and certification waiting since February/March.
    assert (run.status, run.created, run.emailed, run.error) == ("done", 3, 0, None)
    assert inbox.messages == []
    assert await session.scalar(select(func.count()).select_from(ReminderDelivery)) == 0
    assert len(await _titles(anonymous, world.users["A"])) == 1
