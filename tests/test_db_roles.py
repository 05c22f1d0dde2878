"""The service's database role cannot undo what the database guarantees (issue 15, acceptance 1):
it connects as that role and fails to disable a trigger, to set session_replication_role, and
to change the audit trail or the issued certificates; the start-up check refuses a role that
could."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator

import asyncpg
import pytest

from registry.privileges import APPEND_ONLY, UnsafeServiceRole, check_service_role
from tests.conftest import TestDatabases


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture
async def as_service(service_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(_dsn(service_url))
    try:
        yield conn
    finally:
        await conn.close()


async def _refused(conn: asyncpg.Connection, statement: str) -> str:
    """Run ``statement`` in a transaction that is rolled back; the refusal's message."""
    tr = conn.transaction()
    await tr.start()
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError) as refused:
            await conn.execute(statement)
        return str(refused.value)
    finally:
        await tr.rollback()


TRIGGERS = {
    "audit_event": "audit_event_append_only",
    "issued_certificate": "issued_certificate_immutable",
    "certificate_revocation": "certificate_revocation_immutable",
    "signing_key": "signing_key_immutable",
    "ce_audit_sample": "ce_audit_sample_append_only",
    "ce_audit_outcome": "ce_audit_outcome_append_only",
    "payroll_run": "payroll_run_guard",
    "payroll_line": "payroll_line_guard",
}


async def test_the_service_role_cannot_switch_the_guarantees_off(as_service: asyncpg.Connection) -> None:
    assert await as_service.fetchval("SELECT current_user") == "registry_app"
    assert await as_service.fetchval("SELECT session_user") == "registry_app"
    assert not await as_service.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    for table, trigger in TRIGGERS.items():
        assert "must be owner" in await _refused(as_service, f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        assert "must be owner" in await _refused(as_service, f"ALTER TABLE {table} DISABLE TRIGGER ALL")
        assert "must be owner" in await _refused(as_service, f"DROP TRIGGER {trigger} ON {table}")
    for statement in ("SET session_replication_role = replica", "SET LOCAL session_replication_role = replica"):
        assert "session_replication_role" in await _refused(as_service, statement)
    assert "must be owner" in await _refused(
        as_service, "ALTER FUNCTION audit_event_refuse_change() OWNER TO registry_app"
    )


async def test_the_service_role_may_only_add_to_the_append_only_tables(as_service: asyncpg.Connection) -> None:
    assert {"audit_event", "issued_certificate", "certificate_revocation", "signing_key"} <= set(APPEND_ONLY)
    column = {
        "audit_event": "action",
        "issued_certificate": "serial",
        "certificate_revocation": "reason",
        "signing_key": "key_id",
    }
    for table in APPEND_ONLY:
        name = column.get(table, "id")
        for statement in (
            f"UPDATE {table} SET {name} = {name}",  # noqa: S608 - fixed names
            f"DELETE FROM {table}",  # noqa: S608 - fixed names
            f"TRUNCATE {table}",
        ):
            assert "permission denied" in await _refused(as_service, statement)
        for privilege in ("SELECT", "INSERT"):
            assert await as_service.fetchval("SELECT has_table_privilege($1, $2)", table, privilege)
    # The schema's version is the owner's to write.
    assert "permission denied" in await _refused(as_service, "UPDATE alembic_version SET version_num = version_num")
    assert "permission denied" in await _refused(as_service, "CREATE TABLE mine (id int)")


async def test_the_start_up_check_accepts_the_service_role_and_refuses_the_owner(
    service_url: str, database_url: str
) -> None:
    await check_service_role(service_url)
    with pytest.raises(UnsafeServiceRole) as refused:
        await check_service_role(database_url)  # the embedded server's superuser, owner of the tables
    text = str(refused.value)
    assert "拒绝启动" in text and "超级用户" in text and "所有者" in text and "session_replication_role" in text


@pytest.fixture(scope="module")
def roles_db(databases: TestDatabases) -> str:
    return databases.migrated("registry_roles_test")


async def _as_owner(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(_dsn(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def test_a_later_table_is_granted_by_default_and_a_stray_grant_refused(roles_db: str, databases: TestDatabases) -> None:
    """Tables a later migration creates reach the service through the owner's default
    privileges; a TRIGGER or UPDATE grant on an append-only table makes the check refuse."""
    service = databases.service(roles_db)
    asyncio.run(_as_owner(roles_db, "CREATE TABLE later_table (id bigint GENERATED BY DEFAULT AS IDENTITY, x text)"))

    async def use_later_table() -> str:
        conn = await asyncpg.connect(_dsn(service))
        try:
            await conn.execute("INSERT INTO later_table (x) VALUES ('a')")
            await conn.execute("UPDATE later_table SET x = 'b'")
            return str(await conn.fetchval("SELECT x FROM later_table"))
        finally:
            await conn.close()

    assert asyncio.run(use_later_table()) == "b"
    asyncio.run(check_service_role(service))
    for grant, expected in (
        ("GRANT TRIGGER ON payroll_run TO registry_service", "TRIGGER"),
        ("GRANT UPDATE ON audit_event TO registry_service", "audit_event"),
        ("ALTER TABLE later_table OWNER TO registry_service", "所有者"),
    ):
        asyncio.run(_as_owner(roles_db, grant))
        with pytest.raises(UnsafeServiceRole, match=expected):
            asyncio.run(check_service_role(service))
        undo = (
            grant.replace("GRANT", "REVOKE")
            .replace(" TO ", " FROM ")
            .replace("OWNER FROM registry_service", "OWNER TO CURRENT_USER")
        )
        asyncio.run(_as_owner(roles_db, undo))
    asyncio.run(check_service_role(service))


def test_serve_refuses_a_superuser_role(roles_db: str, databases: TestDatabases) -> None:
    env = {**databases.env(roles_db), "REGISTRY_DATABASE_URL": roles_db, "REGISTRY_SEED_DEMO": "false"}
    served = subprocess.run(
        [sys.executable, "-m", "registry.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert served.returncode == 1
    assert "拒绝启动" in served.stderr and "超级用户" in served.stderr
