"""The token cache (registry/accounts/token_cache.py): who a bearer token belongs to is
remembered for a few seconds, and forgotten at once when this process revokes a token, disables
a user or changes a grant; a change made elsewhere is seen within the cache's TTL."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts import token_cache
from registry.accounts.service import digest
from registry.models import ApiToken, RoleGrant
from tests.accounts import bearer, make_token, make_user
from tests.problems import assert_problem

CLERK = {"role": "payroll_clerk", "region_code": "420000"}
ADMIN = {"role": "admin"}


async def _user(session: AsyncSession, name: str, grant: dict[str, str]) -> tuple[int, str]:
    user = await make_user(session, name, grant)
    token = await make_token(session, user)
    await session.commit()
    return user.id, token


async def test_a_revoked_token_is_refused_on_the_next_request(
    anonymous: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, token = await _user(session, "cache-admin", ADMIN)
    assert (await anonymous.get("/api/users", headers=bearer(token))).status_code == 200
    assert token_cache.get(digest(token)) is not None  # the next request is answered from the cache
    token_id = await session.scalar(select(ApiToken.id).where(ApiToken.token_hash == digest(token)))
    assert (await anonymous.delete(f"/api/tokens/{token_id}", headers=bearer(token))).status_code == 200
    assert_problem(await anonymous.get("/api/users", headers=bearer(token)), 401, "token_invalid")


async def test_a_removed_grant_is_refused_on_the_next_request(
    anonymous: httpx.AsyncClient, session: AsyncSession
) -> None:
    user_id, token = await _user(session, "cache-losing", ADMIN)
    _, other = await _user(session, "cache-remover", ADMIN)
    assert (await anonymous.get("/api/users", headers=bearer(token))).status_code == 200
    assert token_cache.get(digest(token)) is not None
    grant_id = await session.scalar(select(RoleGrant.id).where(RoleGrant.user_id == user_id))
    removed = await anonymous.delete(f"/api/users/{user_id}/grants/{grant_id}", headers=bearer(other))
    assert removed.status_code == 204
    assert_problem(await anonymous.get("/api/users", headers=bearer(token)), 403, "forbidden")


async def test_an_added_grant_counts_on_the_next_request(anonymous: httpx.AsyncClient, session: AsyncSession) -> None:
    user_id, token = await _user(session, "cache-gaining", CLERK)
    _, admin = await _user(session, "cache-granter", ADMIN)
    assert_problem(await anonymous.get("/api/users", headers=bearer(token)), 403, "forbidden")
    added = await anonymous.post(f"/api/users/{user_id}/grants", json={"role": "admin"}, headers=bearer(admin))
    assert added.status_code == 201, added.text
    assert (await anonymous.get("/api/users", headers=bearer(token))).status_code == 200


async def test_a_disabled_user_is_refused_on_the_next_request(
    anonymous: httpx.AsyncClient, session: AsyncSession
) -> None:
    user_id, token = await _user(session, "cache-disabled", CLERK)
    _, admin = await _user(session, "cache-disabler", ADMIN)
    assert (await anonymous.get("/api/me", headers=bearer(token))).status_code == 200
    assert token_cache.get(digest(token)) is not None
    disabled = await anonymous.patch(f"/api/users/{user_id}", json={"active": False}, headers=bearer(admin))
    assert disabled.status_code == 200
    assert_problem(await anonymous.get("/api/me", headers=bearer(token)), 401, "token_invalid")


async def test_a_change_made_elsewhere_is_seen_within_the_ttl(
    anonymous: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Another worker process (or plain SQL) revokes the token: this process, which did not see
    the write, keeps its answer for at most TTL_SECONDS."""
    _, token = await _user(session, "cache-elsewhere", CLERK)
    assert (await anonymous.get("/api/me", headers=bearer(token))).status_code == 200
    await session.execute(text("UPDATE api_token SET revoked_at = now() WHERE token_hash = :h"), {"h": digest(token)})
    await session.commit()
    assert (await anonymous.get("/api/me", headers=bearer(token))).status_code == 200  # still cached
    await asyncio.sleep(token_cache.TTL_SECONDS + 0.1)
    assert_problem(await anonymous.get("/api/me", headers=bearer(token)), 401, "token_invalid")
