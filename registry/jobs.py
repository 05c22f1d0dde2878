"""Background jobs kept in the database: one worker per server process and kind of job.

A request queues a job (a row with ``status = 'queued'``) and pokes the worker; the worker
claims the oldest queued row with ``FOR UPDATE SKIP LOCKED`` (so several server processes share
the queue without running a job twice) and runs it as the user who asked for it, with that
user's grants as they are when it starts. Jobs of an account closed meanwhile are not run. The
app starts the workers with the server; tests, where no server runs, call ``drain``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, ClassVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry import clock
from registry.accounts.actor import Actor
from registry.accounts.service import actor_for_user
from registry.models import User

log = logging.getLogger("registry")
POLL_SECONDS = 5.0


class QueueWorker:
    """Subclasses name the table (``model``: id, status, created_by_id, error, finished_at) and
    say how to run one job (``run``) and what to do before each round (``prepare``)."""

    model: ClassVar[Any]
    name: ClassVar[str]

    def __init__(self, session_maker: async_sessionmaker[AsyncSession]) -> None:
        self.session_maker = session_maker
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run(self, actor: Actor, job_id: int) -> None:
        raise NotImplementedError

    async def prepare(self) -> None:
        """Before each round, e.g. put back jobs a stopped process left running."""

    def poke(self) -> None:
        self._wake.set()

    async def run_next(self) -> bool:
        """Claim and run the oldest queued job; False when there is none."""
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
        await self.run(actor, job_id)
        return True

    async def drain(self) -> int:
        """Run queued jobs until none is left; how many ran."""
        count = 0
        while await self.run_next():
            count += 1
        return count

    async def _loop(self) -> None:
        while True:
            try:
                await self.prepare()
                await self.drain()
            except Exception:  # a broken job must not stop the worker
                log.exception("%s worker", self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
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
