"""The worker that keeps the dashboard's summary (``registry.reports.summary``) on the shared
queue: before each round it queues the day's full refresh if none was queued today; a ``delta``
refresh takes every other queued delta with it (one run for a burst of writes). See
``registry.jobs``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry import clock
from registry.accounts.actor import Actor
from registry.jobs import QueueWorker
from registry.models import SummaryRefresh
from registry.reports.summary import refresh_all, refresh_regions, schedule_daily

KEEP = dt.timedelta(days=7)


class SummaryWorker(QueueWorker):
    model = SummaryRefresh
    name = "summary"

    def __init__(self, session_maker: async_sessionmaker[AsyncSession], heartbeat: float = 5.0) -> None:
        super().__init__(session_maker, heartbeat)

    async def requeue(self, stale: dt.timedelta) -> int:
        async with self.session_maker() as session:
            result = await session.execute(
                update(SummaryRefresh)
                .where(SummaryRefresh.status == "running", SummaryRefresh.heartbeat_at < clock.now() - stale)
                .values(status="queued")
            )
            await session.commit()
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def prepare(self) -> None:
        await super().prepare()
        async with self.session_maker() as session:
            if await schedule_daily(session, clock.today()):
                self.poke()
            # Finished refreshes are kept a week (what ran, how long, merged into which).
            await session.execute(
                delete(SummaryRefresh).where(
                    SummaryRefresh.status.in_(("done", "failed")), SummaryRefresh.finished_at < clock.now() - KEEP
                )
            )
            await session.commit()

    async def run(self, actor: Actor, job_id: int) -> None:
        del actor  # the summary covers every region, whoever's write queued it
        today = clock.today()
        async with self.session_maker() as session:
            job = await session.get(SummaryRefresh, job_id)
            assert job is not None
            try:
                if job.kind == "full":
                    people, regions = await refresh_all(session, today)
                else:
                    others = (
                        await session.scalars(
                            select(SummaryRefresh)
                            .where(
                                SummaryRefresh.status == "queued",
                                SummaryRefresh.kind == "delta",
                                SummaryRefresh.id != job_id,
                            )
                            .with_for_update(skip_locked=True)
                        )
                    ).all()
                    ids = {i for j in (job, *others) for i in (j.practitioner_ids or ())}
                    codes = {c for j in (job, *others) for c in (j.region_codes or ())}
                    people, regions = await refresh_regions(session, ids, codes, today)
                    for other in others:
                        other.status, other.merged_into, other.finished_at = "done", job_id, clock.now()
                job = await session.get(SummaryRefresh, job_id)
                assert job is not None
                job.status, job.people, job.regions, job.finished_at = "done", people, regions, clock.now()
                await session.commit()
            except Exception as exc:
                await session.rollback()
                failed = await session.get(SummaryRefresh, job_id)
                assert failed is not None
                failed.status, failed.error, failed.finished_at = (
                    "failed",
                    f"汇总刷新失败：{type(exc).__name__}",
                    clock.now(),
                )
                await session.commit()
                raise
