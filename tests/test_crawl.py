"""Every page reachable from the home page, as each demo role, in Chromium: no answer is a 5xx,
and axe-core (vendored from npm under tests/vendor/axe-core) finds no violation at 1366×768 or
390×844."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from playwright.sync_api import Browser, Page

from registry.db import create_engine, create_session_maker
from registry.demo import DEMO_PASSWORD, seed_demo
from tests.conftest import TestDatabases
from tests.test_browser import serve

AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text()
WIDTHS = ({"width": 1366, "height": 768}, {"width": 390, "height": 844})
ROLES = ("admin", "clerk", "payroll", "orghr", "worker")
# Pages of one kind (a record, a run) differ in data, not in markup: two of each are enough.
PER_KIND = 2
MAX_PAGES = 60
SKIP = re.compile(r"^/(api|schema|static|logout)|/evidence$|\.(pdf|csv|xlsx|zip)$")


async def _seed(url: str) -> None:
    engine = create_engine(url, pool_size=2)
    try:
        async with create_session_maker(engine)() as session, session.begin():
            await seed_demo(session, practitioners=60, seed=3, today=dt.date(2026, 11, 22))
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def base(databases: TestDatabases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = databases.migrated("registry_crawl")
    asyncio.run(_seed(url))
    with serve(databases.service(url), tmp_path_factory) as address:
        yield address


def _axe(page: Page) -> list[str]:
    page.evaluate(AXE)
    result = page.evaluate("async () => (await axe.run(document)).violations")
    return [f"{v['id']}: {v['help']} ({v['nodes'][0]['target']})" for v in result]


def _crawl(page: Page, base: str) -> tuple[list[str], dict[str, list[str]]]:
    """Breadth-first over same-site links from the home page: each page at both widths."""
    problems: dict[str, list[str]] = {}
    seen: set[str] = set()
    kinds: Counter[str] = Counter()
    queue = ["/"]
    visited: list[str] = []
    while queue and len(visited) < MAX_PAGES:
        target = queue.pop(0)
        if target in seen or SKIP.search(urlsplit(target).path):
            continue
        seen.add(target)
        kind = re.sub(r"\d+", "N", urlsplit(target).path)
        if kinds[kind] >= PER_KIND:
            continue
        kinds[kind] += 1
        visited.append(target)
        for size in WIDTHS:
            page.set_viewport_size(size)
            response = page.goto(base + target)
            assert response is not None
            assert response.status < 500, f"{target}: {response.status}"
            found = _axe(page)
            if found:
                problems[f"{target} @{size['width']}"] = found
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
            parts = urlsplit(urljoin(base + target, href))
            if parts.netloc == urlsplit(base).netloc and not href.startswith("#"):
                queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return visited, problems


@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
def test_every_reachable_page_answers_and_has_no_axe_violations(base: str, browser: Browser, role: str) -> None:
    context = browser.new_context(bypass_csp=True)  # axe is injected by the test, not the page
    page = context.new_page()
    if role != "anonymous":
        page.goto(f"{base}/login")
        page.fill("input[name=username]", role)
        page.fill("input[name=password]", DEMO_PASSWORD)
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_url(f"{base}/{'me' if role == 'worker' else 'work'}")
    visited, problems = _crawl(page, base)
    context.close()
    assert len(visited) >= (2 if role == "anonymous" else 5), visited
    assert not problems, "\n".join(f"{where}: {p}" for where, found in problems.items() for p in found)
