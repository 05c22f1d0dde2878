"""Emailing reminders through the configured SMTP server (``REGISTRY_SMTP_HOST``; none: off)."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from registry.config import Settings


def message(settings: Settings, to: str, title: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = formataddr(("社会工作人才库", settings.smtp_from))
    msg["To"] = to
    msg["Subject"] = f"社会工作人才库提醒：{title}"
    msg["Message-ID"] = make_msgid(domain=settings.smtp_from.rpartition("@")[2] or "localhost")
    msg.set_content(
        f"{body}\n\n登录社会工作人才库查看全部提醒：{settings.base_url}/reminders\n"
        "（本邮件由系统自动发送，请勿回复。不想再收到邮件，可在“我的提醒”页面删除邮箱。）\n",
        charset="utf-8",
    )
    return msg


def _send(settings: Settings, messages: list[EmailMessage]) -> None:
    assert settings.smtp_host is not None
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password or "")
        for msg in messages:
            smtp.send_message(msg)


async def send(settings: Settings, messages: list[EmailMessage]) -> None:
    """Off the event loop; raises OSError/SMTPException when the server refuses."""
    if messages:
        await asyncio.to_thread(_send, settings, messages)
