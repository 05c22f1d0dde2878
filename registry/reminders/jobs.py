"""The daily reminder run on the shared queue worker: before each round the worker queues
today's run if there is none (one row a day, so several server processes make one run), then
runs it like any queued job. See ``registry.jobs``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry import clock
from registry.accounts.actor import Actor
from registry.config import Settings
from registry.jobs import QueueWorker
from registry.models import ReminderRun
from registry.reminders.compute import compute_day
from registry.reminders.service import deliver

# A run left 'running' by a stopped process is queued again after this long.
STALE = dt.timedelta(hours=1)


class ReminderWorker(QueueWorker):
    model = ReminderRun
    name = "reminders"

    def __init__(self, session_maker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        super().__init__(session_maker)
        self.settings = settings

    async def prepare(self) -> None:
        async with self.session_maker() as session:
            await session.execute(
                insert(ReminderRun).values(day=clock.today()).on_conflict_do_nothing(index_elements=["day"])
            )
            await session.execute(
                update(ReminderRun)
                .where(ReminderRun.status == "running", ReminderRun.created_at < clock.now() - STALE)
                .values(status="queued")
            )
            await session.commit()

    async def drain(self, *, beat: bool = False) -> int:
        """A day's run is short and has no heartbeat column: a stopped one is queued again by
        ``prepare`` after ``STALE``."""
        del beat
        return await super().drain(beat=False)

    async def run(self, actor: Actor, job_id: int) -> None:
        async with self.session_maker() as session:
            run = await session.get(ReminderRun, job_id)
            assert run is not None
            try:
                made = await compute_day(session, run.day)
                emailed = await deliver(session, self.settings, run.day)
            except Exception as exc:
                await session.rollback()
                run = await session.get(ReminderRun, job_id)
                assert run is not None
                run.status, run.error, run.finished_at = "failed", f"提醒计算失败：{type(exc).__name__}", clock.now()
                await session.commit()
                raise
            run.status, run.created, run.emailed, run.finished_at = "done", len(made), emailed, clock.now()
            await session.commit()
