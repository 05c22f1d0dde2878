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
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, Timestamps, in_check

TRUST = ("official", "draft", "secondary", "product_default")
CE_UNITS = ("学时", "小时")
CE_CATEGORIES = ("training", "supervision", "academic", "other")
RECORD_STATUSES = ("pending", "verified", "rejected")
BASES = ("average_social_wage", "urban_nonprivate_inpost_avg_wage")
AWARD_STATUSES = ("nominated", "approved", "paid", "rejected")


class PolicyRuleRow(Base):
    """One version of one catalogue rule. Versions are never edited: a change is a new version,
    and the version in force on a date answers for that date."""

    __tablename__ = "policy_rule"
    __table_args__ = (
        UniqueConstraint("rule_id", "version"),
        CheckConstraint(in_check("trust", TRUST), name="trust_known"),
        CheckConstraint("effective_to IS NULL OR effective_to >= effective_from", name="dates_ordered"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    alias: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    issuer: Mapped[str] = mapped_column(String(200))
    document_title: Mapped[str] = mapped_column(String(300))
    document_number: Mapped[str] = mapped_column(String(100))
    clause: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(200))
    trust: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    # None for versions shipped in the catalogue file.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CeRecordRow(Base, Timestamps):
    """A continuing-education activity. Only verified records count towards requirements."""

    __tablename__ = "ce_record"
    __table_args__ = (
        CheckConstraint(in_check("unit", CE_UNITS), name="unit_known"),
        CheckConstraint(in_check("category", CE_CATEGORIES), name="category_known"),
        CheckConstraint(in_check("status", RECORD_STATUSES), name="status_known"),
        CheckConstraint("hours > 0 AND hours <= 24", name="hours_range"),
        Index("ix_ce_record_practitioner_id_activity_date", "practitioner_id", "activity_date"),
        Index("ix_ce_record_status_pending", "status", postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioner.id", ondelete="CASCADE"))
    activity_date: Mapped[date] = mapped_column(Date)
    hours: Mapped[Decimal] = mapped_column(Numeric(4, 1))
    unit: Mapped[str] = mapped_column(String(4))
    category: Mapped[str] = mapped_column(String(20))
    provider: Mapped[str] = mapped_column(String(100))
    course: Mapped[str] = mapped_column(String(200))
    evidence_note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), server_default=text("'pending'"))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    verified_at: Mapped[datetime | None]
    rejection_reason: Mapped[str | None] = mapped_column(Text)


EVIDENCE_TYPES = ("application/pdf", "image/jpeg", "image/png")
EVIDENCE_MAX_BYTES = 5 * 1024 * 1024


class CeEvidence(Base):
    """The file that proves a CE record (a certificate of attendance, a photo of it): kept in
    the database beside its record, so that it commits and is backed up with it."""

    __tablename__ = "ce_evidence"
    __table_args__ = (
        CheckConstraint(in_check("content_type", EVIDENCE_TYPES), name="content_type_known"),
        CheckConstraint(f"size > 0 AND size <= {EVIDENCE_MAX_BYTES}", name="size_range"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ce_record_id: Mapped[int] = mapped_column(ForeignKey("ce_record.id", ondelete="CASCADE"), unique=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class SalaryBenchmarkRow(Base, Timestamps):
    """A published reference wage (yuan per year) of a region, a year and a basis."""

    __tablename__ = "salary_benchmark"
    __table_args__ = (
        UniqueConstraint("region_code", "year", "basis"),
        CheckConstraint(in_check("basis", BASES), name="basis_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("year BETWEEN 2000 AND 2100", name="year_range"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"))
    year: Mapped[int] = mapped_column(SmallInteger)
    basis: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    source: Mapped[str] = mapped_column(String(300))


class SalaryRecordRow(Base, Timestamps):
    """A practitioner's pay for a year: annual gross, or a monthly figure marked as such."""

    __tablename__ = "salary_record"
    __table_args__ = (
        # One live record a year: a rejected one does not block its corrected successor.
        Index(
            "uq_salary_record_practitioner_id_year",
            "practitioner_id",
            "year",
            unique=True,
            postgresql_where=text("status <> 'rejected'"),
        ),
        CheckConstraint(in_check("period", ("annual", "monthly")), name="period_known"),
        CheckConstraint(in_check("status", RECORD_STATUSES), name="status_known"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("year BETWEEN 2000 AND 2100", name="year_range"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioner.id", ondelete="CASCADE"), index=True)
    year: Mapped[int] = mapped_column(SmallInteger)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    period: Mapped[str] = mapped_column(String(10))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    status: Mapped[str] = mapped_column(String(10), server_default=text("'pending'"))
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    verified_at: Mapped[datetime | None]
    rejection_reason: Mapped[str | None] = mapped_column(Text)


class AwardRow(Base, Timestamps):
    """A nomination for an award programme, through approval to payment."""

    __tablename__ = "award"
    __table_args__ = (
        CheckConstraint(in_check("status", AWARD_STATUSES), name="status_known"),
        CheckConstraint("amount >= 0", name="amount_nonnegative"),
        # No second award of a programme to one person (rejected nominations do not count;
        # repeatable commendations carry their year in ``round``).
        Index(
            "uq_award_practitioner_id_programme_round",
            "practitioner_id",
            "programme",
            "round",
            unique=True,
            postgresql_where=text("status <> 'rejected'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioner.id", ondelete="CASCADE"), index=True)
    programme: Mapped[str] = mapped_column(String(40))
    # The selection round: the year for repeatable programmes, 0 for once-only ones.
    round: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    rule_id: Mapped[str] = mapped_column(String(40))
    rule_version: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    status: Mapped[str] = mapped_column(String(10), server_default=text("'nominated'"))
    nominated_on: Mapped[date] = mapped_column(Date)
    nominated_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    approved_on: Mapped[date | None] = mapped_column(Date)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    paid_on: Mapped[date | None] = mapped_column(Date)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
