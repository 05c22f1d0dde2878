"""What waits for a member of staff in their scope: records to verify, payroll runs to approve
or close, registrations running out, their imports and batches that have finished."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from registry import clock
from registry.accounts.actor import Actor, practitioner_scope, region_code_scope
from registry.certifications.history import in_force, registered_over
from registry.models import (
    CeRecordRow,
    CertificateBatch,
    Certification,
    CertificationPeriod,
    ImportJob,
    PayrollRun,
    Practitioner,
)

EXPIRING_DAYS = 90
FINISHED_DAYS = 7


@dataclass(frozen=True)
class Item:
    key: str
    label: str
    count: int
    href: str
    action: str  # what pressing the link lets one do


@dataclass
class Inbox:
    items: list[Item] = field(default_factory=list)
    finished: list[tuple[str, str, str]] = field(default_factory=list)  # (label, status, href)

    @property
    def waiting(self) -> int:
        return sum(i.count for i in self.items)


async def _count(session: AsyncSession, stmt: Select[Any]) -> int:
    return int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


async def expiring(
    session: AsyncSession, actor: Actor, today: dt.date, *, limit: int = 200
) -> list[tuple[int, str, str, dt.date]]:
    """Verified certificates registered today whose registration ends within 90 days and is not
    yet renewed: (person id, name, number, last day)."""
    reg = aliased(CertificationPeriod)
    ends = (
        select(func.max(reg.end_date))
        .where(
            reg.certification_id == Certification.id,
            reg.kind.in_(("registration", "renewal")),
            reg.start_date <= today,
            reg.end_date >= today,
            in_force(reg),
        )
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Practitioner.id, Practitioner.name, Certification.certificate_number, ends.label("ends"))
        .join(Practitioner, Practitioner.id == Certification.practitioner_id)
        .where(*_expiring_conds(actor, today))
        .order_by(ends, Certification.id)
        .limit(limit)
    )
    return [(int(i), str(n), str(c), d) for i, n, c, d in rows.all() if d is not None]


def _expiring_conds(actor: Actor, today: dt.date) -> list[ColumnElement[bool]]:
    return [
        practitioner_scope(actor, "read"),
        Certification.verification_status == "verified",
        registered_over(today),
        ~registered_over(today + dt.timedelta(days=EXPIRING_DAYS)),
    ]


async def inbox(session: AsyncSession, actor: Actor) -> Inbox:
    today = clock.today()
    box = Inbox()
    if actor.may("verify"):
        ce = (
            select(CeRecordRow.id)
            .join(Practitioner, Practitioner.id == CeRecordRow.practitioner_id)
            .where(CeRecordRow.status == "pending", practitioner_scope(actor, "verify"))
        )
        box.items.append(Item("ce", "待核验的继续教育记录", await _count(session, ce), "/ce-queue", "核验"))
        certs = (
            select(Certification.id)
            .join(Practitioner, Practitioner.id == Certification.practitioner_id)
            .where(Certification.verification_status == "pending", practitioner_scope(actor, "verify"))
        )
        box.items.append(
            Item(
                "certifications",
                "待核验的职业水平证书",
                await _count(session, certs),
                "/practitioners?verification_status=pending",
                "核验",
            )
        )
    if actor.may("approve_payroll"):
        runs = select(PayrollRun.id).where(
            PayrollRun.status == "submitted", region_code_scope(actor, PayrollRun.region_code, "approve_payroll")
        )
        box.items.append(Item("approve", "待审批的津贴发放批次", await _count(session, runs), "/payroll", "审批"))
    if actor.may("payroll") or actor.may("approve_payroll"):
        action = "payroll" if actor.may("payroll") else "approve_payroll"
        runs = select(PayrollRun.id).where(
            PayrollRun.status == "approved", region_code_scope(actor, PayrollRun.region_code, action)
        )
        box.items.append(Item("close", "已批准待关闭的发放批次", await _count(session, runs), "/payroll", "关闭"))
    if actor.may("read") and not actor.own_practitioner_id:
        soon = select(Certification.id).join(Practitioner, Practitioner.id == Certification.practitioner_id)
        soon = soon.where(*_expiring_conds(actor, today))
        box.items.append(
            Item(
                "expiring", f"{EXPIRING_DAYS} 天内登记到期的证书", await _count(session, soon), "/work/expiring", "查看"
            )
        )
    since = clock.now() - dt.timedelta(days=FINISHED_DAYS)
    if actor.user_id is not None:
        imports = await session.execute(
            select(ImportJob.id, ImportJob.file_name, ImportJob.status, ImportJob.phase)
            .where(ImportJob.created_by_id == actor.user_id, ImportJob.finished_at >= since)
            .order_by(ImportJob.finished_at.desc())
            .limit(10)
        )
        for i, name, status, phase in imports.all():
            state = "失败" if status == "failed" else ("已写入" if phase == "commit" else "检查完成")
            box.finished.append((f"导入：{name}", state, f"/imports/{i}"))
        batches = await session.execute(
            select(CertificateBatch.id, CertificateBatch.period, CertificateBatch.status, CertificateBatch.issued)
            .where(CertificateBatch.created_by_id == actor.user_id, CertificateBatch.finished_at >= since)
            .order_by(CertificateBatch.finished_at.desc())
            .limit(10)
        )
        for i, period, status, issued in batches.all():
            state = "失败" if status == "failed" else f"已完成，新出具 {issued} 份"
            box.finished.append((f"批量出具：{period}", state, f"/certificate-batches/{i}"))
    return box
