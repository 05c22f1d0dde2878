"""The worker that runs queued imports (dry runs and commits), one at a time per server
process. See ``registry.jobs``."""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry.accounts.actor import Actor
from registry.config import Settings
from registry.imports.service import delete_expired_files, requeue_interrupted, run_import
from registry.jobs import QueueWorker
from registry.models import ImportJob

SWEEP_SECONDS = 3600.0


class ImportWorker(QueueWorker):
    model = ImportJob
    name = "imports"

    def __init__(self, session_maker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        super().__init__(session_maker, settings.job_heartbeat_seconds)
        self.settings = settings
        self._swept_at = 0.0

    async def sweep(self) -> int:
        """Uploaded files past their retention are deleted (at most once an hour)."""
        if time.monotonic() - self._swept_at < SWEEP_SECONDS and self._swept_at:
            return 0
        self._swept_at = time.monotonic()
        return await delete_expired_files(self.session_maker, self.settings)

    async def prepare(self) -> None:
        # Requeue what an outage cut off first (the base class), then sweep old uploads.
        await super().prepare()
        await self.sweep()

    async def requeue(self, stale: dt.timedelta) -> int:
        return await requeue_interrupted(self.session_maker, stale)

    async def run(self, actor: Actor, job_id: int) -> None:
        await run_import(self.session_maker, actor, self.settings, job_id)
