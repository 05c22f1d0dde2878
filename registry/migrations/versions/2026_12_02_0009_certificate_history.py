"""the record's past: a certificate's registration periods (first registration and each
renewal), suspensions and cancellation as dated rows of their own; the day a verification
established the certificate (``verified_on``) and its evidence; organizations' founding and
closing dates; payroll lines a run computed itself (back pay) told from a clerk's adjustments.

Each certificate's single registration period moves into ``certification_period`` unchanged
(its dates, as a first registration recorded when the certificate was), and a verified
certificate's ``verified_on`` is the China day of its ``verified_at``. The downgrade puts the
latest period in force back into the two columns (earlier periods have no place there).

Revision ID: 0009
Revises: 0013
Create Date: 2026-12-02 14:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A period row is never changed: a correction is a new row that replaces it. (Deleting goes with
# the certificate's own deletion.)
UNCHANGED_FUNCTION = """
CREATE FUNCTION certification_period_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'certification_period rows are never changed: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege', HINT = '登记记录不能修改，请以更正记录代替。';
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "certification_period",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("certification_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("authority", sa.String(length=100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("replaces_id", sa.BigInteger(), nullable=True),
        sa.Column("withdrawn", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_by_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "kind IN ('registration', 'renewal', 'suspension', 'cancellation')",
            name=op.f("ck_certification_period_kind_known"),
        ),
        sa.CheckConstraint("end_date IS NULL OR end_date >= start_date", name=op.f("ck_certification_period_ordered")),
        sa.CheckConstraint(
            "withdrawn OR kind NOT IN ('registration', 'renewal') OR end_date IS NOT NULL",
            name=op.f("ck_certification_period_registration_has_end"),
        ),
        sa.CheckConstraint(
            "kind <> 'cancellation' OR end_date IS NULL", name=op.f("ck_certification_period_cancellation_open")
        ),
        sa.CheckConstraint(
            "kind IN ('registration', 'renewal') AND NOT withdrawn OR note IS NOT NULL",
            name=op.f("ck_certification_period_reason_given"),
        ),
        sa.CheckConstraint(
            "NOT withdrawn OR replaces_id IS NOT NULL", name=op.f("ck_certification_period_withdrawal_replaces")
        ),
        sa.ForeignKeyConstraint(
            ["certification_id"],
            ["certification.id"],
            name=op.f("fk_certification_period_certification_id_certification"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["app_user.id"], name=op.f("fk_certification_period_created_by_id_app_user")
        ),
        sa.ForeignKeyConstraint(
            ["replaces_id"],
            ["certification_period.id"],
            name=op.f("fk_certification_period_replaces_id_certification_period"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certification_period")),
        sa.UniqueConstraint("replaces_id", name=op.f("uq_certification_period_replaces_id")),
    )
    op.create_index(
        op.f("ix_certification_period_certification_id"), "certification_period", ["certification_id"], unique=False
    )
    op.execute(UNCHANGED_FUNCTION)
    op.execute(
        "CREATE TRIGGER certification_period_unchanged BEFORE UPDATE ON certification_period"
        " FOR EACH ROW EXECUTE FUNCTION certification_period_refuse_update()"
    )
    op.execute(
        """
        INSERT INTO certification_period (certification_id, kind, start_date, end_date, created_at)
        SELECT id, 'registration', registration_valid_from,
               coalesce(registration_valid_to, (registration_valid_from + interval '3 years' - interval '1 day')::date),
               created_at
        FROM certification
        WHERE registration_valid_from IS NOT NULL
        ORDER BY id
        """
    )
    op.add_column("certification", sa.Column("verified_on", sa.Date(), nullable=True))
    op.add_column("certification", sa.Column("verification_evidence", sa.Text(), nullable=True))
    op.execute(
        """
        UPDATE certification SET verified_on = (verified_at AT TIME ZONE 'Asia/Shanghai')::date
        WHERE verification_status = 'verified' AND verified_at IS NOT NULL
          AND extract(year from verified_at AT TIME ZONE 'Asia/Shanghai') >= exam_year
        """
    )
    op.create_check_constraint(
        op.f("ck_certification_verified_on_when_verified"),
        "certification",
        "verified_on IS NULL OR verification_status = 'verified'",
    )
    op.create_check_constraint(
        op.f("ck_certification_verified_after_exam"),
        "certification",
        "verified_on IS NULL OR extract(year from verified_on) >= exam_year",
    )
    op.drop_constraint(op.f("ck_certification_registration_ordered"), "certification", type_="check")
    op.drop_column("certification", "registration_valid_to")
    op.drop_column("certification", "registration_valid_from")

    op.add_column("organization", sa.Column("founded_on", sa.Date(), nullable=True))
    op.add_column("organization", sa.Column("closed_on", sa.Date(), nullable=True))
    op.create_check_constraint(
        op.f("ck_organization_dates_ordered"),
        "organization",
        "closed_on IS NULL OR founded_on IS NULL OR closed_on >= founded_on",
    )
    # Back pay and recovery lines a run finds itself (rewritten on recomputation, unlike a
    # clerk's adjustments). Not part of a closed run's hash: closed runs verify as before.
    op.add_column("payroll_line", sa.Column("computed", sa.Boolean(), server_default=sa.text("false"), nullable=False))


def downgrade() -> None:
    op.drop_column("payroll_line", "computed")
    op.drop_constraint(op.f("ck_organization_dates_ordered"), "organization", type_="check")
    op.drop_column("organization", "closed_on")
    op.drop_column("organization", "founded_on")

    op.add_column("certification", sa.Column("registration_valid_from", sa.Date(), nullable=True))
    op.add_column("certification", sa.Column("registration_valid_to", sa.Date(), nullable=True))
    op.execute(
        """
        UPDATE certification c SET registration_valid_from = p.start_date, registration_valid_to = p.end_date
        FROM (
            SELECT DISTINCT ON (certification_id) certification_id, start_date, end_date
            FROM certification_period p
            WHERE kind IN ('registration', 'renewal') AND NOT withdrawn
              AND NOT EXISTS (SELECT 1 FROM certification_period r WHERE r.replaces_id = p.id)
            ORDER BY certification_id, start_date DESC, id DESC
        ) p
        WHERE p.certification_id = c.id
        """
    )
    op.create_check_constraint(
        op.f("ck_certification_registration_ordered"),
        "certification",
        "registration_valid_to IS NULL OR registration_valid_from IS NULL"
        " OR registration_valid_to > registration_valid_from",
    )
    op.drop_constraint(op.f("ck_certification_verified_after_exam"), "certification", type_="check")
    op.drop_constraint(op.f("ck_certification_verified_on_when_verified"), "certification", type_="check")
    op.drop_column("certification", "verification_evidence")
    op.drop_column("certification", "verified_on")
    op.execute("DROP TRIGGER certification_period_unchanged ON certification_period")
    op.execute("DROP FUNCTION certification_period_refuse_update()")
    op.drop_index(op.f("ix_certification_period_certification_id"), table_name="certification_period")
    op.drop_table("certification_period")
