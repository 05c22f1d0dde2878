"""login back-off: failed logins counted per key (an account from an address, an address, an
account) instead of locking accounts (a stranger could lock anyone, and only real accounts locked)

Revision ID: 0011
Revises: 0012
Create Date: 2026-12-02 14:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    # Locks set by the old rule would otherwise outlive it.
    op.execute("UPDATE app_user SET locked_until = NULL WHERE locked_until IS NOT NULL")


def downgrade() -> None:
    op.drop_table("login_throttle")
