"""One place turns every error into RFC 9457 problem details (``/api``) or an error page."""

from __future__ import annotations

import logging
from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotFoundException, SerializationException, ValidationException
from litestar.response import Redirect, Template

from registry.db import is_connection_error
from registry.errors import RegistryError

log = logging.getLogger("registry")

PROBLEM_JSON = "application/problem+json"
# When the database cannot be reached: ask again after this many seconds.
RETRY_AFTER_SECONDS = 5

_PYDANTIC_MESSAGES = {
    "missing": "必填项未填写",
    "string_too_short": "内容过短",
    "string_too_long": "内容过长",
    "literal_error": "不是允许的选项",
    "enum": "不是允许的选项",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD",
    "date_parsing": "日期格式应为 YYYY-MM-DD",
    "date_type": "日期格式应为 YYYY-MM-DD",
    "bool_parsing": "应为 true 或 false",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "json_invalid": "请求内容不是有效的 JSON",
}


def _is_api(request: Request[Any, Any, Any]) -> bool:
    # /metrics is read by machines (Prometheus), which get problem details as well.
    return request.url.path.startswith(("/api", "/metrics")) or "json" in (request.headers.get("accept") or "")


def _translate(message: str) -> str:
    # Our own validators (registry.bounds) already speak Chinese: "Value error, 日期须在…".
    own = message.partition("Value error, ")[2]
    if own and any("\u4e00" <= c <= "\u9fff" for c in own):
        return own
    lowered = message.lower()
    for key, text in (
        ("field required", "missing"),
        ("at least", "string_too_short"),
        ("at most", "string_too_long"),
        ("input should be", "literal_error"),
        ("valid integer", "int_parsing"),
        ("valid date", "date_parsing"),
        ("valid boolean", "bool_parsing"),
        ("greater than or equal", "greater_than_equal"),
        ("less than or equal", "less_than_equal"),
    ):
        if key in lowered:
            return _PYDANTIC_MESSAGES[text]
    return "格式不正确"


def problem(
    request: Request[Any, Any, Any],
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    errors: list[dict[str, str]] | None = None,
) -> Response[Any]:
    if _is_api(request):
        body: dict[str, Any] = {
            "type": f"/problems/{code}",
            "title": title,
            "status": status,
            "detail": detail,
            "code": code,
            "instance": request.url.path,
        }
        if errors:
            body["errors"] = errors
        return Response(body, status_code=status, media_type=PROBLEM_JSON)
    return Template(
        template_name="error.html",
        # The page says what happened in words; the code is for the API (and the logs).
        context={
            "status": status,
            "title": title,
            "detail": detail,
            "errors": errors or [],
            "request_id": request.scope.get("state", {}).get("request_id"),
        },
        status_code=status,
        media_type=MediaType.HTML,
    )


def registry_error_handler(request: Request[Any, Any, Any], exc: RegistryError) -> Response[Any]:
    if exc.status_code == 401:
        if not _is_api(request):
            # A browser that is not logged in goes to the login page and comes back afterwards.
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return Redirect(path="/login", query_params={"next": target}, status_code=303)
        response = problem(request, status=401, code=exc.code, title=exc.title, detail=exc.message)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    return problem(
        request,
        status=exc.status_code,
        code=exc.code,
        title=exc.title,
        detail=exc.message,
        errors=[e.as_dict() for e in exc.errors],
    )


def validation_error_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors: list[dict[str, str]] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if isinstance(item, dict):
            field = str(item.get("key") or item.get("source") or "")
            errors.append(
                {
                    "field": field,
                    "code": "invalid_format",
                    "message": f"{field}：{_translate(str(item.get('message', '')))}",
                }
            )
    detail = errors[0]["message"] if errors else "提交的数据格式不正确。"
    if len(errors) > 1:
        detail += f"（另有 {len(errors) - 1} 处错误）"
    return problem(request, status=422, code="validation_error", title="输入格式有误", detail=detail, errors=errors)


# The framework's own refusals, said in Chinese (its English detail is for the log).
_HTTP_MESSAGES = {
    400: "请求格式不正确。",
    401: "请先登录。",
    403: "没有权限执行此操作。",
    405: "该地址不支持此请求方法。",
    406: "无法以请求的格式返回内容。",
    413: "上传或提交的内容过大，超过了允许的大小。",
    415: "不支持该内容类型。",
    429: "请求过于频繁，请稍后再试。",
}


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if isinstance(exc, NotFoundException):
        return problem(request, status=404, code="not_found", title="未找到", detail="请求的地址或记录不存在。")
    status = exc.status_code
    if status == 400 and isinstance(exc.__cause__, SerializationException):
        # A body that is not JSON at all is a payload problem like any other: 422, in Chinese.
        return problem(
            request,
            status=422,
            code="validation_error",
            title="输入格式有误",
            detail="请求内容不是有效的 JSON，请检查格式（引号、逗号、括号）。",
            errors=[{"field": "body", "code": "json_invalid", "message": "请求内容不是有效的 JSON。"}],
        )
    if status >= 500 and is_connection_error(exc):
        return unavailable(request, exc)
    if status >= 500:
        log.error("http error %s on %s: %s", status, request.url.path, exc.detail)
        return problem(
            request,
            status=status,
            code="internal_error",
            title="系统错误",
            detail="系统内部错误，请稍后重试。",
        )
    detail = str(exc.detail)
    if not any("\u4e00" <= c <= "\u9fff" for c in detail):
        detail = _HTTP_MESSAGES.get(status, "请求无法处理，请检查后重试。")
    response = problem(request, status=status, code=f"http_{status}", title="请求无法处理", detail=detail)
    # The framework's own headers stay (405's Allow, 401's WWW-Authenticate).
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def unavailable(request: Request[Any, Any, Any], exc: BaseException) -> Response[Any]:
    """The database is down, restarting or out of connections: 503 with Retry-After, in Chinese.
    Nothing was written (the request's transaction never committed)."""
    log.warning("database unavailable on %s: %s: %s", request.url.path, type(exc).__name__, exc)
    response = problem(
        request,
        status=503,
        code="database_unavailable",
        title="服务暂时不可用",
        detail=f"数据库暂时无法连接，本次操作没有保存任何内容。请在 {RETRY_AFTER_SECONDS} 秒后重试。",
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if is_connection_error(exc):
        return unavailable(request, exc)
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return problem(request, status=500, code="internal_error", title="系统错误", detail="系统内部错误，请稍后重试。")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    RegistryError: registry_error_handler,
    ValidationException: validation_error_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}
