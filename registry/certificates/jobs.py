"""The worker that runs queued certificate batches, one at a time per server process.

Jobs live in the ``certificate_batch`` table: a request queues one and pokes the worker; the
worker claims the oldest queued job with ``FOR UPDATE SKIP LOCKED`` (so several server processes
share the queue without running a job twice) and runs it as the user who asked for it, with
that user's grants as they are when it starts. Rendering inside a job already uses every core.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry import clock
from registry.accounts.actor import Actor
from registry.accounts.service import actor_for_user
from registry.certificates.batch import requeue_interrupted, run_batch
from registry.certificates.service import CertContext
from registry.models import CertificateBatch, User

log = logging.getLogger("registry")
POLL_SECONDS = 5.0


class BatchWorker:
    def __init__(self, session_maker: async_sessionmaker[AsyncSession], ctx: CertContext) -> None:
        self.session_maker = session_maker
        self.ctx = ctx
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def poke(self) -> None:
        self._wake.set()

    async def run_next(self) -> bool:
        """Claim and run the oldest queued job; False when there is none."""
        async with self.session_maker() as session:
            job = (
                await session.scalars(
                    select(CertificateBatch)
                    .where(CertificateBatch.status == "queued")
                    .order_by(CertificateBatch.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).one_or_none()
            if job is None:
                return False
            job_id, user_id = job.id, job.created_by_id
            user = await session.get(User, user_id) if user_id is not None else None
            if user is not None and not user.active:
                # The account was closed after it queued the job: nobody runs it on its behalf.
                job.status, job.error = "failed", "创建任务的账户已停用，任务未执行。"
                job.finished_at = clock.now()
                await session.commit()
                return True
            job.status = "running"
            job.heartbeat_at = clock.now()
            actor = (
                await actor_for_user(session, user.id, request_id=f"batch-{job_id}", client_ip=None)
                if user is not None
                else Actor.system("batch")
            )
            await session.commit()
        await run_batch(self.session_maker, actor, self.ctx, job_id)
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
                await requeue_interrupted(self.session_maker)
                await self.drain()
            except Exception:  # a broken job must not stop the worker
                log.exception("certificate batch worker")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="certificate-batches")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
