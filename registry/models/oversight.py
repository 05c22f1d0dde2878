"""Oversight: reminders, the CE audit sample, and the public register's lookup counts."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Identity,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, in_check

JOB_STATUSES = ("queued", "running", "done", "failed")
AUDIENCES = ("practitioner", "staff")
AUDIT_OUTCOMES = ("upheld", "struck")


class ReminderRun(Base):
    """One day's computation of reminders, run by the queue worker (one row a day)."""

    __tablename__ = "reminder_run"
    __table_args__ = (CheckConstraint(in_check("status", JOB_STATUSES), name="status_known"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    status: Mapped[str] = mapped_column(String(10), server_default="queued")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created: Mapped[int] = mapped_column(Integer, server_default="0")
    emailed: Mapped[int] = mapped_column(Integer, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[datetime | None]


class Reminder(Base):
    """A reminder, made once (``key`` is unique) on the day its rule first applies. Addressed to
    a practitioner (and whoever logs in as them) or to staff holding ``action`` over ``region_code``."""

    __tablename__ = "reminder"
    __table_args__ = (CheckConstraint(in_check("audience", AUDIENCES), name="audience_known"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    rule_id: Mapped[str] = mapped_column(String(40))
    event: Mapped[str] = mapped_column(String(40))
    audience: Mapped[str] = mapped_column(String(12))
    action: Mapped[str | None] = mapped_column(String(30))
    practitioner_id: Mapped[int | None] = mapped_column(ForeignKey("practitioner.id", ondelete="CASCADE"), index=True)
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    due_date: Mapped[date | None] = mapped_column(Date)
    day: Mapped[date] = mapped_column(Date, index=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ReminderRead(Base):
    __tablename__ = "reminder_read"

    reminder_id: Mapped[int] = mapped_column(ForeignKey("reminder.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ReminderAddress(Base):
    """Where a user wants reminders emailed (none: in the app only)."""

    __tablename__ = "reminder_address"

    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    address: Mapped[str] = mapped_column(String(254))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ReminderDelivery(Base):
    """A reminder emailed to a user: at most once each."""

    __tablename__ = "reminder_delivery"

    reminder_id: Mapped[int] = mapped_column(ForeignKey("reminder.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    address: Mapped[str] = mapped_column(String(254))
    sent_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CeAuditSample(Base):
    """A year's CE audit sample of a region: the seed, the share and the drawing (the people in
    the order drawn) are kept, so anyone can draw it again and get the same people."""

    __tablename__ = "ce_audit_sample"
    __table_args__ = (
        UniqueConstraint("year", "region_code"),
        CheckConstraint("share > 0 AND share <= 1", name="share_range"),
        CheckConstraint("year BETWEEN 2000 AND 2100", name="year_range"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    year: Mapped[int] = mapped_column(SmallInteger)
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"))
    seed: Mapped[str] = mapped_column(String(64))
    share: Mapped[Decimal] = mapped_column(Numeric(5, 4))
    population: Mapped[int] = mapped_column(Integer)
    drawing: Mapped[dict[str, Any]] = mapped_column(JSONB)
    drawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    drawn_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CeAuditMember(Base):
    __tablename__ = "ce_audit_member"
    __table_args__ = (UniqueConstraint("sample_id", "practitioner_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("ce_audit_sample.id", ondelete="CASCADE"))
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioner.id", ondelete="CASCADE"), index=True)


class CeAuditEvidence(Base):
    """A file a sampled practitioner uploads for one of their CE records."""

    __tablename__ = "ce_audit_evidence"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("ce_audit_member.id", ondelete="CASCADE"), index=True)
    ce_record_id: Mapped[int] = mapped_column(ForeignKey("ce_record.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    uploaded_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CeAuditOutcome(Base):
    """Staff's finding on one audited CE record. Never changed: a later finding is a new row,
    and the latest one counts (a struck record's hours leave every total)."""

    __tablename__ = "ce_audit_outcome"
    __table_args__ = (
        CheckConstraint(in_check("outcome", AUDIT_OUTCOMES), name="outcome_known"),
        CheckConstraint("outcome = 'upheld' OR length(trim(reason)) > 0", name="struck_has_reason"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("ce_audit_member.id", ondelete="CASCADE"))
    ce_record_id: Mapped[int] = mapped_column(ForeignKey("ce_record.id", ondelete="CASCADE"), index=True)
    outcome: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    decided_at: Mapped[datetime] = mapped_column(server_default=func.now())


class RegisterLookupDay(Base):
    """The public register's lookups counted by day and outcome: audited in aggregate, since a
    row per lookup would keep who was looked up by whom."""

    __tablename__ = "register_lookup_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    outcome: Mapped[str] = mapped_column(String(20), primary_key=True)
    lookups: Mapped[int] = mapped_column(BigInteger, server_default="0")
