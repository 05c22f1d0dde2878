"""Who a bearer token belongs to, remembered for a few seconds.

Every API request starts by reading its token, the token's user and the user's grants. That
answer changes only when a user, a grant or a token is written, so it is kept in this process
for ``TTL_SECONDS`` and forgotten at once when this process writes any of those tables: the
session events below watch every ORM flush and every ``UPDATE``/``DELETE``/``INSERT`` statement
sent through a session (revoking a token, logging out, changing a password, deactivating a user,
adding or removing a grant), and empty the cache when they are sent and again when their
transaction ends. Another worker process (or the command line) that makes such a change is seen
here within ``TTL_SECONDS`` at most (docs/security.md). Expiry is checked against the clock on
every request, cached or not.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from registry.accounts.actor import Grant

TTL_SECONDS = 3.0
MAX_ENTRIES = 10_000
AUTH_TABLES = frozenset({"app_user", "role_grant", "api_token", "web_session"})
# Set on a statement that writes an auth table without changing who may do what (the token's
# coarse last-used time): it keeps the cache.
KEEP = "registry_token_cache_keep"


@dataclass
class Entry:
    token_id: int
    user_id: int
    username: str
    display_name: str
    grants: tuple[Grant, ...]
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    stored: float


_entries: dict[str, Entry] = {}
_generation = 0


def get(token_hash: str) -> Entry | None:
    entry = _entries.get(token_hash)
    if entry is None:
        return None
    if time.monotonic() - entry.stored > TTL_SECONDS:
        _entries.pop(token_hash, None)
        return None
    return entry


def generation() -> int:
    """Changes whenever the cache is emptied: an answer read before a change is not stored."""
    return _generation


def put(token_hash: str, entry: Entry, read_in: int) -> None:
    if read_in != _generation:
        return
    if len(_entries) >= MAX_ENTRIES:
        _entries.clear()
    _entries[token_hash] = entry


def clear() -> None:
    global _generation
    _generation += 1
    _entries.clear()


def _touches_auth(state: ORMExecuteState) -> bool:
    if not (state.is_update or state.is_delete or state.is_insert):
        return False
    if state.execution_options.get(KEEP) or state.statement.get_execution_options().get(KEEP):
        return False
    table = getattr(state.statement, "table", None)
    return getattr(table, "name", None) in AUTH_TABLES


def _mark(session: Session) -> None:
    session.info["auth_changed"] = True
    clear()


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if _touches_auth(state):
        _mark(state.session)


@event.listens_for(Session, "after_flush")
def _on_flush(session: Session, flush_context: UOWTransaction) -> None:
    del flush_context
    for instance in (*session.new, *session.dirty, *session.deleted):
        if getattr(getattr(instance, "__table__", None), "name", None) in AUTH_TABLES:
            _mark(session)
            return


def _on_end(session: Session, *rest: Any) -> None:
    del rest
    if session.info.pop("auth_changed", False):
        clear()


event.listen(Session, "after_commit", _on_end)
event.listen(Session, "after_rollback", _on_end)
event.listen(Session, "after_soft_rollback", _on_end)
