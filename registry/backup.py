"""``registry db backup FILE`` and ``registry db restore FILE``: pg_dump's custom format, taken
and restored as the owner.

Roles belong to the server, not to a database, so no archive of one database holds them: the
restore recreates them (the embedded server provisions ``registry_service`` and ``registry_app``
as it does on every start; on a real server the DBA creates them first, README) and then grants
the service's role what migration 0010 grants, as the restoring owner (the archive is restored
without its original owner and grants, so it restores under another owner's name too).
docs/operations.md has the procedure for a real server.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from registry.db import SERVICE_GROUP, EmbeddedPostgresError, find_pg_bin_dir
from registry.privileges import APPEND_ONLY


class BackupError(RuntimeError):
    pass


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and the environment that carries it."""
    parsed = make_url(url)
    env = {"PGPASSWORD": parsed.password or ""}
    plain = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return plain, env


def _tool(name: str, bin_dir: Path | None) -> str:
    try:
        return str(find_pg_bin_dir(bin_dir) / name)
    except EmbeddedPostgresError:  # no server binaries here: the client ones on the PATH
        found = shutil.which(name)
        if found is None:
            raise BackupError(f"找不到 {name}，请安装 PostgreSQL 客户端 (Debian: postgresql-client)。") from None
        return found


def _run(command: list[str], env: dict[str, str]) -> None:
    import os

    done = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} 失败：{done.stderr.strip()[-2000:]}")


def backup(owner_url: str, file: Path, bin_dir: Path | None = None) -> None:
    """The whole database in one file (pg_dump --format=custom), written as the owner."""
    dsn, env = _libpq(owner_url)
    partial = file.with_name(file.name + ".part")
    _run([_tool("pg_dump", bin_dir), "--format=custom", "--file", str(partial), "--dbname", dsn], env)
    partial.replace(file)


# What migration 0010 grants, for the restoring owner (who may have another name than the one
# that took the backup). A later append-only table is in APPEND_ONLY (docs/operations.md).
def service_grants() -> list[str]:
    return [
        f"GRANT USAGE ON SCHEMA public TO {SERVICE_GROUP}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {SERVICE_GROUP}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {SERVICE_GROUP}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {SERVICE_GROUP}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {SERVICE_GROUP}",
        *(f"REVOKE UPDATE, DELETE ON {table} FROM {SERVICE_GROUP}" for table in APPEND_ONLY),
        f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {SERVICE_GROUP}",
    ]


async def _prepare(owner_url: str, replace: bool) -> None:
    import asyncpg

    parsed = make_url(owner_url)
    conn = await asyncpg.connect(owner_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", SERVICE_GROUP):
            raise BackupError(
                f"服务器上没有角色 {SERVICE_GROUP}：请先按 README“使用真实的 PostgreSQL 服务器”创建两个角色。"
            )
        tables = await conn.fetchval(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
        )
    finally:
        await conn.close()
    if tables and not replace:
        raise BackupError(
            f"数据库 {parsed.database} 不是空的（{tables} 张表）：恢复只写入空数据库；"
            "确认要用备份替换其中的全部数据时加 --replace。"
        )
    if tables:
        admin = await asyncpg.connect(
            parsed.set(database="postgres").render_as_string(hide_password=False).replace("+asyncpg", "")
        )
        try:
            await admin.execute(f'DROP DATABASE "{parsed.database}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{parsed.database}"')
        finally:
            await admin.close()


async def _grant(owner_url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(owner_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with conn.transaction():
            for statement in service_grants():
                await conn.execute(statement)
    finally:
        await conn.close()


def restore(owner_url: str, file: Path, bin_dir: Path | None = None, *, replace: bool = False) -> None:
    """Into an empty database (or, with ``replace``, one emptied first), in one transaction."""
    if not file.is_file():
        raise BackupError(f"找不到备份文件 {file}")
    asyncio.run(_prepare(owner_url, replace))
    dsn, env = _libpq(owner_url)
    _run(
        [
            _tool("pg_restore", bin_dir),
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-acl",
            "--dbname",
            dsn,
            str(file),
        ],
        env,
    )
    asyncio.run(_grant(owner_url))
