"""the dashboard's summary per region and period, each person's CE and pay decision behind its
rates, and the refreshes the queue worker runs (queued by a trigger on audit_event for the
writes that change the figures)

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-02 17:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The entities whose writes change a dashboard figure: those of a person or an organization
# (their people and regions again), a rule or a benchmark (everyone again).
TRIGGER_FUNCTION = """
CREATE FUNCTION summary_refresh_on_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The people and regions this statement's events touched: the event's region, the record's
    -- region before and after, and the region of every organization named.
    WITH touched AS (
        SELECT * FROM summary_added WHERE entity_type IN ('practitioner', 'employment', 'certification',
        'certification_period', 'ce_record', 'salary_record', 'organization')
    ), orgs AS (
        SELECT organization_id AS id FROM touched WHERE organization_id IS NOT NULL
        UNION
        SELECT v.x::bigint FROM touched t,
            LATERAL (VALUES (t.after ->> 'organization_id'), (t.before ->> 'organization_id'),
                            (CASE WHEN t.entity_type = 'organization' THEN t.entity_id END)) v(x)
        WHERE v.x ~ '^[0-9]{1,18}$'
    ), codes AS (
        SELECT v.x AS code FROM touched t,
            LATERAL (VALUES (t.region_code), (t.after ->> 'region_code'), (t.before ->> 'region_code')) v(x)
        UNION
        SELECT o.region_code FROM organization o JOIN orgs ON orgs.id = o.id
    )
    INSERT INTO summary_refresh (kind, practitioner_ids, region_codes)
    SELECT 'delta',
        ARRAY(SELECT DISTINCT practitioner_id FROM touched WHERE practitioner_id IS NOT NULL),
        ARRAY(SELECT DISTINCT code FROM codes WHERE code ~ '^[0-9]{6}$')
    WHERE EXISTS (SELECT 1 FROM touched);
    -- A new rule or benchmark can change anyone's decision: everything again, once.
    INSERT INTO summary_refresh (kind)
    SELECT 'full'
    WHERE EXISTS (SELECT 1 FROM summary_added WHERE entity_type IN ('policy_rule', 'salary_benchmark'))
      AND NOT EXISTS (SELECT 1 FROM summary_refresh WHERE kind = 'full' AND status = 'queued');
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.create_table(
        "region_summary",
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("period", sa.SmallInteger(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "practitioners",
                "in_post",
                "certified",
                "registration_valid",
                "station_staff",
                "station_staff_qualified",
                "ce_met",
                "ce_unmet",
                "ce_undecided",
                "salary_met",
                "salary_unmet",
                "salary_undecided",
            )
        ),
        sa.Column("figures", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_code"], ["region.code"], name=op.f("fk_region_summary_region_code_region"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("region_code", "period", name=op.f("pk_region_summary")),
    )
    op.create_table(
        "practitioner_outcome",
        sa.Column("practitioner_id", sa.BigInteger(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("period", sa.SmallInteger(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("ce", sa.Boolean(), nullable=True),
        sa.Column("salary", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioner.id"],
            name=op.f("fk_practitioner_outcome_practitioner_id_practitioner"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("practitioner_id", name=op.f("pk_practitioner_outcome")),
    )
    op.create_index(op.f("ix_practitioner_outcome_region_code"), "practitioner_outcome", ["region_code"])
    op.create_table(
        "summary_refresh",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), server_default="queued", nullable=False),
        sa.Column("practitioner_ids", postgresql.ARRAY(sa.BigInteger()), nullable=True),
        sa.Column("region_codes", postgresql.ARRAY(sa.String(length=6)), nullable=True),
        sa.Column("created_by_id", sa.BigInteger(), nullable=True),
        sa.Column("merged_into", sa.BigInteger(), nullable=True),
        sa.Column("people", sa.Integer(), server_default="0", nullable=False),
        sa.Column("regions", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('full', 'delta')", name=op.f("ck_summary_refresh_kind_known")),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_summary_refresh_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["app_user.id"],
            name=op.f("fk_summary_refresh_created_by_id_app_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_summary_refresh")),
    )
    op.create_index(op.f("ix_summary_refresh_status"), "summary_refresh", ["status"])
    op.execute(TRIGGER_FUNCTION)
    op.execute(
        "CREATE TRIGGER summary_refresh_on_write AFTER INSERT ON audit_event"
        " REFERENCING NEW TABLE AS summary_added FOR EACH STATEMENT EXECUTE FUNCTION summary_refresh_on_write()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER summary_refresh_on_write ON audit_event")
    op.execute("DROP FUNCTION summary_refresh_on_write()")
    op.drop_index(op.f("ix_summary_refresh_status"), table_name="summary_refresh")
    op.drop_table("summary_refresh")
    op.drop_index(op.f("ix_practitioner_outcome_region_code"), table_name="practitioner_outcome")
    op.drop_table("practitioner_outcome")
    op.drop_table("region_summary")
