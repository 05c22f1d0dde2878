"""Security headers on every response, in one place.

The rule for pages is simple on purpose: scripts come only from the app's own origin (files under
``/static``), never inline and never from elsewhere; so no template may hold a ``<script>`` body
or an ``on…=`` attribute, and a chart library is a vendored file under ``static/``. Styles may be
inline (the templates and chart libraries set ``style``). Nothing may frame a page. Every answer
except the static files is ``no-store``: pages and API answers carry personal data, and a shared
or back-button cache must not keep them.
"""

from __future__ import annotations

from litestar.types import Message, Scope

STATIC_PREFIX = "/static/"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

# The API documentation page (Litestar's bundled viewer) loads its script from a CDN and starts
# it inline. It shows no personal data; it alone gets a wider script rule, never a page of ours.
_DOCS_CSP = CONTENT_SECURITY_POLICY.replace(
    "script-src 'self'", "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://unpkg.com"
).replace(
    "style-src 'self' 'unsafe-inline'",
    "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com https://cdn.jsdelivr.net https://unpkg.com",
)

COMMON_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


def _policy_for(path: str) -> bytes:
    if path == "/schema" or (path.startswith("/schema/") and not path.endswith((".json", ".yaml", ".yml"))):
        return _DOCS_CSP.encode()
    return CONTENT_SECURITY_POLICY.encode()


def _cache_control(path: str) -> bytes:
    # Static files are the app's own code and styles, the same for everyone: revalidated, not stored blindly.
    return b"no-cache" if path.startswith(STATIC_PREFIX) else b"no-store"


async def add_security_headers(message: Message, scope: Scope) -> None:
    """A ``before_send`` hook rather than a middleware: it also sees the answers no route
    handled (404, 405) and those of the exception handlers."""
    if message["type"] != "http.response.start":
        return
    path = scope.get("path", "")
    added = (
        *COMMON_HEADERS,
        (b"content-security-policy", _policy_for(path)),
        (b"cache-control", _cache_control(path)),
    )
    names = {name for name, _ in added}
    # Ours win over whatever a handler set (the static router's own cache headers).
    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
    headers.extend(added)
    message["headers"] = headers
