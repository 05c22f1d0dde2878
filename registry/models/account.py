from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, Timestamps, in_check

ROLES = ("admin", "civil_affairs", "org_hr", "payroll_clerk", "practitioner")


class User(Base, Timestamps):
    """A person who logs in: staff of a bureau or an organization, or a practitioner."""

    __tablename__ = "app_user"
    __table_args__ = (
        CheckConstraint("username ~ '^[a-z0-9][a-z0-9._-]{2,39}$'", name="username_format"),
        CheckConstraint("failed_logins >= 0", name="failed_logins_nonnegative"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(40), unique=True)
    display_name: Mapped[str] = mapped_column(String(50))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(server_default=text("true"))
    # Consecutive wrong passwords (for the administrator's eyes). ``locked_until`` is no longer
    # set: logins back off per key instead of locking (registry.accounts.throttle).
    failed_logins: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]


class RoleGrant(Base):
    """One role held by a user, with the scope it applies to (a user may hold several)."""

    __tablename__ = "role_grant"
    __table_args__ = (
        CheckConstraint(in_check("role", ROLES), name="role_known"),
        CheckConstraint(
            "(role = 'admin' AND region_code IS NULL AND organization_id IS NULL AND practitioner_id IS NULL)"
            " OR (role IN ('civil_affairs', 'payroll_clerk') AND region_code IS NOT NULL"
            " AND organization_id IS NULL AND practitioner_id IS NULL)"
            " OR (role = 'org_hr' AND organization_id IS NOT NULL AND region_code IS NULL AND practitioner_id IS NULL)"
            " OR (role = 'practitioner' AND practitioner_id IS NOT NULL AND region_code IS NULL"
            " AND organization_id IS NULL)",
            name="scope_matches_role",
        ),
        Index(
            "uq_role_grant_scope",
            "user_id",
            "role",
            "region_code",
            "organization_id",
            "practitioner_id",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
        # A practitioner's record belongs to one login at most.
        Index("uq_role_grant_practitioner_id", "practitioner_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    practitioner_id: Mapped[int | None] = mapped_column(ForeignKey("practitioner.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ApiToken(Base):
    """A bearer token for the API. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, so that a user can tell tokens apart in a list.
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class WebSession(Base):
    """A logged-in browser: the cookie holds a random token whose SHA-256 is the key here."""

    __tablename__ = "web_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    # Synchronizer token that every state-changing request of this session must carry.
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class LoginThrottle(Base):
    """Failed logins counted per key (an account from an address, an address, an account), with
    the back-off in force; see ``registry.accounts.throttle``. Kept for unknown usernames too."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failed_at: Mapped[datetime]
    blocked_until: Mapped[datetime | None]
