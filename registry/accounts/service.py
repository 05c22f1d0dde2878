"""Users, role grants, API tokens, browser sessions and login with throttling."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.accounts import throttle, token_cache
from registry.accounts.actor import Actor, Forbidden, Grant
from registry.accounts.passwords import burn_time, check_new_password, hash_password, needs_rehash, verify_password
from registry.accounts.schemas import (
    GrantCreate,
    GrantRead,
    PasswordChange,
    TokenCreate,
    UserCreate,
    UserRead,
    UserUpdate,
)
from registry.audit.service import record, snapshot
from registry.db import flush_or_raise
from registry.errors import Conflict, FieldError, InvalidInput, NotFound, Problems
from registry.models import ApiToken, Organization, Practitioner, RoleGrant, User, WebSession
from registry.regions.service import require_active_region

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,39}$")
TOKEN_PREFIX = "rgt_"  # noqa: S105 - a marker that makes leaked tokens easy to grep for, not a secret
SESSION_HOURS = 12

_USER_CONSTRAINTS = {
    "uq_app_user_username": lambda: Conflict.on_field("username", "username_taken", "该用户名已被使用。"),
}
_GRANT_CONSTRAINTS = {
    "uq_role_grant_scope": lambda: Conflict("该用户已有相同的角色授权。", code="grant_duplicate"),
    "uq_role_grant_practitioner_id": lambda: Conflict.on_field(
        "practitioner_id", "practitioner_has_account", "该社工已绑定另一个登录账户。"
    ),
}


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user_snapshot(user: User, grants: Sequence[RoleGrant] | None = None) -> dict[str, object]:
    values = snapshot(user)
    if grants is not None:
        values["grants"] = [snapshot(g) for g in grants]
    return values


# --- reading who is asking ---------------------------------------------------------------------


async def _grants(session: AsyncSession, user_id: int) -> list[RoleGrant]:
    return list(
        (await session.scalars(select(RoleGrant).where(RoleGrant.user_id == user_id).order_by(RoleGrant.id))).all()
    )


def _actor(user: User, grants: Sequence[RoleGrant], **extra: object) -> Actor:
    return Actor(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        grants=tuple(
            Grant(
                id=g.id,
                role=g.role,
                region_code=g.region_code,
                organization_id=g.organization_id,
                practitioner_id=g.practitioner_id,
            )
            for g in grants
        ),
        **extra,  # type: ignore[arg-type]
    )


_GRANT_COLUMNS = (
    User.id.label("user_id"),
    User.username,
    User.display_name,
    RoleGrant.id.label("grant_id"),
    RoleGrant.role,
    RoleGrant.region_code,
    RoleGrant.organization_id,
    RoleGrant.practitioner_id,
)


def _actor_from_rows(rows: Sequence[Any], **extra: Any) -> Actor:
    first = rows[0]
    return Actor(
        user_id=first.user_id,
        username=first.username,
        display_name=first.display_name,
        grants=tuple(
            Grant(
                id=r.grant_id,
                role=r.role,
                region_code=r.region_code,
                organization_id=r.organization_id,
                practitioner_id=r.practitioner_id,
            )
            for r in rows
            if r.grant_id is not None
        ),
        **extra,
    )


@functools.cache
def _token_statement() -> Any:
    """Built once: constructing and keying a statement costs more than running this one."""
    return (
        select(ApiToken.id.label("token_id"), ApiToken.last_used_at, ApiToken.expires_at, *_GRANT_COLUMNS)
        .join(User, User.id == ApiToken.user_id)
        .outerjoin(RoleGrant, RoleGrant.user_id == User.id)
        .where(
            ApiToken.token_hash == bindparam("token_hash"),
            ApiToken.revoked_at.is_(None),
            (ApiToken.expires_at.is_(None)) | (ApiToken.expires_at > bindparam("now")),
            User.active,
        )
        .order_by(RoleGrant.id)
    )


async def actor_for_token(
    session: AsyncSession, token: str, *, request_id: str | None = None, client_ip: str | None = None
) -> Actor | None:
    """From the token cache (registry/accounts/token_cache.py), else one round trip (Core, one
    row per grant): this runs on every API request."""
    now = clock.now()
    token_hash = digest(token)
    entry = token_cache.get(token_hash)
    if entry is None:
        read_in = token_cache.generation()
        rows = (await session.execute(_token_statement(), {"token_hash": token_hash, "now": now})).all()
        if not rows:
            return None
        found = _actor_from_rows(rows)
        entry = token_cache.Entry(
            token_id=rows[0].token_id,
            user_id=rows[0].user_id,
            username=found.username,
            display_name=found.display_name,
            grants=found.grants,
            expires_at=rows[0].expires_at,
            last_used_at=rows[0].last_used_at,
            stored=time.monotonic(),
        )
        token_cache.put(token_hash, entry, read_in)
    elif entry.expires_at is not None and entry.expires_at <= now:
        return None
    if entry.last_used_at is None or now - entry.last_used_at > dt.timedelta(minutes=5):
        # Coarse on purpose: a write per request would cost more than the information is worth.
        await session.execute(
            update(ApiToken)
            .where(ApiToken.id == entry.token_id)
            .values(last_used_at=now)
            .execution_options(**{token_cache.KEEP: True})
        )
        entry.last_used_at = now
    return Actor(
        user_id=entry.user_id,
        username=entry.username,
        display_name=entry.display_name,
        grants=entry.grants,
        via="token",
        request_id=request_id,
        client_ip=client_ip,
    )


async def actor_for_session(
    session: AsyncSession, cookie: str, *, request_id: str | None = None, client_ip: str | None = None
) -> Actor | None:
    rows = (
        await session.execute(
            select(WebSession.csrf_token, *_GRANT_COLUMNS)
            .join(User, User.id == WebSession.user_id)
            .outerjoin(RoleGrant, RoleGrant.user_id == User.id)
            .where(
                WebSession.token_hash == digest(cookie),
                WebSession.revoked_at.is_(None),
                WebSession.expires_at > clock.now(),
                User.active,
            )
            .order_by(RoleGrant.id)
        )
    ).all()
    if not rows:
        return None
    return _actor_from_rows(
        rows, via="session", request_id=request_id, client_ip=client_ip, session_csrf=rows[0].csrf_token
    )


async def actor_for_user(session: AsyncSession, user_id: int, **extra: object) -> Actor:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"用户 {user_id} 不存在。", code="user_not_found")
    return _actor(user, await _grants(session, user.id), **extra)


# --- login, sessions ----------------------------------------------------------------------------


@dataclass
class LoginOutcome:
    user: User | None
    status: int
    code: str
    message: str
    retry_after: int | None = None


async def login(
    session: AsyncSession, username: str, password: str, *, request_id: str | None, client_ip: str | None
) -> LoginOutcome:
    """Check a password. Failures are counted and audited, so the caller must commit them:
    it returns an outcome instead of raising."""
    name = username.strip().lower()
    now = clock.now()
    user = (await session.scalars(select(User).where(User.username == name))).one_or_none()
    who = Actor(
        user_id=user.id if user else None,
        username=name[:60] or "?",
        display_name=name,
        request_id=request_id,
        client_ip=client_ip,
    )
    failed = LoginOutcome(None, 401, "login_failed", "用户名或密码错误。")
    # Back-off first, on keys that exist for any username: the same answer (and no password
    # check, so the same speed) whether the account exists or not.
    wait = await throttle.wait_seconds(session, name, client_ip, now)
    if wait:
        await record(session, who, "login_throttled", "user", user.id if user else None, detail={"wait_seconds": wait})
        return _throttled(wait)
    if user is None:
        burn_time(password)
        await record(
            session, who, "login_failed", "user", None, detail={"username": name[:40], "reason": "unknown_user"}
        )
        await throttle.record_failure(session, name, client_ip, now)
        return failed
    if not verify_password(user.password_hash, password):
        user.failed_logins += 1
        detail: dict[str, object] = {"reason": "wrong_password", "failed_logins": user.failed_logins}
        await record(session, who, "login_failed", "user", user.id, detail=detail)
        await throttle.record_failure(session, name, client_ip, now)
        return failed
    if not user.active:
        await record(session, who, "login_failed", "user", user.id, detail={"reason": "inactive"})
        return LoginOutcome(None, 403, "account_disabled", "该账户已停用，请联系系统管理员。")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    await throttle.record_success(session, name, client_ip)
    await record(session, who, "login", "user", user.id)
    return LoginOutcome(user, 200, "ok", "登录成功。")


def _throttled(wait: int) -> LoginOutcome:
    when = f"{wait} 秒" if wait < 120 else f"{math.ceil(wait / 60)} 分钟"
    return LoginOutcome(None, 429, "login_throttled", f"登录尝试过于频繁，请 {when}后再试。", retry_after=wait)


async def start_session(session: AsyncSession, user: User) -> tuple[str, str]:
    """Returns (cookie value, CSRF token)."""
    cookie = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=digest(cookie),
            user_id=user.id,
            csrf_token=csrf,
            expires_at=clock.now() + dt.timedelta(hours=SESSION_HOURS),
        )
    )
    await session.flush()
    return cookie, csrf


async def end_session(session: AsyncSession, actor: Actor, cookie: str) -> None:
    await session.execute(
        update(WebSession)
        .where(WebSession.token_hash == digest(cookie), WebSession.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    await record(session, actor, "logout", "user", actor.user_id)


# --- users and grants ---------------------------------------------------------------------------


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden("只有系统管理员可以管理用户。")


async def user_by_username(session: AsyncSession, username: str) -> User:
    user = (await session.scalars(select(User).where(User.username == username.strip().lower()))).one_or_none()
    if user is None:
        raise NotFound(f"用户 {username} 不存在。", code="user_not_found")
    return user


async def user_read(session: AsyncSession, user: User) -> UserRead:
    read = UserRead.model_validate(user)
    read.grants = [GrantRead.model_validate(g) for g in await _grants(session, user.id)]
    return read


async def get_user(session: AsyncSession, actor: Actor, user_id: int) -> User:
    if not actor.is_admin and actor.user_id != user_id:
        # Other users' accounts are not "out of scope records" but they still must not leak.
        raise NotFound(f"用户 {user_id} 不存在。", code="user_not_found")
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"用户 {user_id} 不存在。", code="user_not_found")
    return user


async def list_users(
    session: AsyncSession, actor: Actor, *, q: str | None, cursor: int | None, limit: int
) -> tuple[list[UserRead], int | None]:
    _require_admin(actor)
    stmt = select(User).order_by(User.id).limit(limit + 1)
    if q:
        stmt = stmt.where(User.username.contains(q, autoescape=True) | User.display_name.contains(q, autoescape=True))
    if cursor is not None:
        stmt = stmt.where(User.id > cursor)
    users = (await session.scalars(stmt)).all()
    next_cursor = users[limit - 1].id if len(users) > limit else None
    return [await user_read(session, u) for u in users[:limit]], next_cursor


async def _check_grant(session: AsyncSession, data: GrantCreate, problems: Problems) -> None:
    needs = {
        "admin": set(),
        "civil_affairs": {"region_code"},
        "payroll_clerk": {"region_code"},
        "org_hr": {"organization_id"},
        "practitioner": {"practitioner_id"},
    }[data.role]
    for key in ("region_code", "organization_id", "practitioner_id"):
        given = getattr(data, key) is not None
        if key in needs and not given:
            problems.add(key, "grant_scope_required", f"{data.role} 角色须指定{_SCOPE_LABEL[key]}。")
        if key not in needs and given:
            problems.add(key, "grant_scope_unexpected", f"{data.role} 角色不能指定{_SCOPE_LABEL[key]}。")
    if problems.errors:
        return
    if data.region_code is not None:
        await require_active_region(session, data.region_code, "region_code")
    if data.organization_id is not None and await session.get(Organization, data.organization_id) is None:
        problems.add("organization_id", "organization_unknown", f"单位 {data.organization_id} 不存在。")
    if data.practitioner_id is not None and await session.get(Practitioner, data.practitioner_id) is None:
        problems.add("practitioner_id", "practitioner_unknown", f"社工 {data.practitioner_id} 不存在。")


_SCOPE_LABEL = {"region_code": "区划", "organization_id": "单位", "practitioner_id": "社工档案"}


async def create_user(session: AsyncSession, actor: Actor, data: UserCreate) -> User:
    _require_admin(actor)
    problems = Problems()
    username = data.username.strip().lower()
    if not USERNAME.match(username):
        problems.add(
            "username", "username_invalid", "用户名为 3–40 位小写字母、数字、点、下划线或连字符，以字母或数字开头。"
        )
    weak = check_new_password(data.password, username=username)
    if weak is not None:
        problems.errors.append(weak)
    for grant in data.grants:
        await _check_grant(session, grant, problems)
    problems.raise_if_any()
    user = User(username=username, display_name=data.display_name.strip(), password_hash=hash_password(data.password))
    session.add(user)
    await flush_or_raise(session, _USER_CONSTRAINTS)
    for grant in data.grants:
        session.add(RoleGrant(user_id=user.id, **grant.model_dump()))
    await flush_or_raise(session, _GRANT_CONSTRAINTS)
    await session.refresh(user)
    await record(session, actor, "create", "user", user.id, after=_user_snapshot(user, await _grants(session, user.id)))
    return user


async def update_user(
    session: AsyncSession, actor: Actor, user_id: int, data: UserUpdate, *, unlock: bool = False
) -> User:
    _require_admin(actor)
    user = await get_user(session, actor, user_id)
    before = _user_snapshot(user)
    changes = data.model_dump(exclude_unset=True)
    problems = Problems()
    for key in ("display_name", "active"):
        if key in changes and changes[key] is None:
            problems.add(key, "required", "该项不能为空。")
    if changes.get("password") is not None:
        weak = check_new_password(changes["password"], username=user.username)
        if weak is not None:
            problems.errors.append(weak)
    problems.raise_if_any()
    if changes.get("display_name"):
        user.display_name = changes["display_name"].strip()
    if changes.get("active") is not None:
        user.active = changes["active"]
        if not user.active:
            await _revoke_all(session, user.id)
    if changes.get("password"):
        user.password_hash = hash_password(changes["password"])
        user.failed_logins = 0
        user.locked_until = None
        # A new password ends every way in that the old one opened: sessions and API tokens.
        await _revoke_all(session, user.id)
    if unlock:
        user.failed_logins = 0
        user.locked_until = None
        await throttle.clear_account(session, user.username)
    await session.flush()
    await session.refresh(user)
    after = _user_snapshot(user)
    detail = {"password_changed": True} if changes.get("password") else None
    await record(session, actor, "update", "user", user.id, before=before, after=after, detail=detail)
    return user


async def change_own_password(session: AsyncSession, actor: Actor, data: PasswordChange) -> None:
    user = await get_user(session, actor, actor.user_id or 0)
    if not verify_password(user.password_hash, data.current_password):
        raise InvalidInput.on_field("current_password", "password_wrong", "当前密码不正确。")
    weak = check_new_password(data.new_password, username=user.username, field="new_password")
    if weak is not None:
        raise InvalidInput(weak.message, code=weak.code, errors=[weak])
    user.password_hash = hash_password(data.new_password)
    # Sessions and API tokens both: whoever knew the old password may have made a token with it.
    await _revoke_all(session, user.id)
    await record(session, actor, "update", "user", user.id, detail={"password_changed": True})


async def _revoke_sessions(session: AsyncSession, user_id: int) -> None:
    await session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )


async def _revoke_all(session: AsyncSession, user_id: int) -> None:
    await _revoke_sessions(session, user_id)
    await session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )


async def add_grant(session: AsyncSession, actor: Actor, user_id: int, data: GrantCreate) -> RoleGrant:
    _require_admin(actor)
    user = await get_user(session, actor, user_id)
    problems = Problems()
    await _check_grant(session, data, problems)
    problems.raise_if_any()
    grant = RoleGrant(user_id=user.id, **data.model_dump())
    session.add(grant)
    await flush_or_raise(session, _GRANT_CONSTRAINTS)
    await session.refresh(grant)
    await record(session, actor, "create", "role_grant", grant.id, after=snapshot(grant))
    return grant


async def remove_grant(session: AsyncSession, actor: Actor, user_id: int, grant_id: int) -> None:
    _require_admin(actor)
    grant = (
        await session.scalars(select(RoleGrant).where(RoleGrant.id == grant_id, RoleGrant.user_id == user_id))
    ).one_or_none()
    if grant is None:
        raise NotFound(f"授权 {grant_id} 不存在。", code="grant_not_found")
    if grant.role == "admin" and grant.user_id == actor.user_id:
        others = await session.scalar(
            select(func.count()).select_from(RoleGrant).where(RoleGrant.role == "admin", RoleGrant.user_id != user_id)
        )
        if not others:
            raise Conflict("不能撤销最后一位系统管理员的管理员角色。", code="last_admin")
    before = snapshot(grant)
    await session.execute(delete(RoleGrant).where(RoleGrant.id == grant.id))
    await record(session, actor, "delete", "role_grant", grant_id, before=before)


# --- API tokens ---------------------------------------------------------------------------------


async def create_token(session: AsyncSession, actor: Actor, user_id: int, data: TokenCreate) -> tuple[ApiToken, str]:
    if actor.user_id != user_id:
        _require_admin(actor)
    user = await get_user(session, actor, user_id)
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = clock.now() + dt.timedelta(days=data.expires_in_days) if data.expires_in_days else None
    token = ApiToken(
        user_id=user.id,
        name=data.name.strip(),
        token_hash=digest(plain),
        prefix=plain[:10],
        created_by_id=actor.user_id,
        expires_at=expires,
    )
    session.add(token)
    await session.flush()
    await session.refresh(token)
    await record(session, actor, "create", "api_token", token.id, after=snapshot(token))
    return token, plain


async def list_tokens(session: AsyncSession, actor: Actor, user_id: int) -> Sequence[ApiToken]:
    await get_user(session, actor, user_id)
    return (await session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id))).all()


async def revoke_token(session: AsyncSession, actor: Actor, token_id: int) -> ApiToken:
    stmt = select(ApiToken).where(ApiToken.id == token_id).with_for_update()
    if not actor.is_admin:
        stmt = stmt.where(ApiToken.user_id == actor.user_id)
    token = (await session.scalars(stmt)).one_or_none()
    if token is None:
        raise NotFound(f"令牌 {token_id} 不存在。", code="token_not_found")
    if token.revoked_at is not None:
        raise Conflict("该令牌已撤销。", code="token_already_revoked")
    before = snapshot(token)
    token.revoked_at = clock.now()
    await session.flush()
    await record(session, actor, "revoke", "api_token", token.id, before=before, after=snapshot(token))
    return token


def password_problem(password: str, username: str) -> FieldError | None:
    return check_new_password(password, username=username)
