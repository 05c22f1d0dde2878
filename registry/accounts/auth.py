"""Turning a request into an ``Actor``: bearer token or session cookie, CSRF, request ids.

Handlers get the caller by declaring ``actor: NamedDependency[Actor]``; without a valid token or
session that dependency raises 401 (an API answer) or sends a browser to the login page. A
session-authenticated request that changes state must carry the session's CSRF token, in the
``X-CSRF-Token`` header or the ``_csrf`` form field; bearer-token requests need none, because a
browser never attaches them on its own.
"""

from __future__ import annotations

import hmac
import re
import uuid
from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts import service
from registry.accounts.actor import Actor, Forbidden, NotAuthenticated

SESSION_COOKIE = "registry_session"
LOGIN_CSRF_COOKIE = "registry_login_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class CsrfFailed(Forbidden):
    default_code = "csrf_failed"


class RequestIdMiddleware(ASGIMiddleware):
    """Give every request an id (the caller's ``X-Request-ID`` if sane), echo it in the response
    and keep it for the audit trail."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        given = next((v.decode() for k, v in scope["headers"] if k == b"x-request-id"), "")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await next_app(scope, receive, send_with_id)


def request_id(request: Request[Any, Any, Any]) -> str | None:
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def client_ip(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


def _bearer(request: Request[Any, Any, Any]) -> str | None:
    header = request.headers.get("authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def submitted_csrf(request: Request[Any, Any, Any]) -> str:
    token = request.headers.get(CSRF_HEADER)
    if token:
        return token
    content_type, _ = request.content_type
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def tokens_match(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


async def authenticate(request: Request[Any, Any, Any], session: AsyncSession) -> Actor | None:
    rid, ip = request_id(request), client_ip(request)
    token = _bearer(request)
    if token is not None:
        actor = await service.actor_for_token(session, token, request_id=rid, client_ip=ip)
        if actor is None:
            raise NotAuthenticated("访问令牌无效、已过期或已撤销。", code="token_invalid")
        return actor
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    actor = await service.actor_for_session(session, cookie, request_id=rid, client_ip=ip)
    if actor is None:
        return None
    if request.method not in SAFE_METHODS and not tokens_match(await submitted_csrf(request), actor.session_csrf):
        raise CsrfFailed("页面已过期或请求来源无法确认（CSRF 校验失败），请刷新页面后重试。")
    return actor


async def provide_actor(request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Actor:
    try:
        actor = await authenticate(request, db_session)
        if actor is None:
            raise NotAuthenticated("请先登录。")
    except BaseException:
        # Litestar does not hand an exception raised while resolving dependencies to the
        # session generator that was already started (its cleanup group is lost), so end the
        # request's transaction here; otherwise the connection would wait for the garbage
        # collector.
        await db_session.rollback()
        await db_session.close()
        raise
    return actor
