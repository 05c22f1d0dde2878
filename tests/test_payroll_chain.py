"""The payroll hash chain covers every stored field of a closed run's header and lines (issue 15,
acceptance 2): each field changed in turn by the tables' owner with the guards off breaks the
chain, ``registry payroll verify-chain`` exits 1 then, and runs closed under the earlier formats
still verify."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor
from registry.models import PayrollLine, PayrollRun
from registry.payroll import service as payroll
from tests.conftest import TestDatabases
from tests.test_payroll import World, _build, close_run, create

# How each column is changed; every column of the tables is here or in NOT_HASHED, so a column
# added later fails this test until it is hashed (a new hash_version) or said not to need it.
RUN_CHANGES: dict[str, str] = {
    "region_code": "'420100'",
    "month": "month + interval '1 year'",
    "cutoff": "cutoff + 1",
    "status": "'approved'",
    "prepared_by_id": ":other_user",
    "computed_by_id": ":other_user",
    "computed_at": "computed_at + interval '1 second'",
    "submitted_by_id": ":other_user",
    "submitted_at": "submitted_at + interval '1 second'",
    "approved_by_id": ":other_user",
    "approved_at": "approved_at + interval '1 second'",
    "closed_by_id": ":other_user",
    "closed_at": "closed_at - interval '1 microsecond'",
    "returned_reason": "coalesce(returned_reason, '') || '改'",
    "line_count": "line_count + 1",
    "total_amount": "total_amount + 1",
    "rule_versions": "rule_versions || '{\"HB-ALW-100-200\": 9}'",
    "previous_run_id": ":other_run",
    "previous_hash": "repeat('0', 64)",
    "content_hash": "repeat('0', 64)",
    "hash_version": "2",
    "created_at": "created_at - interval '1 second'",
}
LINE_CHANGES: dict[str, str] = {
    "id": "id + 1000000",
    "run_id": ":other_run, seq = seq + 1000",
    "seq": "seq + 1000",
    "kind": "'adjustment', corrects_month = month",
    "practitioner_id": ":unpaid_person",
    "name": "name || '某'",
    "id_number": "left(id_number, 17) || CASE WHEN right(id_number, 1) = '0' THEN '1' ELSE '0' END",
    "level": "level || 'x'",
    "certificate_number": "certificate_number || 'X'",
    "organization_id": "NULL",
    "organization_name": "organization_name || '某'",
    "region_code": "CASE WHEN region_code = '420100' THEN '420200' ELSE '420100' END",
    "month": "month + interval '1 year'",
    "amount": "amount + 1",
    "rule_id": "rule_id || 'x'",
    "rule_version": "rule_version + 1",
    "basis": "basis || '。'",
    "findings": 'findings || \'[{"rule_id": "X"}]\'::jsonb',
    "corrects_month": "coalesce(corrects_month, month) + interval '1 month'",
    "corrects_line_id": "id",
    "reason": "coalesce(reason, '') || '改'",
    "created_by_id": ":other_user",
    "computed": "NOT computed",
}
# The run's id is in every format (it cannot change: the lines point at it); updated_at says when
# the row was last written, which nobody reads as a fact of the payment.
NOT_HASHED = {"payroll_run": {"id", "updated_at"}, "payroll_line": set()}


@pytest.fixture
async def world(session: AsyncSession) -> World:
    return await _build(session)


def test_every_column_is_covered() -> None:
    for table, changes in ((PayrollRun.__table__, RUN_CHANGES), (PayrollLine.__table__, LINE_CHANGES)):
        columns = {c.name for c in table.columns}
        assert columns == set(changes) | NOT_HASHED[table.name], (
            f"{table.name}: a column is neither in the hash (payroll.service._canonical, a new"
            " HASH_VERSION) nor in NOT_HASHED: " + ", ".join(sorted(columns ^ (set(changes) | NOT_HASHED[table.name])))
        )


async def _check(session: AsyncSession) -> Any:
    return await payroll.verify_chain(session, Actor.system("test"), "420000")


async def _tamper(session: AsyncSession, table: str, column: str, change: str, row_id: int, **values: Any) -> None:
    guard = f"{table}_guard"
    await session.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {guard}"))
    used = {k: v for k, v in values.items() if f":{k}" in change}
    statement = f"UPDATE {table} SET {column} = {change} WHERE id = :row_id"  # noqa: S608 - fixed names
    await session.execute(text(statement), {"row_id": row_id, **used})
    await session.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {guard}"))


async def test_each_field_changed_breaks_the_chain(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World, as_owner: Any
) -> None:
    first = await create(anonymous, world.clerk, "420000", "2026-08")
    await close_run(anonymous, world, first["id"])
    second = await create(anonymous, world.clerk, "420000", "2026-09")
    closed = await close_run(anonymous, world, second["id"])
    assert closed["hash_version"] == payroll.HASH_VERSION == 3
    intact = await _check(session)
    assert (intact.ok, intact.runs_checked) == (True, 2)
    line_id = await session.scalar(
        text("SELECT id FROM payroll_line WHERE run_id = :r ORDER BY seq LIMIT 1"), {"r": first["id"]}
    )
    values = {
        "other_user": await session.scalar(
            text(
                "SELECT min(id) FROM app_user WHERE id NOT IN (SELECT unnest(ARRAY[prepared_by_id, computed_by_id,"
                " submitted_by_id, approved_by_id, closed_by_id]) FROM payroll_run WHERE id = :r)"
            ),
            {"r": first["id"]},
        ),
        "other_run": second["id"],
        "unpaid_person": await session.scalar(
            text("SELECT min(id) FROM practitioner WHERE id NOT IN (SELECT practitioner_id FROM payroll_line)")
        ),
    }
    assert None not in values.values()
    missed = []
    for table, changes, row_id in (("payroll_run", RUN_CHANGES, first["id"]), ("payroll_line", LINE_CHANGES, line_id)):
        for column, change in changes.items():
            nested = await session.begin_nested()
            async with as_owner():
                await _tamper(session, table, column, change, row_id, **values)
            result = await _check(session)
            if result.ok:
                missed.append(f"{table}.{column}")
            else:
                assert result.problem and "批次" in result.problem
            await nested.rollback()
    assert missed == [], f"changed without the chain noticing: {missed}"
    assert (await _check(session)).ok


async def test_who_was_dropped_is_covered(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World, as_owner: Any
) -> None:
    run = await create(anonymous, world.clerk, "420000", "2026-09")
    await close_run(anonymous, world, run["id"])
    assert (await _check(session)).ok
    async with as_owner():
        await session.execute(
            text(
                "INSERT INTO payroll_dropped (run_id, practitioner_id, name, previous_amount, reason, findings)"
                " SELECT :r, min(id), '某人', 100, '不再符合条件', '[]' FROM practitioner"
            ),
            {"r": run["id"]},
        )
    broken = await _check(session)
    assert (broken.ok, broken.broken_run_id) == (False, run["id"])


async def test_runs_closed_under_format_2_still_verify(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World, monkeypatch: pytest.MonkeyPatch, as_owner: Any
) -> None:
    monkeypatch.setattr(payroll, "HASH_VERSION", 2)
    earlier = await create(anonymous, world.clerk, "420000", "2026-08")
    assert (await close_run(anonymous, world, earlier["id"]))["hash_version"] == 2
    monkeypatch.undo()
    later = await create(anonymous, world.clerk, "420000", "2026-09")
    assert (await close_run(anonymous, world, later["id"]))["hash_version"] == 3
    result = await _check(session)
    assert (result.ok, result.runs_checked) == (True, 2)
    # A format 2 run is blind to its closer; it still verifies as what it was closed as...
    async with as_owner():
        await _tamper(session, "payroll_run", "hash_version", "3", earlier["id"])
    assert (await _check(session)).ok is False


def test_verify_chain_exits_1_on_a_broken_chain(databases: TestDatabases) -> None:
    from registry.cli import migrate
    from tests.test_payroll_concurrency import _cli, _scenario

    url = databases.fresh("registry_chain_cli")
    migrate(url)
    run_id = asyncio.run(_scenario(databases.service(url)))
    env = databases.env(url)
    assert _cli(env, "close", str(run_id), "--user", "cc-clerk").returncode == 0
    intact = _cli(env, "verify-chain", "420000")
    assert intact.returncode == 0 and "哈希链完整" in intact.stdout, intact.stdout + intact.stderr

    async def pass_off_the_preparer() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            async with conn.transaction():
                await conn.execute("ALTER TABLE payroll_run DISABLE TRIGGER payroll_run_guard")
                await conn.execute(
                    "UPDATE payroll_run SET prepared_by_id = (SELECT max(id) FROM app_user) WHERE id = $1", run_id
                )
                await conn.execute("ALTER TABLE payroll_run ENABLE TRIGGER payroll_run_guard")
        finally:
            await conn.close()

    asyncio.run(pass_off_the_preparer())
    broken = _cli(env, "verify-chain", "420000")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "哈希链断裂" in broken.stdout and str(run_id) in broken.stdout
