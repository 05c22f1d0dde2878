"""Login throttling by back-off, not by lock.

Wrong passwords are counted under three keys, whether or not the username exists (so the answer
never tells which accounts exist):

- ``pair:<username>|<address>`` — one account from one client address: after 5 failures each
  further attempt waits twice as long as the last, up to 15 minutes. This is what stops a guesser.
- ``client:<address>`` — one address trying any accounts: after 30 failures, the same back-off.
- ``account:<username>`` — one account from anywhere (guessing spread over many addresses):
  after 50 failures, a back-off capped at one minute. A stranger can slow an account down to one
  attempt a minute from elsewhere; nobody can lock anyone out.

While a key is backing off, attempts under it are refused before the password is checked (429
with ``Retry-After``); a right password is refused too, otherwise the guessing would go on. A
key forgets its failures 15 minutes after the last one; a successful login clears its ``pair``.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from registry.models import LoginThrottle

FORGET_AFTER = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class Rule:
    free: int  # failures allowed before the back-off starts
    cap_seconds: int


RULES = {
    "pair": Rule(free=5, cap_seconds=15 * 60),
    "client": Rule(free=30, cap_seconds=15 * 60),
    "account": Rule(free=50, cap_seconds=60),
}


def keys(username: str, client_ip: str | None) -> dict[str, str]:
    address = client_ip or "?"
    name = username[:60]
    return {"pair": f"pair:{name}|{address}", "client": f"client:{address}", "account": f"account:{name}"}


def backoff_seconds(rule: Rule, failures: int) -> int:
    """0 within the free failures, then 1, 2, 4, … seconds up to the rule's cap."""
    over = failures - rule.free
    if over <= 0:
        return 0
    return min(1 << min(over - 1, 30), rule.cap_seconds)


async def wait_seconds(session: AsyncSession, username: str, client_ip: str | None, now: dt.datetime) -> int:
    """Seconds until an attempt is allowed (0: now). Locks the keys' rows, so that concurrent
    attempts are counted one after another instead of all passing this check at once."""
    until: list[dt.datetime | None] = list(
        (
            await session.scalars(
                select(LoginThrottle.blocked_until)
                .where(LoginThrottle.key.in_(keys(username, client_ip).values()))
                .with_for_update()
            )
        ).all()
    )
    latest = max((u for u in until if u is not None and u > now), default=None)
    return 0 if latest is None else max(1, math.ceil((latest - now).total_seconds()))


async def record_failure(session: AsyncSession, username: str, client_ip: str | None, now: dt.datetime) -> int:
    """Counts the failure under every key; returns the back-off now in force (seconds)."""
    longest = 0
    for kind, key in keys(username, client_ip).items():
        table = LoginThrottle.__table__
        stale = table.c.last_failed_at < now - FORGET_AFTER
        statement = (
            insert(LoginThrottle)
            .values(key=key, failures=1, last_failed_at=now, blocked_until=None)
            .on_conflict_do_update(
                index_elements=[LoginThrottle.key],
                set_={
                    "failures": case((stale, 1), else_=table.c.failures + 1),
                    "last_failed_at": now,
                },
            )
            .returning(LoginThrottle.failures)
        )
        failures = int((await session.execute(statement)).scalar_one())
        wait = backoff_seconds(RULES[kind], failures)
        if wait:
            await session.execute(
                update(LoginThrottle)
                .where(LoginThrottle.key == key)
                .values(blocked_until=now + dt.timedelta(seconds=wait))
            )
        longest = max(longest, wait)
    return longest


async def record_success(session: AsyncSession, username: str, client_ip: str | None) -> None:
    await session.execute(delete(LoginThrottle).where(LoginThrottle.key == keys(username, client_ip)["pair"]))


async def clear_account(session: AsyncSession, username: str) -> None:
    """An administrator's 'unlock': the account's keys from every address."""
    name = username[:60]
    await session.execute(
        delete(LoginThrottle).where(
            or_(LoginThrottle.key == f"account:{name}", LoginThrottle.key.startswith(f"pair:{name}|", autoescape=True))
        )
    )
