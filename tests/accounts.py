"""Users, grants and tokens for tests, written straight to the database (a cheap argon2 hash
keeps logins fast; verification reads the cost from the hash itself)."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.service import TOKEN_PREFIX, digest
from registry.models import ApiToken, Region, RoleGrant, User

PASSWORD = "Test-pass-2026"
_CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


async def make_user(
    session: AsyncSession, username: str, *grants: dict[str, Any], password: str = PASSWORD, active: bool = True
) -> User:
    user = User(username=username, display_name=username, password_hash=_CHEAP.hash(password), active=active)
    session.add(user)
    await session.flush()
    for grant in grants:
        session.add(RoleGrant(user_id=user.id, **grant))
    await session.flush()
    return user


async def make_token(session: AsyncSession, user: User) -> str:
    plain = TOKEN_PREFIX + secrets.token_urlsafe(24)
    session.add(ApiToken(user_id=user.id, name="test", token_hash=digest(plain), prefix=plain[:10]))
    await session.flush()
    return plain


async def national_clerk_grants(session: AsyncSession) -> list[dict[str, Any]]:
    """Civil-affairs grants on every province: sees and writes the whole registry."""
    provinces = (await session.scalars(select(Region.code).where(Region.level == 1, Region.active))).all()
    return [{"role": "civil_affairs", "region_code": code} for code in provinces]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def as_user(
    client: httpx.AsyncClient, session: AsyncSession, username: str, *grants: dict[str, Any]
) -> dict[str, str]:
    """Headers that authenticate as a new user with these grants."""
    del client
    user = await make_user(session, username, *grants)
    await session.commit()
    return bearer(await make_token(session, user))
