"""Two clerks at once, on two real connections to a database of its own (committed data):
one run per region and month, one approval, one payment per person and month. Then the same
run through the command line, and the chain checked there."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry.accounts.actor import Actor
from registry.accounts.service import actor_for_user
from registry.certifications.schemas import CertificationCreate
from registry.certifications.service import add_certification
from registry.db import create_engine, create_session_maker
from registry.models import Certification, PayrollLine, PayrollRun
from registry.organizations.schemas import OrganizationCreate
from registry.organizations.service import create_organization
from registry.payroll import service
from registry.payroll.schemas import RunCreate
from registry.practitioners.schemas import EmploymentCreate, PractitionerCreate
from registry.practitioners.service import add_employment, create_practitioner
from tests.accounts import make_user
from tests.conftest import TestDatabases
from tests.scene import LOADER, id_number

YICHANG = "420502"


async def _setup(maker: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with maker() as session, session.begin():
        org = await create_organization(
            session, LOADER, OrganizationCreate(name="西陵区某社区", org_type="community", region_code=YICHANG)
        )
        for n in range(3):
            p = await create_practitioner(
                session,
                LOADER,
                PractitionerCreate(
                    name="并发" + "甲乙丙"[n], id_number=id_number(YICHANG, "19900505"), education="bachelor"
                ),
            )
            await add_employment(
                session,
                LOADER,
                p.id,
                EmploymentCreate(
                    organization_id=org.id, post_type="community_worker", in_post_from=dt.date(2020, 1, 1)
                ),
            )
            c = await add_certification(
                session,
                LOADER,
                p.id,
                CertificationCreate(
                    level="assistant",
                    certificate_number=f"CC{p.id:08d}",
                    exam_year=2024,
                    registration_valid_from=dt.date(2025, 1, 1),
                ),
            )
            await session.execute(
                update(Certification)
                .where(Certification.id == c.id)
                .values(verification_status="verified", verified_at=dt.datetime(2025, 1, 2, tzinfo=dt.UTC))
            )
        users = {
            "clerk": await make_user(session, "cc-clerk", {"role": "payroll_clerk", "region_code": "420000"}),
            "a1": await make_user(session, "cc-a1", {"role": "civil_affairs", "region_code": "420000"}),
            "a2": await make_user(session, "cc-a2", {"role": "civil_affairs", "region_code": "420000"}),
        }
        return {k: u.id for k, u in users.items()}


async def _both(maker: async_sessionmaker[AsyncSession], *work: Callable[[AsyncSession], Awaitable[Any]]) -> list[Any]:
    async def one(fn: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
        async with maker() as session:
            try:
                result = await fn(session)
                await session.commit()
                return result
            except BaseException:
                await session.rollback()
                raise

    return await asyncio.gather(*(one(fn) for fn in work), return_exceptions=True)


def _codes(results: list[Any]) -> list[str]:
    return sorted("ok" if not isinstance(r, BaseException) else getattr(r, "code", type(r).__name__) for r in results)


async def _scenario(url: str) -> int:
    engine = create_engine(url, pool_size=4)
    maker = create_session_maker(engine)
    try:
        ids = await _setup(maker)
        async with maker() as session:
            actors: dict[str, Actor] = {k: await actor_for_user(session, v) for k, v in ids.items()}

        # Two clerks create the same region-month at once.
        data = RunCreate(region_code="420000", month="2026-10")
        results = await _both(
            maker,
            lambda s: service.create_run(s, actors["clerk"], data),
            lambda s: service.create_run(s, actors["clerk"], data),
        )
        assert _codes(results) == ["ok", "payroll_run_exists"], results
        async with maker() as session:
            runs = (await session.scalars(select(PayrollRun).where(PayrollRun.month == dt.date(2026, 10, 1)))).all()
            assert len(runs) == 1
            run_id = runs[0].id
            assert await session.scalar(select(func.count()).where(PayrollLine.run_id == run_id)) == 3

        # Two approvers approve at once.
        async with maker() as session, session.begin():
            await service.submit(session, actors["clerk"], run_id)
        results = await _both(
            maker,
            lambda s: service.approve(s, actors["a1"], run_id),
            lambda s: service.approve(s, actors["a2"], run_id),
        )
        assert _codes(results) == ["ok", "payroll_run_state"], results
        async with maker() as session:
            run = await session.get(PayrollRun, run_id)
            assert run is not None and run.status == "approved" and run.approved_by_id in (ids["a1"], ids["a2"])

        # Overlapping regions computing the same people at once: each person is paid once.
        results = await _both(
            maker,
            lambda s: service.create_run(s, actors["clerk"], RunCreate(region_code="420000", month="2026-09")),
            lambda s: service.create_run(s, actors["clerk"], RunCreate(region_code="420500", month="2026-09")),
        )
        assert _codes(results) == ["ok", "payroll_person_already_paid"], results
        async with maker() as session:
            duplicates = await session.scalar(
                select(func.count()).select_from(
                    select(PayrollLine.practitioner_id)
                    .where(PayrollLine.kind == "regular")
                    .group_by(PayrollLine.practitioner_id, PayrollLine.month)
                    .having(func.count() > 1)
                    .subquery()
                )
            )
            assert duplicates == 0
        return run_id
    finally:
        await engine.dispose()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "registry.cli", "payroll", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_concurrent_clerks_and_the_command_line(databases: TestDatabases, tmp_path: Path) -> None:
    url = databases.fresh("registry_payroll_concurrency")
    from registry.cli import migrate

    migrate(url)
    run_id = asyncio.run(_scenario(databases.service(url)))
    env = databases.env(url)

    closed = _cli(env, "close", str(run_id), "--user", "cc-clerk")
    assert closed.returncode == 0, closed.stderr
    assert "closed" in closed.stdout
    out = tmp_path / "run.csv"
    exported = _cli(env, "export", str(run_id), "--format", "csv", "--out", str(out), "--user", "cc-a1")
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert len(rows) == 4 and rows[0][0] == "序号"
    chain = _cli(env, "verify-chain", "420000")
    assert chain.returncode == 0 and "哈希链完整" in chain.stdout, chain.stdout + chain.stderr
    # The preparer cannot approve on the command line either.
    new_run = _cli(env, "run", "420000", "2026-08", "--user", "cc-clerk")
    assert new_run.returncode == 0, new_run.stderr
    new_id = new_run.stdout.split("：")[0].removeprefix("批次 ").strip()
    assert _cli(env, "submit", new_id, "--user", "cc-clerk").returncode == 0
    refused = _cli(env, "approve", new_id, "--user", "cc-clerk")
    assert refused.returncode == 1 and "forbidden" in refused.stderr
