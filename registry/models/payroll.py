from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, Timestamps, in_check

RUN_STATUSES = ("draft", "submitted", "approved", "closed")
LINE_KINDS = ("regular", "adjustment")


class PayrollRun(Base, Timestamps):
    """The monthly allowance of a region subtree. One run per region and month (corrections of
    a closed month are adjustment lines in a later run); closed runs are never changed."""

    __tablename__ = "payroll_run"
    __table_args__ = (
        UniqueConstraint("region_code", "month"),
        CheckConstraint(in_check("status", RUN_STATUSES), name="status_known"),
        CheckConstraint("extract(day from month) = 1", name="month_first_day"),
        CheckConstraint("status <> 'closed' OR content_hash IS NOT NULL", name="closed_has_hash"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"))
    month: Mapped[date] = mapped_column(Date)  # the first day of the month paid for
    cutoff: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), server_default=text("'draft'"))
    prepared_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    # Who computed the lines last: like the preparer and the submitter, may not approve.
    computed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    computed_at: Mapped[datetime | None]
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    submitted_at: Mapped[datetime | None]
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    approved_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    closed_at: Mapped[datetime | None]
    returned_reason: Mapped[str | None] = mapped_column(Text)
    line_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    total_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), server_default=text("0"))
    # {"HB-ALW-100-200": 2, "MCA-REG-3Y": 1}: the versions the lines were computed with.
    rule_versions: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
    previous_run_id: Mapped[int | None] = mapped_column(ForeignKey("payroll_run.id"))
    previous_hash: Mapped[str | None] = mapped_column(String(64))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    # The canonical form ``content_hash`` was taken over: 1 for runs closed before the hash
    # covered the unit, basis and reason of the lines, 2 before it covered every stored field of
    # the header and the lines (who did what, the totals, the findings), 3 since (set by close).
    hash_version: Mapped[int] = mapped_column(SmallInteger, server_default=text("2"))


class PayrollLine(Base):
    """One payment: a month's allowance, or an adjustment naming the month and line it corrects."""

    __tablename__ = "payroll_line"
    __table_args__ = (
        UniqueConstraint("run_id", "seq"),
        CheckConstraint(in_check("kind", LINE_KINDS), name="kind_known"),
        CheckConstraint("kind = 'adjustment' OR amount > 0", name="regular_positive"),
        CheckConstraint("kind = 'regular' OR corrects_month IS NOT NULL", name="adjustment_names_month"),
        # A person is paid once per month, whichever overlapping region runs exist.
        Index(
            "uq_payroll_line_practitioner_id_month_regular",
            "practitioner_id",
            "month",
            unique=True,
            postgresql_where=text("kind = 'regular'"),
        ),
        Index("ix_payroll_line_practitioner_id_month", "practitioner_id", "month"),
        # Deleting a draft's lines checks this self-reference row by row: without an index,
        # every check is a scan of the whole table.
        Index(
            "ix_payroll_line_corrects_line_id",
            "corrects_line_id",
            postgresql_where=text("corrects_line_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("payroll_run.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12), server_default=text("'regular'"))
    # practitioner_id, organization_id and created_by_id name rows without a foreign key checked
    # per line (a run writes 100,000 lines at a time): the lines a statement writes are checked
    # once as a set, and a named row cannot be deleted or renumbered (triggers, migration 0016).
    practitioner_id: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(50))
    id_number: Mapped[str] = mapped_column(String(18))
    level: Mapped[str] = mapped_column(String(20))
    certificate_number: Mapped[str] = mapped_column(String(40))
    organization_id: Mapped[int | None] = mapped_column(BigInteger)
    organization_name: Mapped[str] = mapped_column(String(100))
    region_code: Mapped[str] = mapped_column(String(6))
    month: Mapped[date] = mapped_column(Date)  # the month this payment is for
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    rule_id: Mapped[str] = mapped_column(String(40))
    rule_version: Mapped[int] = mapped_column(Integer)
    basis: Mapped[str] = mapped_column(Text)  # 依据: the rule, the figures and the citation, in Chinese
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    corrects_month: Mapped[date | None] = mapped_column(Date)
    corrects_line_id: Mapped[int | None] = mapped_column(ForeignKey("payroll_line.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    # Written by the run's computation (a regular line, or back pay and recovery the run found
    # itself) rather than added by a clerk: recomputing a draft rewrites these and keeps the rest.
    computed: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Who wrote the line: the computer of a regular line, the clerk who added an adjustment.
    # Nobody who wrote a line of a run may approve it. None for lines written before 0005.
    created_by_id: Mapped[int | None] = mapped_column(BigInteger)


class PayrollDropped(Base):
    """Paid in the previous closed run of the region, not in this one: who and why."""

    __tablename__ = "payroll_dropped"
    __table_args__ = (UniqueConstraint("run_id", "practitioner_id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("payroll_run.id", ondelete="CASCADE"))
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioner.id"))
    name: Mapped[str] = mapped_column(String(50))
    previous_amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    reason: Mapped[str] = mapped_column(Text)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
