"""A backup that is proven (issue 15, acceptance 7): a registry with a closed payroll run and
issued certificates is backed up with ``registry db backup``, restored with ``registry db
restore`` into a fresh embedded server of its own, and there the chain verifies, the
certificates verify, and every audit row is there, as the service's role sees them."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import asyncpg
import httpx

from registry.config import Settings
from registry.db import EmbeddedPostgres, find_pg_bin_dir
from tests.conftest import TestDatabases

AUDIT = "SELECT count(*), md5(string_agg(a::text, '|' ORDER BY a.id)) FROM audit_event a"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _registry(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry.cli", *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )


async def _facts(url: str) -> dict[str, object]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        audit = tuple(await conn.fetchrow(AUDIT))
        return {
            "audit": audit,
            "runs": await conn.fetch("SELECT id, status, content_hash FROM payroll_run ORDER BY id"),
            "serials": [r["serial"] for r in await conn.fetch("SELECT serial FROM issued_certificate ORDER BY id")],
            "role": await conn.fetchval("SELECT current_user"),
        }
    finally:
        await conn.close()


def test_backup_and_restore_into_a_fresh_server(databases: TestDatabases, tmp_path: Path) -> None:
    from tests.test_payroll_concurrency import _scenario

    url = databases.migrated("registry_backup_source")
    run_id = asyncio.run(_scenario(databases.service(url)))
    source = {**databases.env(url), "REGISTRY_DATA_DIR": str(tmp_path / "source")}
    closed = _registry(source, "payroll", "close", str(run_id), "--user", "cc-clerk")
    assert closed.returncode == 0, closed.stderr
    issued = _registry(source, "certificates", "batch", "420000", "allowance", "2026-10", "--user", "cc-clerk")
    assert issued.returncode == 0, issued.stderr
    before = asyncio.run(_facts(databases.service(url)))
    assert before["serials"] and [r["status"] for r in before["runs"]].count("closed") == 1  # type: ignore[attr-defined]

    archive = tmp_path / "registry.dump"
    made = _registry(source, "db", "backup", str(archive))
    assert made.returncode == 0, made.stderr
    assert archive.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format

    # A fresh embedded server: its own data folder and port, nothing but what the backup holds.
    fresh = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_DATABASE_URL", "REGISTRY_OWNER_DATABASE_URL")}
    fresh |= {"REGISTRY_DATA_DIR": str(tmp_path / "fresh"), "REGISTRY_EMBEDDED_PG_PORT": str(_free_port())}
    server = EmbeddedPostgres(
        data_dir=tmp_path / "fresh",
        port=int(fresh["REGISTRY_EMBEDDED_PG_PORT"]),
        bin_dir=find_pg_bin_dir(Settings().pg_bin_dir),
    )
    try:
        restored = _registry(fresh, "db", "restore", str(archive))
        assert restored.returncode == 0, restored.stdout + restored.stderr
        again = _registry(fresh, "db", "restore", str(archive))
        assert again.returncode == 1 and "不是空的" in again.stderr and "--replace" in again.stderr

        chain = _registry(fresh, "payroll", "verify-chain", "420000")
        assert chain.returncode == 0 and "哈希链完整" in chain.stdout, chain.stdout + chain.stderr
        server.start()
        server.ensure_database()
        after = asyncio.run(_facts(server.service_url()))
        assert after["role"] == "registry_app"
        assert after["audit"] == before["audit"]  # every row, byte for byte
        assert after["runs"] == before["runs"] and after["serials"] == before["serials"]

        async def verify_all() -> list[str]:
            from registry.app import create_app

            app = create_app(Settings(data_dir=tmp_path / "fresh"), database_url=server.service_url())
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                statuses = [
                    (await client.get(f"/api/verify/{serial}")).json()["status"]
                    for serial in before["serials"]  # type: ignore[attr-defined]
                ]
            await app.on_shutdown[-1]()
            return statuses

        assert set(asyncio.run(verify_all())) == {"valid"}
        # The restored grants are the service's and no more: the start-up check passes.
        from registry.privileges import check_service_role

        asyncio.run(check_service_role(server.service_url()))
    finally:
        server.stop()
        if server.pgdata != tmp_path / "fresh" / "pg":
            shutil.rmtree(server.pgdata.parent, ignore_errors=True)
