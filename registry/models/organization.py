from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Identity, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, Timestamps, in_check

ORG_TYPES = ("service_org", "grassroots_station", "community", "civil_affairs_institution")


class Organization(Base, Timestamps):
    __tablename__ = "organization"
    __table_args__ = (
        CheckConstraint(in_check("org_type", ORG_TYPES), name="org_type_known"),
        CheckConstraint("closed_on IS NULL OR founded_on IS NULL OR closed_on >= founded_on", name="dates_ordered"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    org_type: Mapped[str] = mapped_column(String(30))
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    # 统一社会信用代码 (GB 32100); optional because many community committees lack one on file.
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True)
    # 成立（登记）日期 and 注销日期: figures as of a day count only the organizations that existed
    # then. None: not known (taken as existing since before any day asked about / still open).
    founded_on: Mapped[date | None] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
