"""Database access: the async engine, the request session, and the embedded PostgreSQL server."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from registry.config import Settings

# Prepared statements turn generic after five runs and then skip the GIN name index
# (measured 30-650 ms instead of < 1 ms), so every connection forces custom plans.
SERVER_SETTINGS = {
    "plan_cache_mode": "force_custom_plan",
    "application_name": "registry",
    "timezone": "UTC",
}


# A handler marked ``opt={READ_ONLY: True}`` only reads: its session runs each statement on its
# own, without the BEGIN and COMMIT round trips around them (when the app has its own engine;
# tests bind every request to one rolled-back connection).
READ_ONLY = "read_only"
# A read-only handler marked ``opt={READ_ONLY: True, CACHED_PLANS: True}`` sends statements of a
# fixed shape looked up by key (a record by id, a certificate by serial): they run on connections
# that keep PostgreSQL's plan of each prepared statement (``plan_cache_mode = auto``). Planning
# the record's statement took 3-7 ms against 0.5 ms running it (measured on 2,000,000 people);
# the name search has connections of its own (``SEARCH_SETTINGS``).
CACHED_PLANS = "cached_plans"

# The connections of the fixed name search (``FixedReads.fetch``): one plan per statement, made
# once on each connection without looking at the name (``force_generic_plan``). Planning the
# search's statement each run cost PostgreSQL as much as running it (0.6-2.2 ms against
# 0.2-3.3 ms, 2,000,000 people); its shape does not depend on the name: the matches come from the
# name-token index, up to the cap, and the page's rows by primary key. ``enable_seqscan = off``
# keeps that plan from reading the whole table when the generic estimate (0.5 % of the rows)
# makes a sequential scan look cheaper, as it did for the plain statements of the first searches
# (30-650 ms); nothing else runs on these connections.
SEARCH_SETTINGS = {**SERVER_SETTINGS, "plan_cache_mode": "force_generic_plan", "enable_seqscan": "off"}


def create_engine(url: str, *, pool_size: int = 10, cached_plans: bool = False, **kwargs: Any) -> AsyncEngine:
    settings = {**SERVER_SETTINGS, "plan_cache_mode": "auto"} if cached_plans else dict(SERVER_SETTINGS)
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"server_settings": settings},
        **kwargs,
    )


def create_session_maker(bind: Any) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(bind=bind, expire_on_commit=False)


# --- fixed reads: the busiest statements, without SQLAlchemy's execution path -----------------


async def create_driver_pools(url: str, size: int) -> DriverPools:
    """Two asyncpg pools for the service's busiest reads, statements compiled once
    (``FixedStatement``): the same login as the engines, one with PostgreSQL keeping each prepared
    statement's plan (``plan_cache_mode = auto``, as ``CACHED_PLANS``: a record by id), one for
    the name search (``SEARCH_SETTINGS``: one generic plan a statement). Checking a connection out of SQLAlchemy's
    pool, running the statement through its execution path and building its rows cost more than
    the statement itself (measured: about 0.35 ms of the server's 0.7 ms a record)."""
    import asyncpg
    from sqlalchemy.engine import make_url

    class ReadConnection(asyncpg.Connection):  # type: ignore[misc]
        def get_reset_query(self) -> str:
            """Nothing to reset between requests: a fixed read sets no setting, takes no advisory
            lock, opens no cursor and listens to nothing (an open transaction is still ended by
            asyncpg). The default reset is a four-statement round trip on every release, which
            cost PostgreSQL about as much as the read itself."""
            return ""

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    pools = [
        await asyncpg.create_pool(
            dsn, min_size=1, max_size=size, connection_class=ReadConnection, server_settings=settings
        )
        for settings in ({**SERVER_SETTINGS, "plan_cache_mode": "auto"}, SEARCH_SETTINGS)
    ]
    return DriverPools(*pools)


@dataclass(frozen=True)
class FixedStatement:
    """A Core statement compiled once for asyncpg: its SQL, and its parameters in order with the
    per-request ones left as their names (``bind`` fills them in)."""

    sql: str
    names: tuple[str, ...]
    values: tuple[Any, ...]

    @classmethod
    def of(cls, statement: Any) -> FixedStatement:
        from sqlalchemy.dialects.postgresql.asyncpg import dialect

        compiled = statement.compile(dialect=dialect(), compile_kwargs={"render_postcompile": True})  # type: ignore[no-untyped-call]
        names = tuple(compiled.positiontup or ())
        return cls(str(compiled), names, tuple(compiled.params[name] for name in names))

    def bind(self, **given: Any) -> list[Any]:
        return [given.get(n, v) for n, v in zip(self.names, self.values, strict=True)]


class FixedReads:
    """Where a request runs its fixed statements, and for whom: connections of the driver pools
    when the app has them (the service), else the request session's own connection (the tests,
    whose requests all share one rolled-back transaction, and any app built on a session maker).
    ``actor`` is the caller (the request's ``actor`` dependency): a handler that takes this one
    needs no other, so Litestar resolves the two one after the other instead of in a task group
    of their own (which cost more than the read). ``session`` is the request's session, for
    whatever else the handler reads. ``trace``, when given, collects each statement sent with its
    arguments (``scripts/bench.py`` replays them on its bare server)."""

    __slots__ = ("_pools", "actor", "session", "trace")

    def __init__(
        self,
        pools: DriverPools | None,
        session: AsyncSession,
        actor: Any = None,
        trace: list[tuple[str, tuple[Any, ...]]] | None = None,
    ) -> None:
        self._pools = pools
        self.session = session
        self.actor = actor
        self.trace = trace

    async def _driver(self) -> Any:
        return await driver_connection(self.session)

    def _bound(self, statement: FixedStatement, given: dict[str, Any]) -> list[Any]:
        args = statement.bind(**given)
        if self.trace is not None:
            self.trace.append((statement.sql, tuple(args)))
        return args

    async def fetchrow(self, statement: FixedStatement, **given: Any) -> Any:
        """One row of a statement keyed by id: on connections that keep its plan."""
        args = self._bound(statement, given)
        if self._pools is not None:
            return await self._pools.cached.fetchrow(statement.sql, *args)
        return await (await self._driver()).fetchrow(statement.sql, *args)

    async def fetch(self, statement: FixedStatement, **given: Any) -> list[Any]:
        """The rows of a name search: on the search's connections (``SEARCH_SETTINGS``)."""
        args = self._bound(statement, given)
        if self._pools is not None:
            rows: list[Any] = await self._pools.search.fetch(statement.sql, *args)
        else:
            rows = await (await self._driver()).fetch(statement.sql, *args)
        return rows


async def explain_prepared(
    conn: Any, sql: str, arguments: list[Any] | tuple[Any, ...], *, analyze: bool = False
) -> str:
    """PostgreSQL's plan of ``sql`` as a prepared statement on ``conn`` with its settings: under
    ``force_generic_plan`` the one plan made without the values (``EXPLAIN`` of a statement with
    parameters would plan for the values given). The values are rendered as literals of the
    parameters' own types by PostgreSQL itself."""
    kinds = [t.name for t in (await conn.prepare(sql)).get_parameters()]
    literals = [
        f"{await conn.fetchval(f'SELECT quote_nullable($1::{kind}::text)', value)}::{kind}"
        for value, kind in zip(arguments, kinds, strict=True)
    ]
    await conn.execute(f"PREPARE registry_explain AS {sql}")
    try:
        options = "(ANALYZE, BUFFERS)" if analyze else ""
        rows = await conn.fetch(f"EXPLAIN {options} EXECUTE registry_explain({', '.join(literals)})")
    finally:
        await conn.execute("DEALLOCATE registry_explain")
    return "\n".join(r[0] for r in rows)


@dataclass(frozen=True)
class DriverPools:
    """The two asyncpg pools of the fixed reads (``create_driver_pools``)."""

    cached: Any
    search: Any

    async def close(self) -> None:
        await self.cached.close()
        await self.search.close()


class EmbeddedPostgresError(RuntimeError):
    pass


# The two roles (docs/operations.md). Migrations run as the owner: the role that creates, and so
# owns, every table. The service logs in as a member of ``registry_service``, which migration 0010
# grants plain DML on every table (and, through the owner's default privileges, on every table a
# later migration creates), INSERT and SELECT only on the append-only ones, and nothing else: it
# owns nothing, is no superuser, has no TRIGGER privilege, so it can neither disable a trigger
# nor set session_replication_role.
SERVICE_GROUP = "registry_service"
SERVICE_LOGIN = "registry_app"


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def provision_service_role(admin_url: str, password: str, login: str = SERVICE_LOGIN) -> None:
    """Create (or bring back to the shape it must have) the service's login role and its group.

    Runs as a role with CREATEROLE: the embedded server's superuser, or a DBA on a real server
    (README gives the same SQL)."""
    import asyncpg

    conn = await asyncpg.connect(_plain(admin_url))
    try:
        async with conn.transaction():
            # Roles are per cluster: two processes provisioning at once must not both create.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('registry-provision-roles'))")
            if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", SERVICE_GROUP):
                await conn.execute(f"CREATE ROLE {SERVICE_GROUP} NOLOGIN")
            attributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"
            verb = "ALTER" if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", login) else "CREATE"
            await conn.execute(f"{verb} ROLE {_quote_ident(login)} {attributes} PASSWORD {_quote_literal(password)}")
            await conn.execute(f"GRANT {SERVICE_GROUP} TO {_quote_ident(login)}")
    finally:
        await conn.close()


def with_credentials(url: str, user: str, password: str) -> str:
    """The same server and database as ``url``, logged in as another role."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(username=user, password=password).render_as_string(hide_password=False)


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@functools.cache
def _reachable_by(user: str, folder: Path) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    probe = subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(folder)], capture_output=True, cwd="/")
    return probe.returncode == 0


def find_pg_bin_dir(configured: Path | None = None) -> Path:
    if configured is not None:
        if (configured / "initdb").exists():
            return configured
        raise EmbeddedPostgresError(f"REGISTRY_PG_BIN_DIR={configured} has no initdb")
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        reverse=True,
    )
    if candidates:
        return candidates[0].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise EmbeddedPostgresError(
        "找不到 PostgreSQL 服务器程序 (initdb/pg_ctl)。请安装 postgresql 软件包"
        " (Debian: apt-get install postgresql)，或设置 REGISTRY_DATABASE_URL 指向已有的数据库。"
    )


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server of the registry's own, in ``data_dir/pg``, on 127.0.0.1 only.

    PostgreSQL refuses to run as root, so when we are root the server runs as the
    ``postgres`` system user (created by Debian's postgresql package).
    """

    data_dir: Path
    port: int
    bin_dir: Path
    database: str = "registry"
    user: str = "registry"
    shared_buffers: str = "256MB"

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddedPostgres:
        return cls(
            data_dir=settings.data_dir,
            port=settings.embedded_pg_port,
            bin_dir=find_pg_bin_dir(settings.pg_bin_dir),
            shared_buffers=settings.embedded_pg_shared_buffers,
        )

    @property
    def pgdata(self) -> Path:
        """``data_dir/pg``, unless we are root and the postgres user cannot reach that folder
        (a clone inside a private ``mktemp -d``): then a folder of its own under /var/lib."""
        own = self.data_dir / "pg"
        if self._run_as() is None or _reachable_by("postgres", self.data_dir):
            return own
        digest = hashlib.sha256(str(self.data_dir.resolve()).encode()).hexdigest()[:12]
        return Path("/var/lib/registry-embedded") / digest / "pg"

    @property
    def password_file(self) -> Path:
        return self.data_dir / "pg-password"

    @property
    def log_file(self) -> Path:
        return self.pgdata / "server.log"

    def _run_as(self) -> str | None:
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise EmbeddedPostgresError(
                "以 root 运行时需要系统用户 postgres (安装 postgresql 软件包会创建它)。"
            ) from exc
        return "postgres"

    def _cmd(self, *args: str) -> list[str]:
        user = self._run_as()
        prefix = ["runuser", "-u", user, "--"] if user else []
        return [*prefix, str(self.bin_dir / args[0]), *args[1:]]

    @property
    def service_password_file(self) -> Path:
        return self.data_dir / "pg-service-password"

    def password(self) -> str:
        return self.password_file.read_text().strip()

    def service_password(self) -> str:
        """The service role's password, made on first use (data folders from before 0010 too)."""
        if not self.service_password_file.exists():
            self.service_password_file.write_text(secrets.token_urlsafe(24))
            os.chmod(self.service_password_file, 0o600)
        return self.service_password_file.read_text().strip()

    def url(self, database: str | None = None) -> str:
        """The owner's URL (the bootstrap superuser of this private server): migrations, backups."""
        db = database or self.database
        return f"postgresql+asyncpg://{self.user}:{self.password()}@127.0.0.1:{self.port}/{db}"

    def service_url(self, database: str | None = None) -> str:
        """The service's URL: the least-privilege role the web service and the commands use."""
        return with_credentials(self.url(database), SERVICE_LOGIN, self.service_password())

    def initialized(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def init(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o755)  # noqa: S103 - the postgres user must reach pg/ inside
        if not self.password_file.exists():
            self.password_file.write_text(secrets.token_urlsafe(24))
            os.chmod(self.password_file, 0o600)
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        pwfile = self.pgdata.parent / ".initdb-pw"
        pwfile.write_text(self.password())
        user = self._run_as()
        if user:
            shutil.chown(self.pgdata, user, user)
            shutil.chown(pwfile, user, user)
        try:
            subprocess.run(
                self._cmd(
                    "initdb",
                    "-D",
                    str(self.pgdata),
                    "-U",
                    self.user,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ),
                check=True,
                capture_output=True,
                text=True,
                cwd="/",
            )
        except subprocess.CalledProcessError as exc:
            raise EmbeddedPostgresError(f"initdb 失败: {exc.stderr}") from exc
        finally:
            pwfile.unlink(missing_ok=True)

    def running(self) -> bool:
        if not self.initialized():
            return False
        result = subprocess.run(self._cmd("pg_ctl", "status", "-D", str(self.pgdata)), capture_output=True, text=True)
        return result.returncode == 0

    def start(self) -> bool:
        """Start the server if it is not running; True when this call started it."""
        if not self.initialized():
            self.init()
        if self.running():
            return False
        if _port_in_use(self.port):
            raise EmbeddedPostgresError(
                f"端口 {self.port} 已被其他程序占用（可能是另一个副本的内置数据库）。"
                "请停止它，或设置 REGISTRY_EMBEDDED_PG_PORT 使用其他端口。"
            )
        options = (
            # TCP on loopback only; no Unix socket (its path would be too long in deep clones).
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k '' -c shared_buffers={self.shared_buffers} -c max_connections=200"
        )
        try:
            subprocess.run(
                self._cmd(
                    "pg_ctl",
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(self.pgdata),
                    "-l",
                    str(self.log_file),
                    "-o",
                    options,
                ),
                check=True,
                capture_output=True,
                text=True,
                cwd="/",
            )
        except subprocess.CalledProcessError as exc:
            log = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise EmbeddedPostgresError(f"PostgreSQL 启动失败: {exc.stderr}\n{log}") from exc
        return True

    def stop(self) -> None:
        if self.running():
            subprocess.run(
                self._cmd("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.pgdata)),
                check=False,
                capture_output=True,
                cwd="/",
            )

    def ensure_database(self, database: str | None = None) -> None:
        """The database and both roles: the owner is this server's superuser, the service role
        is provisioned with its password from ``data_dir/pg-service-password``."""

        async def work() -> None:
            await ensure_database(self.url("postgres"), database or self.database)
            await provision_service_role(self.url("postgres"), self.service_password())

        asyncio.run(work())


async def ensure_database(admin_url: str, database: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_plain(admin_url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


@dataclass(frozen=True)
class DatabaseUrls:
    owner: str  # runs migrations, owns the tables; backups and restores
    service: str  # the service's least-privilege role


def configured_urls(settings: Settings) -> DatabaseUrls | None:
    """The real server's two URLs: ``REGISTRY_DATABASE_URL`` is the service's role,
    ``REGISTRY_OWNER_DATABASE_URL`` the owner (the same URL when unset, as before two roles; the
    start-up check then refuses to serve)."""
    if not settings.database_url:
        return None
    return DatabaseUrls(owner=settings.owner_database_url or settings.database_url, service=settings.database_url)


@contextlib.contextmanager
def database_urls(settings: Settings, database: str | None = None) -> Any:
    """Yield usable URLs: the configured ones, or the embedded server's (started and stopped here)."""
    configured = configured_urls(settings)
    if configured is not None:
        yield configured
        return
    server = EmbeddedPostgres.from_settings(settings)
    started = server.start()
    try:
        server.ensure_database(database)
        yield DatabaseUrls(owner=server.url(database), service=server.service_url(database))
    finally:
        if started:
            server.stop()


async def flush_or_raise(session: AsyncSession, constraint_errors: dict[str, Any]) -> None:
    """Flush, turning a violated unique or check constraint into the domain error mapped to it.

    The services check what they can first, for good messages; the constraints are what makes
    those checks hold under concurrent writers.
    """
    from sqlalchemy.exc import IntegrityError

    try:
        await session.flush()
    except IntegrityError as exc:
        name = getattr(exc.orig, "constraint_name", None) or getattr(
            getattr(exc.orig, "__cause__", None), "constraint_name", None
        )
        if name in constraint_errors:
            raise constraint_errors[name]() from exc
        raise


@contextlib.contextmanager
def database_url(settings: Settings, database: str | None = None) -> Any:
    """The owner's URL alone: for tools that create, load or alter (benchmarks, datasets)."""
    with database_urls(settings, database) as urls:
        yield urls.owner


def is_connection_error(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) says the database cannot be reached right now: the
    server refused or dropped the connection, is starting up or shutting down, has no free
    connection slot, or the pool timed out waiting. Such a request may succeed later (503)."""
    import asyncpg
    from sqlalchemy import exc as sa_exc

    unavailable = (
        ConnectionError,  # refused, reset, aborted
        socket.gaierror,
        TimeoutError,
        sa_exc.TimeoutError,  # the pool had no connection to give
        asyncpg.PostgresConnectionError,  # SQLSTATE class 08
        asyncpg.CannotConnectNowError,  # 57P03: starting up or shutting down
        asyncpg.AdminShutdownError,  # 57P01
        asyncpg.CrashShutdownError,  # 57P02
        asyncpg.TooManyConnectionsError,  # 53300
        asyncpg.ConnectionDoesNotExistError,
    )
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
            return True
        if isinstance(exc, unavailable):
            return True
        if isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc):
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
    return False


async def driver_fetch(session: AsyncSession, statement: Any) -> list[Any]:
    """A Core ``select`` run on the session's asyncpg connection: the same SQL and parameters as
    ``session.execute`` would send (the session is flushed first, as it would autoflush), the
    rows as asyncpg records, built in C. For reads of a province at once, where SQLAlchemy's rows
    cost more than the reading. Only for columns whose values need no SQLAlchemy type
    processing (numbers, text, dates, times)."""
    await session.flush()
    conn = await session.connection()
    compiled = statement.compile(dialect=conn.dialect)
    params = [compiled.params[name] for name in compiled.positiontup or ()]
    return list(await (await driver_connection(session)).fetch(str(compiled), *params))


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under the session's (in its transaction, if one is open)."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    return driver
