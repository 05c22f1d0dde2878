from __future__ import annotations

from datetime import date

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, Timestamps, in_check

EDUCATION_LEVELS = ("below_secondary", "secondary", "associate", "bachelor", "master", "doctor")
POST_TYPES = (
    "community_worker",
    "station_social_worker",
    "service_org_staff",
    "civil_affairs_staff",
    "other",
)
DUTY_LEVELS = ("city", "county")


class Practitioner(Base, Timestamps):
    __tablename__ = "practitioner"
    __table_args__ = (
        CheckConstraint(in_check("sex", ("M", "F")), name="sex_known"),
        CheckConstraint(in_check("education", EDUCATION_LEVELS), name="education_known"),
        CheckConstraint("id_number ~ '^[0-9]{17}[0-9X]$'", name="id_number_format"),
        Index("ix_practitioner_name_tokens", "name_tokens", postgresql_using="gin"),
        Index("ix_practitioner_region_code_id", "region_code", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    # Characters, character pairs and pinyin-initial substrings of the name (see practitioners/names.py).
    name_tokens: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(1))
    phone: Mapped[str | None] = mapped_column(String(20))
    education: Mapped[str] = mapped_column(String(20))
    social_work_major: Mapped[bool] = mapped_column(server_default=text("false"))
    household_region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    # Derived from the employment spells (current one, else the latest): the practitioner's
    # jurisdiction for search and scoping. Maintained by practitioners.service only.
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))


class Employment(Base, Timestamps):
    """An employment spell: in post at an organization, in a post type, between two dates."""

    __tablename__ = "employment"
    __table_args__ = (
        CheckConstraint(in_check("post_type", POST_TYPES), name="post_type_known"),
        CheckConstraint(f"duty_level IS NULL OR {in_check('duty_level', DUTY_LEVELS)}", name="duty_level_known"),
        CheckConstraint("in_post_to IS NULL OR in_post_to >= in_post_from", name="dates_ordered"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioner.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    post_type: Mapped[str] = mapped_column(String(30))
    duty_level: Mapped[str | None] = mapped_column(String(10))
    in_post_from: Mapped[date] = mapped_column(Date)
    in_post_to: Mapped[date | None] = mapped_column(Date)
