"""the service's least-privilege role: the group ``registry_service`` gets plain DML on every
table (and, through the owner's default privileges, on every table later migrations create),
SELECT and INSERT only on the append-only tables and on alembic_version, and nothing that
could switch a guarantee off (no ownership, no TRIGGER, no TRUNCATE, no REFERENCES)

Revision ID: 0010
Revises: 0014
Create Date: 2026-12-02 14:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# ruff: noqa: S608 - fixed role and table names

revision: str = "0010"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GROUP = "registry_service"

# Rows that are never changed or deleted. A later migration that adds an append-only table must
# REVOKE UPDATE, DELETE on it from registry_service the same way (docs/operations.md).
APPEND_ONLY = (
    "audit_event",
    "issued_certificate",
    "certificate_revocation",
    "signing_key",
    "ce_audit_sample",
    "ce_audit_outcome",
)


def upgrade() -> None:
    # Roles belong to the cluster: created here only when the DBA has not made it already (the
    # embedded server and the test suite provision it first; README has the SQL for a real one).
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{GROUP}') THEN
                CREATE ROLE {GROUP} NOLOGIN;
            END IF;
        END
        $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {GROUP}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {GROUP}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {GROUP}")
    # Whatever the owner (the role running migrations) creates from now on is granted likewise.
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {GROUP}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {GROUP}")
    for table in APPEND_ONLY:
        op.execute(f"REVOKE UPDATE, DELETE ON {table} FROM {GROUP}")
    op.execute(f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {GROUP}")
    # Imports beat while they run, as certificate batches do: a silent one is queued again.
    op.add_column("import_job", sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("import_job", "heartbeat_at")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM {GROUP}")
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {GROUP}"
    )
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {GROUP}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {GROUP}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {GROUP}")
