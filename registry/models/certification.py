from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Identity,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, Timestamps, in_check

LEVELS = ("assistant", "intermediate", "senior")
VERIFICATION_STATUSES = ("pending", "verified", "rejected")


class Certification(Base, Timestamps):
    """社会工作者职业水平证书 and its registration (登记) period."""

    __tablename__ = "certification"
    __table_args__ = (
        CheckConstraint(in_check("level", LEVELS), name="level_known"),
        CheckConstraint(in_check("verification_status", VERIFICATION_STATUSES), name="status_known"),
        CheckConstraint("exam_year BETWEEN 2008 AND 2100", name="exam_year_range"),
        CheckConstraint(
            "registration_valid_to IS NULL OR registration_valid_from IS NULL"
            " OR registration_valid_to > registration_valid_from",
            name="registration_ordered",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioner.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(20))
    certificate_number: Mapped[str] = mapped_column(String(40), unique=True)
    exam_year: Mapped[int] = mapped_column(SmallInteger)
    registration_valid_from: Mapped[date | None] = mapped_column(Date)
    registration_valid_to: Mapped[date | None] = mapped_column(Date)
    verification_status: Mapped[str] = mapped_column(String(10), server_default=text("'pending'"))
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    verified_at: Mapped[datetime | None]
    rejection_reason: Mapped[str | None] = mapped_column(Text)
