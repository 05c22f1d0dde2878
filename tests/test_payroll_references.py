"""Payroll lines keep naming existing practitioners, employers and users without a foreign key
checked per line (migration 0016, issue 19): a row named by a payroll line cannot be deleted,
renumbered or truncated away, by the service's role nor by the tables' owner; lines naming a row
that does not exist are refused, checked once per statement; and a deletion racing a run's
writing of lines is refused whichever commits first."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from registry.cli import migrate
from tests.conftest import TestDatabases
from tests.scene import id_number
from tests.test_payroll import World, _build, close_run, create
from tests.test_payroll_chain import _check


@pytest.fixture
async def world(session: AsyncSession) -> World:
    return await _build(session)


def _refusal(exc: DBAPIError) -> tuple[str | None, str | None]:
    cause = exc.orig.__cause__ if exc.orig is not None else None
    return getattr(cause, "sqlstate", None), getattr(cause, "constraint_name", None)


async def _refused(session: AsyncSession, statement: str, **values: Any) -> tuple[str | None, str | None]:
    nested = await session.begin_nested()
    try:
        await session.execute(text(statement), values)
    except DBAPIError as exc:
        await nested.rollback()
        return _refusal(exc)
    await nested.rollback()
    return None, None


async def test_rows_named_by_payroll_lines_stay(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World, as_owner: Any
) -> None:
    run = await create(anonymous, world.clerk, "420000", "2026-09")
    line = (
        await session.execute(
            text(
                "SELECT practitioner_id, organization_id, created_by_id FROM payroll_line"
                " WHERE run_id = :r ORDER BY seq LIMIT 1"
            ),
            {"r": run["id"]},
        )
    ).one()
    assert None not in line
    attempts = [
        ("DELETE FROM practitioner WHERE id = :id", line.practitioner_id),
        ("UPDATE practitioner SET id = id + 1000000 WHERE id = :id", line.practitioner_id),
        ("DELETE FROM organization WHERE id = :id", line.organization_id),
        ("UPDATE organization SET id = id + 1000000 WHERE id = :id", line.organization_id),
        ("DELETE FROM app_user WHERE id = :id", line.created_by_id),
    ]
    guard = ("23503", "payroll_line_referenced")
    for statement, row_id in attempts:
        # The guard refuses before any other constraint is looked at (those are checked after
        # the row is gone; a practitioner's spells and certificates would even go with them).
        assert await _refused(session, statement, id=row_id) == guard, ("service", statement)
        async with as_owner():
            assert await _refused(session, statement, id=row_id) == guard, ("owner", statement)
    async with as_owner():
        for table in ("practitioner", "organization", "app_user"):
            assert await _refused(session, f"TRUNCATE {table} CASCADE") == guard, table
    # Still there, and the run closes and its chain verifies.
    assert await session.scalar(text("SELECT count(*) FROM practitioner WHERE id = :id"), {"id": line.practitioner_id})
    await close_run(anonymous, world, run["id"])
    assert (await _check(session)).ok


async def test_a_row_named_by_no_line_can_still_go(session: AsyncSession, world: World) -> None:
    pid = await session.scalar(
        text(
            "INSERT INTO practitioner (name, id_number, birth_date, sex, education)"
            " VALUES ('未领津贴', :n, DATE '1990-01-01', 'F', 'bachelor') RETURNING id"
        ),
        {"n": id_number("420502")},
    )
    await session.execute(text("DELETE FROM practitioner WHERE id = :id"), {"id": pid})
    assert await session.scalar(text("SELECT count(*) FROM practitioner WHERE id = :id"), {"id": pid}) == 0


async def test_lines_naming_missing_rows_are_refused(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    run = await create(anonymous, world.clerk, "420000", "2026-09")
    copy = (
        "INSERT INTO payroll_line (run_id, seq, kind, practitioner_id, name, id_number, level, certificate_number,"
        " organization_id, organization_name, region_code, month, amount, rule_id, rule_version, basis, findings,"
        " corrects_month, created_by_id, computed)"
        " SELECT run_id, seq + 1000, 'adjustment', {pid}, name, id_number, level, certificate_number, {org},"
        " organization_name, region_code, month, amount, rule_id, rule_version, basis, findings, month - 31,"
        " {user}, false FROM payroll_line WHERE run_id = :r"
    )
    missing = "(SELECT max(id) + 1000 FROM {table})"
    same = {"pid": "practitioner_id", "org": "organization_id", "user": "created_by_id"}
    check = ("23503", "payroll_line_references")
    for column, table in (("pid", "practitioner"), ("org", "organization"), ("user", "app_user")):
        statement = copy.format(**(same | {column: missing.format(table=table)}))
        assert await _refused(session, statement, r=run["id"]) == check, table
        # Changing a line to name a missing row is refused the same way.
        change = {"pid": "practitioner_id", "org": "organization_id", "user": "created_by_id"}[column]
        update = (
            f"UPDATE payroll_line SET {change} = {missing.format(table=table)}"  # noqa: S608 - fixed names
            " WHERE id = (SELECT min(id) FROM payroll_line WHERE run_id = :r)"
        )
        assert await _refused(session, update, r=run["id"]) == check, table
    # The lines as written by the run are whole.
    assert await session.scalar(text("SELECT count(*) FROM payroll_line WHERE run_id = :r"), {"r": run["id"]}) > 0


def test_a_deletion_racing_the_writing_of_lines_is_refused(databases: TestDatabases) -> None:
    url = databases.fresh("registry_payroll_references")
    migrate(url)
    owner = url.replace("postgresql+asyncpg://", "postgresql://")
    service = databases.service(url).replace("postgresql+asyncpg://", "postgresql://")

    async def scenario() -> None:
        setup = await asyncpg.connect(owner)
        deleter, writer = await asyncpg.connect(service), await asyncpg.connect(service)
        try:
            run_id = await setup.fetchval(
                "INSERT INTO payroll_run (region_code, month, cutoff) VALUES ('420000', DATE '2026-09-01',"
                " DATE '2026-09-30') RETURNING id"
            )
            people = [
                await setup.fetchval(
                    "INSERT INTO practitioner (name, id_number, birth_date, sex, education)"
                    " VALUES ('某人', $1, DATE '1990-01-01', 'F', 'bachelor') RETURNING id",
                    id_number("420502"),
                )
                for _ in range(2)
            ]

            async def write_line(pid: int) -> None:
                await writer.execute(
                    "INSERT INTO payroll_line (run_id, seq, kind, practitioner_id, name, id_number, level,"
                    " certificate_number, organization_name, region_code, month, amount, rule_id, rule_version,"
                    " basis, findings) VALUES ($1, $2::int, 'regular', $2, '某人', '420502199001010000', 'assistant',"
                    " 'X', '', '420502', DATE '2026-09-01', 100, 'R', 1, '', '[]')",
                    run_id,
                    pid,
                )

            async def delete(pid: int) -> None:
                await deleter.execute("DELETE FROM practitioner WHERE id = $1", pid)

            async def race(
                first: asyncpg.Connection,
                first_step: Callable[[int], Awaitable[None]],
                second: asyncpg.Connection,
                second_step: Callable[[int], Awaitable[None]],
                pid: int,
                constraint: str,
            ) -> None:
                """``first`` does its step and stays open; ``second``'s step waits for it to
                commit, then is refused, naming ``constraint``."""
                leading, following = first.transaction(), second.transaction()
                await leading.start()
                await first_step(pid)
                await following.start()
                waiting = asyncio.ensure_future(second_step(pid))
                await asyncio.sleep(0.5)
                assert not waiting.done(), f"{constraint}: the second transaction did not wait for the first"
                await leading.commit()
                with pytest.raises(asyncpg.ForeignKeyViolationError) as refused:
                    await waiting
                assert refused.value.constraint_name == constraint
                await following.rollback()

            # The line is written first: the deletion waits for the writer, then sees the line.
            await race(writer, write_line, deleter, delete, people[0], "payroll_line_referenced")
            # The deletion comes first: the line waits for it, then finds its person gone.
            await race(deleter, delete, writer, write_line, people[1], "payroll_line_references")
            assert await setup.fetchval("SELECT count(*) FROM payroll_line") == 1
        finally:
            for conn in (setup, deleter, writer):
                await conn.close()

    asyncio.run(scenario())
