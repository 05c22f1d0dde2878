"""bank accounts of practitioners, for the bank-transfer (代发) list of a payroll run; a changed
account is a new row (history is kept), a person's account is their latest row

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-02 14:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bank_account",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("practitioner_id", sa.BigInteger(), nullable=False),
        sa.Column("account_number", sa.String(length=30), nullable=False),
        sa.Column("bank_name", sa.String(length=60), nullable=False),
        sa.Column("source", sa.String(length=10), server_default=sa.text("'api'"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("account_number ~ '^[0-9]{8,30}$'", name=op.f("ck_bank_account_account_number_digits")),
        sa.CheckConstraint("length(btrim(bank_name)) >= 2", name=op.f("ck_bank_account_bank_name_given")),
        sa.CheckConstraint("source IN ('api', 'import')", name=op.f("ck_bank_account_source_known")),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["app_user.id"], name=op.f("fk_bank_account_created_by_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioner.id"],
            name=op.f("fk_bank_account_practitioner_id_practitioner"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_account")),
    )
    op.create_index("ix_bank_account_practitioner_id_id", "bank_account", ["practitioner_id", "id"], unique=False)
    # Append-only (a changed account is a new row): the service's role may not change or delete
    # rows, as for audit_event in 0010 (a practitioner's deletion still cascades: the owner's).
    op.execute("REVOKE UPDATE, DELETE ON bank_account FROM registry_service")


def downgrade() -> None:
    op.drop_index("ix_bank_account_practitioner_id_id", table_name="bank_account")
    op.drop_table("bank_account")
