"""The worker that runs queued imports (dry runs and commits), one at a time per server
process. See ``registry.jobs``."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry.accounts.actor import Actor
from registry.config import Settings
from registry.imports.service import run_import
from registry.jobs import QueueWorker
from registry.models import ImportJob


class ImportWorker(QueueWorker):
    model = ImportJob
    name = "imports"

    def __init__(self, session_maker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        super().__init__(session_maker)
        self.settings = settings

    async def run(self, actor: Actor, job_id: int) -> None:
        await run_import(self.session_maker, actor, self.settings, job_id)
