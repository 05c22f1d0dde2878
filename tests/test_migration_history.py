"""Migration 0009 on a copy that holds data: each certificate's single registration period moves
into ``certification_period`` without loss, a verified certificate's day is kept as
``verified_on``, the evaluator reads the moved period, and the downgrade puts it back."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import asyncpg
import pytest

from registry import migrate
from registry.certifications.history import certs_of
from registry.db import create_engine, create_session_maker
from tests.scene import id_number

BEFORE = "0013"
CERTS = [
    # number, status, registration from, registration to, verified at
    ("MIG-0001", "verified", dt.date(2021, 3, 15), dt.date(2024, 3, 14), "2021-04-01 01:00+08"),
    ("MIG-0002", "pending", dt.date(2023, 1, 1), dt.date(2025, 12, 31), None),
    ("MIG-0003", "rejected", None, None, "2023-05-05 12:00+08"),
    ("MIG-0004", "verified", dt.date(2022, 7, 1), None, "2022-07-02 23:30+00"),  # an end never filled in
]


@pytest.fixture(scope="module")
def url(databases: Any) -> str:
    return str(databases.fresh("registry_migration_history_test"))


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _fill(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(_dsn(url))
    try:
        pid = await conn.fetchval(
            "INSERT INTO practitioner (name, id_number, birth_date, sex, education)"
            " VALUES ('迁移测试', $1, '1990-01-01', 'M', 'bachelor') RETURNING id",
            id_number("420102", "19900101"),
        )
        ids = {}
        for number, status, start, end, verified_at in CERTS:
            ids[number] = await conn.fetchval(
                "INSERT INTO certification (practitioner_id, level, certificate_number, exam_year,"
                " registration_valid_from, registration_valid_to, verification_status, verified_at)"
                " VALUES ($1, 'assistant', $2, 2020, $3, $4, $5, $6::text::timestamptz) RETURNING id",
                pid,
                number,
                start,
                end,
                status,
                verified_at,
            )
        ids["practitioner"] = pid
        return ids
    finally:
        await conn.close()


async def _fetch(url: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(_dsn(url))
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


async def _facts(url: str, pid: int) -> Any:
    engine = create_engine(url, pool_size=1)
    try:
        async with create_session_maker(engine)() as session:
            return (await certs_of(session, [pid]))[pid]
    finally:
        await engine.dispose()


def test_the_single_period_moves_into_its_own_table_without_loss(url: str) -> None:
    migrate.upgrade(url, BEFORE)
    ids = asyncio.run(_fill(url))
    migrate.upgrade(url, "head")

    periods = asyncio.run(
        _fetch(
            url,
            "SELECT c.certificate_number, p.kind, p.start_date, p.end_date, p.replaces_id, p.withdrawn"
            " FROM certification_period p JOIN certification c ON c.id = p.certification_id ORDER BY 1",
        )
    )
    assert [tuple(r) for r in periods] == [
        ("MIG-0001", "registration", dt.date(2021, 3, 15), dt.date(2024, 3, 14), None, False),
        ("MIG-0002", "registration", dt.date(2023, 1, 1), dt.date(2025, 12, 31), None, False),
        ("MIG-0004", "registration", dt.date(2022, 7, 1), dt.date(2025, 6, 30), None, False),  # three years
    ]
    verified = asyncio.run(_fetch(url, "SELECT certificate_number, verified_on FROM certification ORDER BY 1"))
    # The China day of the recorded verification; a rejection has none.
    assert {r[0]: r[1] for r in verified} == {
        "MIG-0001": dt.date(2021, 4, 1),
        "MIG-0002": None,
        "MIG-0003": None,
        "MIG-0004": dt.date(2022, 7, 3),
    }
    columns = asyncio.run(
        _fetch(url, "SELECT column_name FROM information_schema.columns WHERE table_name = 'certification'")
    )
    assert not {"registration_valid_from", "registration_valid_to"} & {r[0] for r in columns}

    # The evaluator reads the moved period as it read the column.
    certs = {c.number: c for c in asyncio.run(_facts(url, ids["practitioner"]))}
    assert certs["MIG-0001"].valid_on(dt.date(2024, 3, 14)) and not certs["MIG-0001"].valid_on(dt.date(2024, 3, 15))
    assert not certs["MIG-0001"].valid_on(dt.date(2021, 3, 31))  # verified on 1 April
    assert not certs["MIG-0002"].valid_on(dt.date(2024, 1, 1))  # pending

    # A period row is never changed in place (a correction is a new row).
    with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
        asyncio.run(_fetch(url, "UPDATE certification_period SET end_date = end_date + 1 RETURNING id"))

    # Downgrading puts the period back into the columns.
    migrate.downgrade(url, BEFORE)
    back = asyncio.run(
        _fetch(
            url,
            "SELECT certificate_number, registration_valid_from, registration_valid_to FROM certification ORDER BY 1",
        )
    )
    assert [tuple(r) for r in back] == [
        ("MIG-0001", dt.date(2021, 3, 15), dt.date(2024, 3, 14)),
        ("MIG-0002", dt.date(2023, 1, 1), dt.date(2025, 12, 31)),
        ("MIG-0003", None, None),
        ("MIG-0004", dt.date(2022, 7, 1), dt.date(2025, 6, 30)),
    ]
