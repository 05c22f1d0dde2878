from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base


class Region(Base):
    """A GB/T 2260 administrative division: province (level 1) > city (2) > county (3)."""

    __tablename__ = "region"
    __table_args__ = (
        CheckConstraint("code ~ '^[0-9]{6}$'", name="code_six_digits"),
        CheckConstraint("level BETWEEN 1 AND 3", name="level_range"),
    )

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    full_name: Mapped[str] = mapped_column(String(180))
    level: Mapped[int] = mapped_column(SmallInteger)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"), index=True)
    # Abolished codes stay: ID numbers issued before a merger still carry them.
    active: Mapped[bool]
