"""Real PostgreSQL for every test: a database migrated once per run, each test in a transaction
that is rolled back at the end (sessions join it through savepoints, so the code under test
may commit as it does in production)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from registry import migrate
from registry.app import create_app
from registry.config import Settings
from registry.db import EmbeddedPostgres, create_engine

TEST_DB = os.environ.get("REGISTRY_TEST_DB", "registry_test")


async def _recreate(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


class TestDatabases:
    __test__ = False  # a helper, not a test class
    """Makes fresh databases on the test server: the embedded one, or REGISTRY_TEST_ADMIN_URL."""

    def __init__(self) -> None:
        self.server: EmbeddedPostgres | None = None
        self.started = False
        admin = os.environ.get("REGISTRY_TEST_ADMIN_URL")
        if admin is None:
            self.server = EmbeddedPostgres.from_settings(Settings())
            self.started = self.server.start()
            admin = self.server.url("postgres")
        self.admin_url = admin

    def fresh(self, name: str) -> str:
        asyncio.run(_recreate(self.admin_url, name))
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{name}"

    def close(self) -> None:
        if self.server is not None and self.started:
            self.server.stop()


@pytest.fixture(scope="session")
def databases() -> Iterator[TestDatabases]:
    dbs = TestDatabases()
    yield dbs
    dbs.close()


@pytest.fixture(scope="session")
def database_url(databases: TestDatabases) -> str:
    url = databases.fresh(TEST_DB)
    from registry.cli import migrate as migrate_and_load

    migrate_and_load(url)
    return url


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url, pool_size=4)
    yield eng
    await eng.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        trans = await conn.begin()
        try:
            yield conn
        finally:
            await trans.rollback()


@pytest.fixture
def session_maker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
async def session(session_maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with session_maker() as s:
        yield s


@pytest.fixture
async def anonymous(session_maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[httpx.AsyncClient]:
    # httpx's ASGI transport runs the app on the test's own event loop, which the rolled-back
    # connection belongs to (Litestar's test client would run it on a portal thread's loop).
    app = create_app(Settings(), session_maker=session_maker)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def client(anonymous: httpx.AsyncClient, session: AsyncSession) -> httpx.AsyncClient:
    """Authenticated as a civil-affairs clerk of every province (the registry tests' default)."""
    from tests.accounts import bearer, make_token, make_user, national_clerk_grants

    user = await make_user(session, "national-clerk", *await national_clerk_grants(session))
    token = await make_token(session, user)
    await session.commit()
    anonymous.headers.update(bearer(token))
    return anonymous


__all__ = ["migrate"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), driven by Playwright; one per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=os.environ.get("REGISTRY_CHROMIUM", "/usr/bin/chromium"), args=["--no-sandbox"]
        )
        yield b
        b.close()
