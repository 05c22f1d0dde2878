"""continuing education on pages: the evidence file of a CE record (PDF, JPEG or PNG, at most
5 MB), one per record, deleted with it

Revision ID: 0014
Revises: 0009
Create Date: 2026-12-02 14:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ce_evidence",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("ce_record_id", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "content_type IN ('application/pdf', 'image/jpeg', 'image/png')",
            name=op.f("ck_ce_evidence_content_type_known"),
        ),
        sa.CheckConstraint("size > 0 AND size <= 5242880", name=op.f("ck_ce_evidence_size_range")),
        sa.ForeignKeyConstraint(
            ["ce_record_id"],
            ["ce_record.id"],
            name=op.f("fk_ce_evidence_ce_record_id_ce_record"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ce_evidence")),
        sa.UniqueConstraint("ce_record_id", name=op.f("uq_ce_evidence_ce_record_id")),
    )


def downgrade() -> None:
    op.drop_table("ce_evidence")
