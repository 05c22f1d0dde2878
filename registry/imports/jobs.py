"""The worker that runs queued imports (dry runs and commits), one at a time per server
process. See ``registry.jobs``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry.accounts.actor import Actor
from registry.config import Settings
from registry.imports.service import requeue_interrupted, run_import
from registry.jobs import QueueWorker
from registry.models import ImportJob


class ImportWorker(QueueWorker):
    model = ImportJob
    name = "imports"

    def __init__(self, session_maker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        super().__init__(session_maker, settings.job_heartbeat_seconds)
        self.settings = settings

    async def requeue(self, stale: dt.timedelta) -> int:
        return await requeue_interrupted(self.session_maker, stale)

    async def run(self, actor: Actor, job_id: int) -> None:
        await run_import(self.session_maker, actor, self.settings, job_id)
