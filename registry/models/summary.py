"""The dashboard's summary: figures per region and period, kept by the queue worker
(``registry.reports.summary``), so that a page reads one row instead of judging everyone."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Identity,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, in_check
from registry.models.oversight import JOB_STATUSES

REFRESH_KINDS = ("full", "delta")


class RegionSummary(Base):
    """One region (province, city or county) in one period (the calendar year of ``as_of``):
    every figure the dashboard shows, each rate as its numerator and denominator."""

    __tablename__ = "region_summary"

    region_code: Mapped[str] = mapped_column(ForeignKey("region.code", ondelete="CASCADE"), primary_key=True)
    period: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger)
    as_of: Mapped[date] = mapped_column(Date)
    refreshed_at: Mapped[datetime]
    practitioners: Mapped[int] = mapped_column(Integer)
    in_post: Mapped[int] = mapped_column(Integer)
    certified: Mapped[int] = mapped_column(Integer)
    registration_valid: Mapped[int] = mapped_column(Integer)
    station_staff: Mapped[int] = mapped_column(Integer)
    station_staff_qualified: Mapped[int] = mapped_column(Integer)
    ce_met: Mapped[int] = mapped_column(Integer)
    ce_unmet: Mapped[int] = mapped_column(Integer)
    ce_undecided: Mapped[int] = mapped_column(Integer)
    salary_met: Mapped[int] = mapped_column(Integer)
    salary_unmet: Mapped[int] = mapped_column(Integer)
    salary_undecided: Mapped[int] = mapped_column(Integer)
    # The rest of the region's figures as ``RegionFigures`` (by level, post and organization
    # type, the policy targets, the organizations' shares).
    figures: Mapped[dict[str, Any]] = mapped_column(JSONB)


class PractitionerOutcome(Base):
    """Each practitioner's CE and pay decision as the evaluator gave it at the last refresh (None:
    not judged), counted into the region summaries of the person's region."""

    __tablename__ = "practitioner_outcome"

    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioner.id", ondelete="CASCADE"), primary_key=True)
    region_code: Mapped[str | None] = mapped_column(String(6), index=True)
    period: Mapped[int] = mapped_column(SmallInteger)
    as_of: Mapped[date] = mapped_column(Date)
    ce: Mapped[bool | None] = mapped_column(Boolean)
    salary: Mapped[bool | None] = mapped_column(Boolean)


class SummaryRefresh(Base):
    """A refresh of the summary, run by the queue worker: ``full`` (the daily one, or the first),
    or ``delta`` (queued by a trigger on ``audit_event`` for the writes that change figures:
    the people and regions they touched; queued deltas are run together as one)."""

    __tablename__ = "summary_refresh"
    __table_args__ = (
        CheckConstraint(in_check("status", JOB_STATUSES), name="status_known"),
        CheckConstraint(in_check("kind", REFRESH_KINDS), name="kind_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), server_default="queued", index=True)
    practitioner_ids: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))
    region_codes: Mapped[list[str] | None] = mapped_column(ARRAY(String(6)))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    merged_into: Mapped[int | None] = mapped_column(BigInteger)
    people: Mapped[int] = mapped_column(Integer, server_default="0")
    regions: Mapped[int] = mapped_column(Integer, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
