from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Identity,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, Timestamps, in_check

LEVELS = ("assistant", "intermediate", "senior")
VERIFICATION_STATUSES = ("pending", "verified", "rejected")
# registration: the first 登记; renewal: a 再登记; suspension: 暂停 (may end); cancellation: 注销.
PERIOD_KINDS = ("registration", "renewal", "suspension", "cancellation")


class Certification(Base, Timestamps):
    """社会工作者职业水平证书 and its verification. Its registration periods, suspensions and
    cancellation are dated rows of their own (``CertificationPeriod``)."""

    __tablename__ = "certification"
    __table_args__ = (
        CheckConstraint(in_check("level", LEVELS), name="level_known"),
        CheckConstraint(in_check("verification_status", VERIFICATION_STATUSES), name="status_known"),
        CheckConstraint("exam_year BETWEEN 2008 AND 2100", name="exam_year_range"),
        CheckConstraint("verified_on IS NULL OR verification_status = 'verified'", name="verified_on_when_verified"),
        CheckConstraint(
            "verified_on IS NULL OR extract(year from verified_on) >= exam_year", name="verified_after_exam"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioner.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(20))
    certificate_number: Mapped[str] = mapped_column(String(40), unique=True)
    exam_year: Mapped[int] = mapped_column(SmallInteger)
    verification_status: Mapped[str] = mapped_column(String(10), server_default=text("'pending'"))
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    # When the verification (or rejection) was recorded; the audit row says by whom.
    verified_at: Mapped[datetime | None]
    # The day the authenticity was established (may be before the day it was recorded, never
    # after it, never before the exam year). None on a verified row: the day of ``verified_at``.
    verified_on: Mapped[date | None] = mapped_column(Date)
    # What a back-dated verification rests on ("2024-03 纸质核验，档案号 …").
    verification_evidence: Mapped[str | None] = mapped_column(Text)
    rejection_reason: Mapped[str | None] = mapped_column(Text)


class CertificationPeriod(Base):
    """A dated fact of a certificate's life: a registration period (first or renewal), a
    suspension or a cancellation. Rows are never changed: a correction is a new row that
    ``replaces`` the old one (or withdraws it), so what was recorded stays on record."""

    __tablename__ = "certification_period"
    __table_args__ = (
        CheckConstraint(in_check("kind", PERIOD_KINDS), name="kind_known"),
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="ordered"),
        CheckConstraint(
            "withdrawn OR kind NOT IN ('registration', 'renewal') OR end_date IS NOT NULL", name="registration_has_end"
        ),
        CheckConstraint("kind <> 'cancellation' OR end_date IS NULL", name="cancellation_open"),
        CheckConstraint(
            "kind IN ('registration', 'renewal') AND NOT withdrawn OR note IS NOT NULL", name="reason_given"
        ),
        CheckConstraint("NOT withdrawn OR replaces_id IS NOT NULL", name="withdrawal_replaces"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    certification_id: Mapped[int] = mapped_column(ForeignKey("certification.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    authority: Mapped[str | None] = mapped_column(String(100))  # 登记机关
    note: Mapped[str | None] = mapped_column(Text)  # the reason of a suspension, cancellation or correction
    # The row this one corrects; a row is in force while no other row replaces it.
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("certification_period.id"), unique=True)
    withdrawn: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
