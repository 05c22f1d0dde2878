"""spreadsheet imports: one row per import job (dry run, then commit) with its progress,
problems and summary

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 08:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_job",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("stored_name", sa.String(length=200), nullable=False),
        sa.Column("file_format", sa.String(length=4), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("phase", sa.String(length=10), server_default=sa.text("'check'"), nullable=False),
        sa.Column("status", sa.String(length=10), server_default=sa.text("'queued'"), nullable=False),
        sa.Column("stage", sa.String(length=10), nullable=True),
        sa.Column("total_rows", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("processed_rows", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("problem_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("problems", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.BigInteger(), nullable=True),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("file_format IN ('xlsx', 'csv')", name=op.f("ck_import_job_file_format_known")),
        sa.CheckConstraint("phase IN ('check', 'commit')", name=op.f("ck_import_job_phase_known")),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_import_job_status_known")
        ),
        sa.ForeignKeyConstraint(["created_by_id"], ["app_user.id"], name=op.f("fk_import_job_created_by_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_job")),
    )
    op.create_index(op.f("ix_import_job_created_by_id"), "import_job", ["created_by_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_import_job_created_by_id"), table_name="import_job")
    op.drop_table("import_job")
