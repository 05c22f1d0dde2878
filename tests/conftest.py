"""Real PostgreSQL for every test: a database migrated once per run (as the owner), each test in
a transaction that is rolled back at the end (sessions join it through savepoints, so the code
under test may commit as it does in production).

The code under test works as the service's least-privilege role, as in production: the test's
transaction switches to it (``SET LOCAL ROLE registry_app``) before anything runs, so a missing
grant fails a test. A test that must tamper with what the service cannot touch (triggers off,
a closed run changed) does so inside ``async with as_owner():``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from registry import migrate
from registry.app import app_state, create_app
from registry.config import Settings
from registry.db import SERVICE_LOGIN, EmbeddedPostgres, create_engine, provision_service_role, with_credentials

TEST_DB = os.environ.get("REGISTRY_TEST_DB", "registry_test")


async def _recreate(admin_url: str, name: str, template: str | None = None) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if template is None:
            await conn.execute(f'CREATE DATABASE "{name}"')
        else:
            # A copy may only be made while nobody is connected to the template.
            await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", template)
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
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
        # The service's role, as the embedded server provisions it (on another test server, with
        # a password of this run's own).
        self.service_password = self.server.service_password() if self.server else secrets.token_urlsafe(24)
        asyncio.run(provision_service_role(admin, self.service_password))
        self.template: str | None = None

    def fresh(self, name: str) -> str:
        """A new empty database; its owner's URL (migrate it with ``registry.cli.migrate``)."""
        asyncio.run(_recreate(self.admin_url, name))
        return self._url(name)

    def migrated(self, name: str) -> str:
        """A new database as ``registry.cli.migrate`` leaves an empty one (schema at head,
        regions and the rule catalogue loaded); its owner's URL. The migrations run once per
        run, into a template database; each database is a copy of it (CREATE DATABASE …
        TEMPLATE: a fraction of a second, where migrating takes seconds).
        tests/test_migrations.py still migrates an empty database step by step."""
        if self.template is None:
            from registry.cli import migrate as migrate_and_load

            template = f"{TEST_DB}_template"
            migrate_and_load(self.fresh(template))
            self.template = template
        asyncio.run(_recreate(self.admin_url, name, self.template))
        return self._url(name)

    def _url(self, name: str) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{name}"

    def service(self, url: str) -> str:
        """The same database as the service's role."""
        return with_credentials(url, SERVICE_LOGIN, self.service_password)

    def env(self, url: str) -> dict[str, str]:
        """The environment of a ``registry`` command on that database: both roles' URLs."""
        return {**os.environ, "REGISTRY_OWNER_DATABASE_URL": url, "REGISTRY_DATABASE_URL": self.service(url)}

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
    return databases.migrated(TEST_DB)


@pytest.fixture(scope="session")
def service_url(databases: TestDatabases, database_url: str) -> str:
    return databases.service(database_url)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The owner's connections; each test's transaction switches to the service's role."""
    eng = create_engine(database_url, pool_size=4)
    yield eng
    await eng.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    from sqlalchemy import text

    async with engine.connect() as conn:
        trans = await conn.begin()
        try:
            await conn.execute(text(f"SET LOCAL ROLE {SERVICE_LOGIN}"))
            yield conn
        finally:
            await trans.rollback()


@pytest.fixture
def as_owner(connection: AsyncConnection) -> Callable[[], Any]:
    """``async with as_owner():`` works as the tables' owner inside the test's transaction (to
    disable a trigger and tamper, say), then back as the service's role."""
    from sqlalchemy import text

    @contextlib.asynccontextmanager
    async def owner() -> AsyncIterator[None]:
        await connection.execute(text("SET LOCAL ROLE NONE"))
        # On an error the transaction is aborted and the test rolls it (or its savepoint) back,
        # which restores the role as well; setting it here would only hide the error.
        yield
        await connection.execute(text(f"SET LOCAL ROLE {SERVICE_LOGIN}"))

    return owner


@pytest.fixture
def session_maker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
async def session(session_maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with session_maker() as s:
        yield s


@pytest.fixture(scope="session")
def routes() -> Litestar:
    """The app, built once per run: Litestar's registration of its 300-odd handlers takes a
    second or more, which every test using the app paid before. Each test gives it a state of its
    own (``anonymous``)."""
    return create_app(Settings(), session_maker=async_sessionmaker())


@pytest.fixture
async def anonymous(
    routes: Litestar, session_maker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    # The state create_app gives a new app (settings, sessions, workers, metrics, limits), new for
    # this test and bound to its rolled-back connection: nothing carries over from another test.
    app = routes
    app.state = State(app_state(Settings(), session_maker))
    # httpx's ASGI transport runs the app on the test's own event loop, which the rolled-back
    # connection belongs to (Litestar's test client would run it on a portal thread's loop).
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
