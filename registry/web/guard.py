"""The input guard: ``registry.bounds`` applied to every request before its handler runs.

Query strings, path parameters, JSON bodies and URL-encoded forms (the login form too) are
checked here, whatever the route: text for control characters, integers for the ``bigint``
range, dates for format and window (by the handler's declared parameter types), JSON for depth.
A refusal is an ``InvalidInput`` (422, a field error in Chinese with a stable code); an id in a
path that no record can have is a 404. Multipart uploads are the import's business (their
content is checked row by row there).
"""

from __future__ import annotations

import datetime as dt
import json
import types
import typing
from typing import Any
from urllib.parse import unquote_to_bytes

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send
from litestar.types.asgi_types import HTTPRequestEvent

from registry import bounds
from registry.errors import FieldError, InvalidInput, NotFound, RegistryError

# Bodies the guard reads whole before the handler; anything larger is refused here (413).
MAX_CHECKED_BODY = 4 * 1024 * 1024
_CHECKED_TYPES = ("application/json", "application/x-www-form-urlencoded")


class PayloadTooLarge(RegistryError):
    status_code = 413
    default_code = "payload_too_large"
    title = "提交的内容过大"


def _query_pairs(raw: bytes) -> tuple[list[tuple[str, str]], list[FieldError]]:
    pairs: list[tuple[str, str]] = []
    problems: list[FieldError] = []
    for part in raw.split(b"&"):
        if not part:
            continue
        key_raw, _, value_raw = part.partition(b"=")
        try:
            key = unquote_to_bytes(key_raw.replace(b"+", b" ")).decode()
            value = unquote_to_bytes(value_raw.replace(b"+", b" ")).decode()
        except UnicodeDecodeError:
            problems.append(FieldError("query", "invalid_encoding", "查询参数不是有效的 UTF-8 文本。"))
            continue
        pairs.append((key, value))
    return pairs, problems


def _kind(annotation: Any) -> str | None:
    """'int' or 'date' for a parameter declared as such (optional or not), else None."""
    args = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else ()
    candidates = [a for a in args if a is not type(None)] or [annotation]
    if any(a is bool for a in candidates):
        return None
    if any(a is int for a in candidates):
        return "int"
    if any(a is dt.date for a in candidates):
        return "date"
    return None


_KINDS: dict[int, dict[str, str]] = {}


def _typed_query_parameters(handler: Any) -> dict[str, str]:
    """The handler's query parameters (by the name a client sends) declared int or date."""
    cached = _KINDS.get(id(handler))
    if cached is not None:
        return cached
    kinds: dict[str, str] = {}
    parameters = getattr(getattr(handler, "parsed_fn_signature", None), "parameters", {})
    for name, field in parameters.items():
        kind = _kind(field.annotation)
        if kind is None:
            continue
        definition = field.kwarg_definition
        alias = getattr(definition, "query", None) or getattr(definition, "name", None) or name
        kinds[alias] = kind
    _KINDS[id(handler)] = kinds
    return kinds


def _check_query(scope: Scope, problems: list[FieldError]) -> None:
    raw = scope.get("query_string", b"")
    if not raw:
        return
    pairs, encoding = _query_pairs(raw)
    problems += encoding
    kinds = _typed_query_parameters(scope.get("route_handler"))
    for key, value in pairs:
        if p := bounds.text_problem("query", key) or bounds.text_problem(key, value):
            problems.append(p)
        else:
            kind = kinds.get(key)
            if kind == "int":
                stripped = value.strip()
                if bounds.digits(stripped.lstrip("+-")) and (p := bounds.int_problem(key, int(stripped))):
                    problems.append(p)
            elif kind == "date" and value:
                _, problem = bounds.parse_date(key, value)
                if problem:
                    problems.append(problem)


def _check_path(scope: Scope, problems: list[FieldError]) -> None:
    for name, value in (scope.get("path_params") or {}).items():
        if isinstance(value, str) and (p := bounds.text_problem(name, value)):
            problems.append(p)
        elif isinstance(value, int) and not isinstance(value, bool) and bounds.int_problem(name, value):
            # No record has such an id: the same answer as any other id that names nothing.
            raise NotFound("请求的记录不存在。", code="not_found")


def _content_type(scope: Scope) -> str:
    for key, value in scope.get("headers", []):
        if key == b"content-type":
            return value.decode("latin-1").split(";", 1)[0].strip().lower()
    return ""


def _body_problems(content_type: str, body: bytes) -> list[FieldError]:
    if not body:
        return []
    if content_type == "application/x-www-form-urlencoded":
        pairs, problems = _query_pairs(body)
        for key, value in pairs:
            if p := bounds.text_problem(key, value) or bounds.text_problem("body", key):
                problems.append(p)
        return problems
    try:
        document = json.loads(body)
    except RecursionError:
        return [FieldError("body", "json_too_deep", f"请求内容的 JSON 嵌套层数超过 {bounds.MAX_JSON_DEPTH} 层。")]
    except ValueError:
        return []  # not JSON at all: the framework's own answer (422 json_invalid) follows
    return bounds.json_problems(document)


def _raise(problems: list[FieldError]) -> None:
    first = problems[0]
    message = first.message if len(problems) == 1 else f"{first.message}（另有 {len(problems) - 1} 处错误）"
    raise InvalidInput(message, code=first.code, errors=problems)


class InputGuardMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        problems: list[FieldError] = []
        _check_path(scope, problems)
        _check_query(scope, problems)
        content_type = _content_type(scope)
        if scope.get("method") in ("GET", "HEAD", "OPTIONS") or not (
            content_type in _CHECKED_TYPES or content_type.endswith("+json")
        ):
            if problems:
                _raise(problems)
            await next_app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_CHECKED_BODY:
                raise PayloadTooLarge(f"提交的内容超过 {MAX_CHECKED_BODY // (1024 * 1024)} MB，无法处理。")
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        problems += _body_problems(content_type, body)
        if problems:
            _raise(problems)
        replayed = False

        async def replay() -> ReceiveMessage:
            nonlocal replayed
            if not replayed:
                replayed = True
                return HTTPRequestEvent(type="http.request", body=body, more_body=False)
            return await receive()

        await next_app(scope, replay, send)
