"""An import's commit and a clerk's transfer at the same moment, on two real connections to a
database of its own: the commit waits for the transfer, checks the person again, and writes
nothing for someone who has just left the importer's county."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import asyncpg

from registry.accounts.service import actor_for_user
from registry.config import Settings
from registry.db import create_engine, create_session_maker
from registry.imports.service import create_import, request_commit, run_import
from registry.models import ImportJob
from registry.organizations.schemas import OrganizationCreate
from registry.organizations.service import create_organization
from registry.practitioners.schemas import EmploymentCreate, PractitionerCreate
from registry.practitioners.service import add_employment, create_practitioner
from tests.accounts import make_user
from tests.conftest import TestDatabases
from tests.scene import LOADER, id_number

JIANGAN, HETANG = "420102", "430202"


async def _scenario(url: str, data_dir: Path) -> None:
    engine = create_engine(url, pool_size=4)
    maker = create_session_maker(engine)
    settings = Settings(data_dir=data_dir)
    try:
        async with maker() as session, session.begin():
            here = await create_organization(
                session, LOADER, OrganizationCreate(name="江岸区某社区", org_type="community", region_code=JIANGAN)
            )
            there = await create_organization(
                session, LOADER, OrganizationCreate(name="荷塘区某社区", org_type="community", region_code=HETANG)
            )
            person = await create_practitioner(
                session,
                LOADER,
                PractitionerCreate(name="赵竞", id_number=id_number(JIANGAN, "19910101"), education="bachelor"),
            )
            await add_employment(
                session,
                LOADER,
                person.id,
                EmploymentCreate(
                    organization_id=here.id, post_type="community_worker", in_post_from=dt.date(2020, 1, 1)
                ),
            )
            clerk = await make_user(session, "race-clerk", {"role": "civil_affairs", "region_code": JIANGAN})
            pid, number, there_id, clerk_id = person.id, person.id_number, there.id, clerk.id
        async with maker() as session:
            actor = await actor_for_user(session, clerk_id)
        csv = f"姓名,公民身份号码,学历,手机号码\r\n赵竞,{number},本科,13800009999\r\n".encode("utf-8-sig")
        async with maker() as session, session.begin():
            job = await create_import(session, actor, settings, "人员.csv", csv, run_here=True)
            job_id = job.id
        checked = await run_import(maker, actor, settings, job_id)
        assert checked.status == "done" and checked.problem_count == 0, checked.problems
        async with maker() as session, session.begin():
            await request_commit(session, actor, settings, job_id, run_here=True)

        # Another clerk is moving the person to Hunan, and has not committed yet.
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        other = await asyncpg.connect(dsn)
        transfer = other.transaction()
        await transfer.start()
        await other.execute("SELECT 1 FROM practitioner WHERE id = $1 FOR UPDATE", pid)
        commit = asyncio.create_task(run_import(maker, actor, settings, job_id))
        await asyncio.sleep(1.5)
        assert not commit.done(), "the commit must wait for the person's row"
        await other.execute(
            "UPDATE practitioner SET region_code = $1, organization_id = $2 WHERE id = $3", HETANG, there_id, pid
        )
        await transfer.commit()
        await other.close()
        done: ImportJob = await asyncio.wait_for(commit, 60)
        assert done.status == "failed" and done.committed_at is None, done.error
        assert any(p["code"] == "out_of_scope" for p in done.problems or []), done.problems
        check = await asyncpg.connect(dsn)
        try:
            assert await check.fetchval("SELECT phone FROM practitioner WHERE id = $1", pid) is None
        finally:
            await check.close()
    finally:
        await engine.dispose()


def test_a_commit_waits_for_a_concurrent_transfer_and_writes_nothing_out_of_scope(
    databases: TestDatabases, tmp_path: Path
) -> None:
    from registry.cli import migrate

    url = databases.fresh("registry_import_race")
    migrate(url)
    asyncio.run(_scenario(databases.service(url), tmp_path))
