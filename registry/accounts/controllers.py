"""Login, logout, users and grants (admins), API tokens: the API and the login page.

One's own account and record (``/me``, ``/api/me``) are self-service: ``registry.selfservice``."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from litestar import Controller, MediaType, Request, Response, delete, get, patch, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, Parameter, QueryParameter, URLEncodedBody
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts import service
from registry.accounts.actor import Actor
from registry.accounts.auth import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CsrfFailed,
    client_ip,
    request_id,
    tokens_match,
)
from registry.accounts.schemas import (
    GrantCreate,
    GrantRead,
    LoginRequest,
    MeRead,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserCreate,
    UserRead,
    UserUpdate,
)
from registry.config import Settings
from registry.schemas import Page
from registry.web.errors import problem


def _session_cookie(request: Request[Any, Any, Any], value: str, *, max_age: int | None) -> Cookie:
    settings: Settings = request.app.state.settings
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        max_age=max_age,
    )


class AccountController(Controller):
    path = "/api"
    tags = ["账户 accounts"]

    @post("/login", status_code=200, summary="登录（设置会话 Cookie）", opt={"public": True})
    async def login(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], data: JSONBody[LoginRequest]
    ) -> Response[Any]:
        if request.content_type[0] != "application/json":
            # Login CSRF: a page elsewhere can post text/plain or a form without asking, but not
            # application/json (that needs a CORS preflight this service never grants).
            return problem(
                request,
                status=415,
                code="login_json_only",
                title="登录失败",
                detail="登录请求须以 JSON 提交（Content-Type: application/json）。",
            )
        outcome = await service.login(
            db_session, data.username, data.password, request_id=request_id(request), client_ip=client_ip(request)
        )
        if outcome.user is None:
            # Returned, not raised: the failure count and its audit row must be committed.
            refused = problem(
                request, status=outcome.status, code=outcome.code, title="登录失败", detail=outcome.message
            )
            if outcome.retry_after:
                refused.headers["Retry-After"] = str(outcome.retry_after)
            return refused
        cookie, csrf = await service.start_session(db_session, outcome.user)
        me = MeRead(user=await service.user_read(db_session, outcome.user), csrf_token=csrf)
        return Response(
            me,
            cookies=[_session_cookie(request, cookie, max_age=service.SESSION_HOURS * 3600)],
        )

    @post(
        "/logout",
        status_code=204,
        summary="退出登录",
        # 204 has no body: documented so (the default would promise JSON).
        responses={204: ResponseSpec(data_container=None, description="已退出登录", generate_examples=False)},
    )
    async def logout(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> Response[None]:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            await service.end_session(db_session, actor, cookie)
        return Response(None, status_code=204, cookies=[_session_cookie(request, "", max_age=0)])

    # --- tokens ---

    @get("/tokens", summary="我的访问令牌")
    async def my_tokens(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> list[TokenRead]:
        return [TokenRead.model_validate(t) for t in await service.list_tokens(db_session, actor, actor.user_id or 0)]

    @post("/tokens", summary="创建访问令牌（只显示一次）")
    async def create_my_token(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[TokenCreate]
    ) -> TokenCreated:
        token, plain = await service.create_token(db_session, actor, actor.user_id or 0, data)
        return TokenCreated(**TokenRead.model_validate(token).model_dump(), token=plain)

    @delete("/tokens/{token_id:int}", status_code=200, summary="撤销访问令牌")
    async def revoke_token(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], token_id: FromPath[int]
    ) -> TokenRead:
        return TokenRead.model_validate(await service.revoke_token(db_session, actor, token_id))

    # --- users (admins) ---

    @get("/users", summary="用户列表（管理员）")
    async def list_users(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        q: str | None = Parameter(default=None, max_length=40),
        cursor: FromQuery[int | None] = None,
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> Page[UserRead]:
        users, next_cursor = await service.list_users(db_session, actor, q=q, cursor=cursor, limit=limit)
        return Page[UserRead](
            items=users,
            next_cursor=str(next_cursor) if next_cursor else None,
            total=len(users),
            total_exact=next_cursor is None and cursor is None,
        )

    @post("/users", summary="创建用户（管理员）")
    async def create_user(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[UserCreate]
    ) -> UserRead:
        return await service.user_read(db_session, await service.create_user(db_session, actor, data))

    @get("/users/{user_id:int}", summary="用户详情")
    async def get_user(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], user_id: FromPath[int]
    ) -> UserRead:
        return await service.user_read(db_session, await service.get_user(db_session, actor, user_id))

    @patch("/users/{user_id:int}", summary="修改用户（管理员：姓名、停用、重置密码）")
    async def update_user(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        user_id: FromPath[int],
        data: JSONBody[UserUpdate],
    ) -> UserRead:
        return await service.user_read(db_session, await service.update_user(db_session, actor, user_id, data))

    @post("/users/{user_id:int}/unlock", status_code=200, summary="解除登录锁定（管理员）")
    async def unlock_user(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], user_id: FromPath[int]
    ) -> UserRead:
        user = await service.update_user(db_session, actor, user_id, UserUpdate(), unlock=True)
        return await service.user_read(db_session, user)

    @post("/users/{user_id:int}/grants", summary="授予角色（管理员）")
    async def add_grant(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        user_id: FromPath[int],
        data: JSONBody[GrantCreate],
    ) -> GrantRead:
        return GrantRead.model_validate(await service.add_grant(db_session, actor, user_id, data))

    @delete("/users/{user_id:int}/grants/{grant_id:int}", status_code=204, summary="撤销角色（管理员）")
    async def remove_grant(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        user_id: FromPath[int],
        grant_id: FromPath[int],
    ) -> None:
        await service.remove_grant(db_session, actor, user_id, grant_id)

    @get("/users/{user_id:int}/tokens", summary="用户的访问令牌（管理员）")
    async def user_tokens(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], user_id: FromPath[int]
    ) -> list[TokenRead]:
        return [TokenRead.model_validate(t) for t in await service.list_tokens(db_session, actor, user_id)]

    @post("/users/{user_id:int}/tokens", summary="为用户创建访问令牌（管理员）")
    async def create_user_token(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        user_id: FromPath[int],
        data: JSONBody[TokenCreate],
    ) -> TokenCreated:
        token, plain = await service.create_token(db_session, actor, user_id, data)
        return TokenCreated(**TokenRead.model_validate(token).model_dump(), token=plain)


def _safe_next(value: str | None) -> str:
    """Only same-site paths, so the login page cannot be used to send people elsewhere."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/work"  # staff land on what waits for them; a practitioner goes on to /me


def _login_page(
    request: Request[Any, Any, Any], *, next_url: str, error: str | None, status: int, username: str = ""
) -> Template:
    # Login CSRF: a double-submit token, since there is no session yet to hold one.
    token = secrets.token_urlsafe(24)
    settings: Settings = request.app.state.settings
    return Template(
        template_name="accounts/login.html",
        context={"csrf": token, "next": next_url, "error": error, "username": username},
        status_code=status,
        media_type=MediaType.HTML,
        cookies=[
            Cookie(
                key=LOGIN_CSRF_COOKIE,
                value=token,
                path="/login",
                httponly=True,
                samesite="strict",
                secure=settings.secure_cookies,
                max_age=3600,
            )
        ],
    )


class LoginPages(Controller):
    include_in_schema = False

    @get("/login", media_type=MediaType.HTML, opt={"public": True})
    async def login_page(
        self,
        request: Request[Any, Any, Any],
        next_url: Annotated[str | None, QueryParameter(name="next", max_length=300)] = None,
    ) -> Template:
        return _login_page(request, next_url=_safe_next(next_url), error=None, status=200)

    @post("/login", media_type=MediaType.HTML, opt={"public": True})
    async def login_submit(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        data: URLEncodedBody[dict[str, str]],
    ) -> Response[Any]:
        if not tokens_match(data.get(CSRF_FIELD), request.cookies.get(LOGIN_CSRF_COOKIE)):
            raise CsrfFailed("登录页面已过期或请求来源无法确认（CSRF 校验失败），请刷新页面后重新登录。")
        username = (data.get("username") or "")[:40]
        next_url = _safe_next(data.get("next"))
        outcome = await service.login(
            db_session,
            username,
            (data.get("password") or "")[:200],
            request_id=request_id(request),
            client_ip=client_ip(request),
        )
        if outcome.user is None:
            page = _login_page(
                request, next_url=next_url, error=outcome.message, status=outcome.status, username=username
            )
            if outcome.retry_after:
                page.headers["Retry-After"] = str(outcome.retry_after)
            return page
        cookie, _ = await service.start_session(db_session, outcome.user)
        return Redirect(
            path=next_url,
            status_code=303,
            cookies=[_session_cookie(request, cookie, max_age=service.SESSION_HOURS * 3600)],
        )

    @post("/logout", media_type=MediaType.HTML)
    async def logout_submit(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
    ) -> Redirect:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            await service.end_session(db_session, actor, cookie)
        return Redirect(path="/login", status_code=303, cookies=[_session_cookie(request, "", max_age=0)])
