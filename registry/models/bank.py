from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, in_check

BANK_ACCOUNT_SOURCES = ("api", "import")


class BankAccount(Base):
    """A practitioner's account for the bank transfer (代发) of allowances. Never overwritten: a
    changed account is a new row, and a person's account is their latest row."""

    __tablename__ = "bank_account"
    __table_args__ = (
        CheckConstraint("account_number ~ '^[0-9]{8,30}$'", name="account_number_digits"),
        CheckConstraint("length(btrim(bank_name)) >= 2", name="bank_name_given"),
        CheckConstraint(in_check("source", BANK_ACCOUNT_SOURCES), name="source_known"),
        Index("ix_bank_account_practitioner_id_id", "practitioner_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioner.id", ondelete="CASCADE"))
    account_number: Mapped[str] = mapped_column(String(30))
    bank_name: Mapped[str] = mapped_column(String(60))
    source: Mapped[str] = mapped_column(String(10), server_default=text("'api'"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
