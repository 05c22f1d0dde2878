"""review fixes: who computed a run and wrote its lines, the hash format of a run, and one live
salary record a year (rejected ones do not count)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 08:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("payroll_run", sa.Column("computed_by_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_payroll_run_computed_by_id_app_user"), "payroll_run", "app_user", ["computed_by_id"], ["id"]
    )
    # Runs closed so far were hashed under format 1; the default for new runs is format 2.
    # Adding a column fills it without an UPDATE, so the guard on closed runs is not involved.
    op.add_column(
        "payroll_run", sa.Column("hash_version", sa.SmallInteger(), server_default=sa.text("1"), nullable=False)
    )
    op.alter_column("payroll_run", "hash_version", server_default=sa.text("2"))
    op.add_column("payroll_line", sa.Column("created_by_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_payroll_line_created_by_id_app_user"), "payroll_line", "app_user", ["created_by_id"], ["id"]
    )
    op.drop_constraint("uq_salary_record_practitioner_id_year", "salary_record", type_="unique")
    op.create_index(
        "uq_salary_record_practitioner_id_year",
        "salary_record",
        ["practitioner_id", "year"],
        unique=True,
        postgresql_where=sa.text("status <> 'rejected'"),
    )


def downgrade() -> None:
    # Fails while a year has a rejected record beside its correction: resolve those first.
    op.drop_index(
        "uq_salary_record_practitioner_id_year",
        table_name="salary_record",
        postgresql_where=sa.text("status <> 'rejected'"),
    )
    op.create_unique_constraint("uq_salary_record_practitioner_id_year", "salary_record", ["practitioner_id", "year"])
    op.drop_constraint(op.f("fk_payroll_line_created_by_id_app_user"), "payroll_line", type_="foreignkey")
    op.drop_column("payroll_line", "created_by_id")
    # Runs closed under format 2 no longer verify with the code of 0004.
    op.drop_column("payroll_run", "hash_version")
    op.drop_constraint(op.f("fk_payroll_run_computed_by_id_app_user"), "payroll_run", type_="foreignkey")
    op.drop_column("payroll_run", "computed_by_id")
