"""oversight: reminders (computed daily, read marks, email addresses and deliveries), the CE
audit sample (seed and drawing, members, evidence, append-only outcomes), and the public
register's lookups counted by day

Revision ID: 0013
Revises: 0008
Create Date: 2026-12-02 14:04:23.171467+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("ce_audit_sample", "ce_audit_outcome")
REFUSE_CHANGE = """
CREATE FUNCTION oversight_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege', HINT = '抽查记录只能追加，不能修改或删除。';
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "register_lookup_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("lookups", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("day", "outcome", name=op.f("pk_register_lookup_day")),
    )
    op.create_table(
        "ce_audit_sample",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("share", sa.Numeric(precision=5, scale=4), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("drawing", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("drawn_by_id", sa.BigInteger(), nullable=True),
        sa.Column("drawn_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("share > 0 AND share <= 1", name=op.f("ck_ce_audit_sample_share_range")),
        sa.CheckConstraint("year BETWEEN 2000 AND 2100", name=op.f("ck_ce_audit_sample_year_range")),
        sa.ForeignKeyConstraint(["drawn_by_id"], ["app_user.id"], name=op.f("fk_ce_audit_sample_drawn_by_id_app_user")),
        sa.ForeignKeyConstraint(["region_code"], ["region.code"], name=op.f("fk_ce_audit_sample_region_code_region")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ce_audit_sample")),
        sa.UniqueConstraint("year", "region_code", name=op.f("uq_ce_audit_sample_year_region_code")),
    )
    op.create_table(
        "reminder_address",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_reminder_address_user_id_app_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_reminder_address")),
    )
    op.create_table(
        "reminder_run",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="queued", nullable=False),
        sa.Column("created_by_id", sa.BigInteger(), nullable=True),
        sa.Column("created", sa.Integer(), server_default="0", nullable=False),
        sa.Column("emailed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_reminder_run_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["app_user.id"], name=op.f("fk_reminder_run_created_by_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_run")),
        sa.UniqueConstraint("day", name=op.f("uq_reminder_run_day")),
    )
    op.create_table(
        "ce_audit_member",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("sample_id", sa.BigInteger(), nullable=False),
        sa.Column("practitioner_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioner.id"],
            name=op.f("fk_ce_audit_member_practitioner_id_practitioner"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sample_id"],
            ["ce_audit_sample.id"],
            name=op.f("fk_ce_audit_member_sample_id_ce_audit_sample"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ce_audit_member")),
        sa.UniqueConstraint("sample_id", "practitioner_id", name=op.f("uq_ce_audit_member_sample_id_practitioner_id")),
    )
    op.create_index(op.f("ix_ce_audit_member_practitioner_id"), "ce_audit_member", ["practitioner_id"], unique=False)
    op.create_table(
        "reminder",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("rule_id", sa.String(length=40), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("audience", sa.String(length=12), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=True),
        sa.Column("practitioner_id", sa.BigInteger(), nullable=True),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("audience IN ('practitioner', 'staff')", name=op.f("ck_reminder_audience_known")),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioner.id"],
            name=op.f("fk_reminder_practitioner_id_practitioner"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["region_code"], ["region.code"], name=op.f("fk_reminder_region_code_region")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder")),
        sa.UniqueConstraint("key", name=op.f("uq_reminder_key")),
    )
    op.create_index(op.f("ix_reminder_day"), "reminder", ["day"], unique=False)
    op.create_index(op.f("ix_reminder_practitioner_id"), "reminder", ["practitioner_id"], unique=False)
    op.create_index(op.f("ix_reminder_region_code"), "reminder", ["region_code"], unique=False)
    op.create_table(
        "ce_audit_evidence",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("ce_record_id", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by_id", sa.BigInteger(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["ce_record_id"],
            ["ce_record.id"],
            name=op.f("fk_ce_audit_evidence_ce_record_id_ce_record"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["ce_audit_member.id"],
            name=op.f("fk_ce_audit_evidence_member_id_ce_audit_member"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["app_user.id"], name=op.f("fk_ce_audit_evidence_uploaded_by_id_app_user")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ce_audit_evidence")),
    )
    op.create_index(op.f("ix_ce_audit_evidence_ce_record_id"), "ce_audit_evidence", ["ce_record_id"], unique=False)
    op.create_index(op.f("ix_ce_audit_evidence_member_id"), "ce_audit_evidence", ["member_id"], unique=False)
    op.create_table(
        "ce_audit_outcome",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("ce_record_id", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by_id", sa.BigInteger(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "outcome = 'upheld' OR length(trim(reason)) > 0", name=op.f("ck_ce_audit_outcome_struck_has_reason")
        ),
        sa.CheckConstraint("outcome IN ('upheld', 'struck')", name=op.f("ck_ce_audit_outcome_outcome_known")),
        sa.ForeignKeyConstraint(
            ["ce_record_id"],
            ["ce_record.id"],
            name=op.f("fk_ce_audit_outcome_ce_record_id_ce_record"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["app_user.id"], name=op.f("fk_ce_audit_outcome_decided_by_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["ce_audit_member.id"],
            name=op.f("fk_ce_audit_outcome_member_id_ce_audit_member"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ce_audit_outcome")),
    )
    op.create_index(op.f("ix_ce_audit_outcome_ce_record_id"), "ce_audit_outcome", ["ce_record_id"], unique=False)
    op.create_table(
        "reminder_delivery",
        sa.Column("reminder_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["reminder_id"], ["reminder.id"], name=op.f("fk_reminder_delivery_reminder_id_reminder"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_reminder_delivery_user_id_app_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("reminder_id", "user_id", name=op.f("pk_reminder_delivery")),
    )
    op.create_table(
        "reminder_read",
        sa.Column("reminder_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["reminder_id"], ["reminder.id"], name=op.f("fk_reminder_read_reminder_id_reminder"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["app_user.id"], name=op.f("fk_reminder_read_user_id_app_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("reminder_id", "user_id", name=op.f("pk_reminder_read")),
    )

    # A drawn sample and a recorded outcome are history: never changed or deleted.
    op.execute(REFUSE_CHANGE)
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION oversight_refuse_change()"
        )


def downgrade() -> None:
    for table in APPEND_ONLY:
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    op.execute("DROP FUNCTION oversight_refuse_change()")
    op.drop_table("reminder_read")
    op.drop_table("reminder_delivery")
    op.drop_index(op.f("ix_ce_audit_outcome_ce_record_id"), table_name="ce_audit_outcome")
    op.drop_table("ce_audit_outcome")
    op.drop_index(op.f("ix_ce_audit_evidence_member_id"), table_name="ce_audit_evidence")
    op.drop_index(op.f("ix_ce_audit_evidence_ce_record_id"), table_name="ce_audit_evidence")
    op.drop_table("ce_audit_evidence")
    op.drop_index(op.f("ix_reminder_region_code"), table_name="reminder")
    op.drop_index(op.f("ix_reminder_practitioner_id"), table_name="reminder")
    op.drop_index(op.f("ix_reminder_day"), table_name="reminder")
    op.drop_table("reminder")
    op.drop_index(op.f("ix_ce_audit_member_practitioner_id"), table_name="ce_audit_member")
    op.drop_table("ce_audit_member")
    op.drop_table("reminder_run")
    op.drop_table("reminder_address")
    op.drop_table("ce_audit_sample")
    op.drop_table("register_lookup_day")
