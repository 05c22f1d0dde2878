"""Security headers on every answer: a crawl of every page each demo role can reach (logged in
through the login form, following every same-site link), the static scripts, the API, errors.

No page may hold an inline script or an ``on…=`` handler: the CSP allows scripts from the app's
own origin only, so an inline one would silently not run in a browser.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from registry.demo import DEMO_PASSWORD, seed_demo
from registry.web.security import CONTENT_SECURITY_POLICY

# The pages that fetch one kind of thing (a record, a run, a download) are many; a few of each
# kind are enough to show the headers, and keep the crawl short.
PER_KIND = 3
MAX_PAGES = 120


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.inline_scripts = 0
        self.handlers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.handlers += [f"{tag}[{name}]" for name, _ in attrs if name.startswith("on")]
        self.handlers += [f"{tag}[{n}]" for n, v in attrs if (v or "").strip().lower().startswith("javascript:")]
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        if tag == "script":
            self._in_script = "src" not in values

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


def assert_security_headers(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    h = response.headers
    assert h.get("x-frame-options") == "DENY", where
    assert h.get("x-content-type-options") == "nosniff", where
    assert h.get("referrer-policy") == "same-origin", where
    csp = h.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, where
    if not response.request.url.path.startswith("/schema"):
        assert csp == CONTENT_SECURITY_POLICY, where
        assert "script-src 'self';" in csp, where
    if response.request.url.path.startswith("/static/"):
        assert h.get("cache-control") == "no-cache", where
    else:
        assert h.get("cache-control") == "no-store", where


def _kind(path: str) -> str:
    return re.sub(r"\d+", "N", path)


async def crawl(client: httpx.AsyncClient, start: str) -> list[str]:
    seen: set[str] = set()
    kinds: Counter[str] = Counter()
    queue = [start]
    visited: list[str] = []
    while queue and len(visited) < MAX_PAGES:
        url = queue.pop(0)
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        if target in seen or parts.netloc not in ("", "testserver") or not parts.path.startswith("/"):
            continue
        seen.add(target)
        if kinds[_kind(parts.path)] >= PER_KIND:
            continue
        kinds[_kind(parts.path)] += 1
        response = await client.get(target)
        visited.append(target)
        assert response.status_code < 500, f"{target}: {response.status_code}"
        assert_security_headers(response)
        if "text/html" not in response.headers.get("content-type", "") or parts.path.startswith("/schema"):
            continue  # the API documentation viewer is Litestar's, with a CSP of its own
        page = _Links()
        page.feed(response.text)
        assert page.inline_scripts == 0, f"{target}: inline <script>"
        assert page.handlers == [], f"{target}: {page.handlers}"
        for src in re.findall(r'<script[^>]*\bsrc="([^"]+)"', response.text):
            assert src.startswith("/static/"), f"{target}: script from {src}"
            script = await client.get(src)
            assert script.status_code == 200, src
            assert script.headers["content-type"].startswith(("text/javascript", "application/javascript")), src
            assert_security_headers(script)
        queue += [urljoin(f"http://testserver{target}", href) for href in page.links if not href.startswith("#")]
    return visited


async def _login(client: httpx.AsyncClient, username: str) -> None:
    form = await client.get("/login")
    assert_security_headers(form)
    token = re.search(r'name="_csrf" value="([^"]+)"', form.text)
    assert token is not None
    done = await client.post(
        "/login", data={"_csrf": token.group(1), "username": username, "password": DEMO_PASSWORD, "next": "/"}
    )
    assert done.status_code == 303, done.text
    assert_security_headers(done)


@pytest.mark.parametrize("username", ["admin", "clerk", "payroll", "orghr", "worker"])
async def test_every_page_a_demo_role_reaches_carries_the_security_headers(
    anonymous: httpx.AsyncClient, session: AsyncSession, username: str
) -> None:
    await seed_demo(session, practitioners=60, seed=3, today=dt.date(2026, 11, 22))
    await session.commit()
    await _login(anonymous, username)
    visited = await crawl(anonymous, "/")
    visited += await crawl(anonymous, "/me")
    assert len(visited) >= 3, visited


async def test_public_pages_api_answers_and_errors_carry_the_headers(anonymous: httpx.AsyncClient) -> None:
    visited = await crawl(anonymous, "/")
    assert "/verify" in visited
    for path in (
        "/login",
        "/verify",
        "/health",
        "/api/practitioners",
        "/api/nowhere",
        "/nowhere",
        "/schema/openapi.json",
    ):
        assert_security_headers(await anonymous.get(path))
    api = await anonymous.get("/api/practitioners")
    assert api.status_code == 401 and api.headers["cache-control"] == "no-store"
    docs = await anonymous.get("/schema")
    assert_security_headers(docs)
