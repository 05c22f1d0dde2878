"""The worker that runs queued certificate batches, one at a time per server process
(rendering inside a job already uses every core). See ``registry.jobs``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry.accounts.actor import Actor
from registry.certificates.batch import requeue_interrupted, run_batch
from registry.certificates.service import CertContext
from registry.jobs import QueueWorker
from registry.models import CertificateBatch


class BatchWorker(QueueWorker):
    model = CertificateBatch
    name = "certificate-batches"

    def __init__(self, session_maker: async_sessionmaker[AsyncSession], ctx: CertContext) -> None:
        super().__init__(session_maker, ctx.settings.job_heartbeat_seconds)
        self.ctx = ctx

    async def requeue(self, stale: dt.timedelta) -> int:
        return await requeue_interrupted(self.session_maker, stale)

    async def run(self, actor: Actor, job_id: int) -> None:
        await run_batch(self.session_maker, actor, self.ctx, job_id)
