"""Background jobs kept in the database: one worker per server process and kind of job.

A request queues a job (a row with ``status = 'queued'``) and pokes the worker; the worker
claims the oldest queued row with ``FOR UPDATE SKIP LOCKED`` (so several server processes share
the queue without running a job twice) and runs it as the user who asked for it, with that
user's grants as they are when it starts. Jobs of an account closed meanwhile are not run. The
app starts the workers with the server; tests, where no server runs, call ``drain``.

While a job runs, its runner writes ``heartbeat_at`` every heartbeat period. A running job whose
heartbeat is ``STALE_BEATS`` periods old was cut off (its process stopped, or the database went
away under it): every worker puts such jobs back in the queue at each of its rounds, one
heartbeat period apart, so they finish once the database is back, with no restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry import clock
from registry.accounts.actor import Actor
from registry.accounts.service import actor_for_user
from registry.db import is_connection_error
from registry.models import User

log = logging.getLogger("registry")
HEARTBEAT_SECONDS = 5.0
STALE_BEATS = 3


def stale_after(heartbeat: float = HEARTBEAT_SECONDS) -> dt.timedelta:
    return dt.timedelta(seconds=heartbeat * STALE_BEATS)


@contextlib.asynccontextmanager
async def heartbeat(
    session_maker: async_sessionmaker[AsyncSession], model: Any, job_id: int, period: float = HEARTBEAT_SECONDS
) -> AsyncIterator[None]:
    """Write the job's ``heartbeat_at`` now and every ``period`` seconds while the body runs
    (in short transactions of its own; a failed beat, the database being away, is skipped)."""

    async def beat() -> None:
        while True:
            try:
                async with session_maker() as session:
                    await session.execute(
                        update(model)
                        .where(model.id == job_id, model.status == "running")
                        .values(heartbeat_at=clock.now())
                    )
                    await session.commit()
            except Exception as exc:  # the next beat tries again
                log.warning("heartbeat of %s %s: %s: %s", model.__tablename__, job_id, type(exc).__name__, exc)
            await asyncio.sleep(period)

    task = asyncio.create_task(beat(), name=f"heartbeat-{model.__tablename__}-{job_id}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class QueueWorker:
    """Subclasses name the table (``model``: id, status, created_by_id, error, finished_at) and
    say how to run one job (``run``) and what to do before each round (``prepare``)."""

    model: ClassVar[Any]
    name: ClassVar[str]
    # Told each job's kind, outcome (the job's status after the run, e.g. "done" or "failed",
    # or "raised") and seconds: the app's /metrics.
    observer: Callable[[str, str, float], None] | None = None

    def __init__(self, session_maker: async_sessionmaker[AsyncSession], heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self.session_maker = session_maker
        self.heartbeat = heartbeat
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run(self, actor: Actor, job_id: int) -> None:
        raise NotImplementedError

    async def requeue(self, stale: dt.timedelta) -> int:
        """Put running jobs whose heartbeat is older than ``stale`` back in the queue."""
        return 0

    async def prepare(self) -> None:
        """Before each round: put back jobs a stopped process or an outage cut off."""
        count = await self.requeue(stale_after(self.heartbeat))
        if count:
            log.warning("%s: %s interrupted job(s) queued again", self.name, count)

    def poke(self) -> None:
        self._wake.set()

    async def run_next(self, *, beat: bool = False) -> bool:
        """Claim and run the oldest queued job; False when there is none. With ``beat`` (the
        server's loop; tests drain on one connection) the job's heartbeat is written meanwhile."""
        model = self.model
        async with self.session_maker() as session:
            job = (
                await session.scalars(
                    select(model)
                    .where(model.status == "queued")
                    .order_by(model.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).one_or_none()
            if job is None:
                return False
            job_id, user_id = job.id, job.created_by_id
            user = await session.get(User, user_id) if user_id is not None else None
            if user is not None and not user.active:
                job.status, job.error, job.finished_at = "failed", "创建任务的账户已停用，任务未执行。", clock.now()
                await session.commit()
                return True
            job.status = "running"
            if hasattr(job, "heartbeat_at"):
                job.heartbeat_at = clock.now()
            actor = (
                await actor_for_user(session, user.id, request_id=f"{self.name}-{job_id}", client_ip=None)
                if user is not None
                else Actor.system(self.name)
            )
            await session.commit()
        start = time.perf_counter()
        try:
            if beat:
                async with heartbeat(self.session_maker, model, job_id, self.heartbeat):
                    await self.run(actor, job_id)
            else:
                await self.run(actor, job_id)
        except BaseException:
            self._observe("raised", start)
            raise
        if self.observer is not None:
            async with self.session_maker() as session:
                status = await session.scalar(select(model.status).where(model.id == job_id))
            self._observe(str(status), start)
        return True

    def _observe(self, outcome: str, start: float) -> None:
        if self.observer is not None:
            self.observer(self.name, outcome, time.perf_counter() - start)

    async def drain(self, *, beat: bool = False) -> int:
        """Run queued jobs until none is left; how many ran."""
        count = 0
        while await self.run_next(beat=beat):
            count += 1
        return count

    async def _loop(self) -> None:
        while True:
            try:
                await self.prepare()
                await self.drain(beat=True)
            except Exception as exc:  # a broken job must not stop the worker
                if is_connection_error(exc):
                    log.warning("%s worker: database unavailable (%s)", self.name, type(exc).__name__)
                else:
                    log.exception("%s worker", self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.heartbeat)
            self._wake.clear()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
