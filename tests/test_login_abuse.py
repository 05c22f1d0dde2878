"""Login abuse: login CSRF through a text/plain or form body, a stranger trying to lock someone
out, telling real usernames from unknown ones by answer or timing, throttling per address, and
API tokens after a password change."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.passwords import hash_password
from registry.accounts.throttle import RULES
from registry.models import User
from tests.accounts import PASSWORD, bearer, make_token, make_user
from tests.problems import assert_problem

STRANGER = ("203.0.113.7", 40000)
OWNER = ("198.51.100.20", 40001)


@pytest.fixture
async def from_address(anonymous: httpx.AsyncClient) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Two clients of the same app (and rolled-back database) from two different addresses."""
    app = anonymous._transport.app  # type: ignore[attr-defined]
    clients = {
        name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=address), base_url="http://testserver")
        for name, address in (("stranger", STRANGER), ("owner", OWNER))
    }
    yield clients
    for c in clients.values():
        await c.aclose()


async def _login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/login", json={"username": username, "password": password})


async def test_login_takes_json_only_so_no_page_elsewhere_can_log_a_browser_in(
    anonymous: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_user(session, "csrf-victim", {"role": "admin"})
    await session.commit()
    body = json.dumps({"username": "csrf-victim", "password": PASSWORD})
    # What a hostile page can send without a preflight: text/plain and form bodies.
    plain = await anonymous.post("/api/login", content=body, headers={"content-type": "text/plain"})
    assert_problem(plain, 415, "login_json_only")
    form = await anonymous.post("/api/login", data={"username": "csrf-victim", "password": PASSWORD})
    assert 400 <= form.status_code < 500
    assert form.headers["content-type"].startswith("application/problem+json")
    for refused in (plain, form):
        assert "registry_session" not in refused.cookies
    assert (await _login(anonymous, "csrf-victim")).status_code == 200


async def test_a_stranger_cannot_lock_the_owner_out(
    from_address: dict[str, httpx.AsyncClient], session: AsyncSession
) -> None:
    await make_user(session, "target-clerk", {"role": "civil_affairs", "region_code": "420102"})
    await session.commit()
    stranger, owner = from_address["stranger"], from_address["owner"]
    answers = [(await _login(stranger, "target-clerk", "wrong-password-1")).status_code for _ in range(25)]
    assert answers[:6] == [401] * 6 and set(answers[6:]) == {429}  # the stranger is slowed down
    retry = await _login(stranger, "target-clerk", "wrong-password-1")
    assert retry.status_code == 429 and int(retry.headers["retry-after"]) >= 1
    # The owner, from their own address, logs in at once with the right password.
    assert (await _login(owner, "target-clerk")).status_code == 200
    user = await session.scalar(select(User).where(User.username == "target-clerk"))
    assert user is not None and user.locked_until is None


async def test_unknown_and_real_usernames_get_the_same_answers_at_the_same_speed(
    from_address: dict[str, httpx.AsyncClient], session: AsyncSession
) -> None:
    # A real (not the tests' cheap) hash, so that a wrong password costs what it costs in service.
    session.add(User(username="real-clerk", display_name="real", password_hash=hash_password(PASSWORD)))
    await session.commit()
    client = from_address["stranger"]

    async def sequence(username: str) -> tuple[list[tuple[int, str, str]], list[float]]:
        answers, times = [], []
        for _ in range(8):
            started = time.perf_counter()
            r = await _login(client, username, "wrong-password-1")
            times.append(time.perf_counter() - started)
            body = r.json()
            answers.append((r.status_code, body["code"], body["detail"].split("请")[0]))
        return answers, times

    real, real_times = await sequence("real-clerk")
    unknown, unknown_times = await sequence("nobody-here")
    assert real == unknown  # 401 ×6, then the same back-off answer
    assert [a[0] for a in real] == [401] * 6 + [429] * 2
    # Checked failures (the first six) take as long for a name that does not exist: compared by
    # the fastest of each, the least disturbed by other work on a shared machine.
    ratio = min(unknown_times[:6]) / min(real_times[:6])
    assert 0.5 < ratio < 2.0, (real_times, unknown_times)


async def test_one_address_trying_many_accounts_is_slowed_down(
    from_address: dict[str, httpx.AsyncClient],
) -> None:
    client = from_address["stranger"]
    limit = RULES["client"].free
    for n in range(limit + 1):
        assert (await _login(client, f"spray-{n}", "wrong-password-1")).status_code == 401
    assert_problem(await _login(client, "spray-new", "wrong-password-1"), 429, "login_throttled")
    # Someone else is unaffected.
    assert (await _login(from_address["owner"], "spray-new", "wrong-password-1")).status_code == 401


async def test_a_password_change_revokes_the_api_tokens(anonymous: httpx.AsyncClient, session: AsyncSession) -> None:
    user = await make_user(session, "token-owner", {"role": "admin"})
    token = await make_token(session, user)
    other = await make_token(session, user)
    await session.commit()
    assert (await anonymous.get("/api/me", headers=bearer(token))).status_code == 200
    changed = await anonymous.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": "Another-pass-2027"},
        headers=bearer(token),
    )
    assert changed.status_code == 204, changed.text
    for old in (token, other):
        assert_problem(await anonymous.get("/api/me", headers=bearer(old)), 401, "token_invalid")
