"""``create_app(settings)`` builds the Litestar application; nothing is built at import time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, Request
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from registry import clock
from registry.accounts.actor import Actor
from registry.accounts.auth import RequestIdMiddleware, provide_actor
from registry.accounts.controllers import AccountController, LoginPages
from registry.audit.controllers import AuditController
from registry.awards.controllers import AwardController
from registry.ce_audit.controllers import CeAuditController, CeAuditPages
from registry.certificates import pool as render_pool
from registry.certificates.controllers import CertificateController, VerificationController, provide_certificates
from registry.certificates.jobs import BatchWorker
from registry.certificates.service import CertContext
from registry.certifications.controllers import CertificationController
from registry.config import REPO_ROOT, Settings
from registry.db import (
    CACHED_PLANS,
    READ_ONLY,
    FixedReads,
    create_driver_pools,
    create_engine,
    create_session_maker,
)
from registry.education.controllers import EducationController
from registry.imports.controllers import ImportController
from registry.imports.jobs import ImportWorker
from registry.organizations.controllers import OrganizationController
from registry.payroll.controllers import PayrollController
from registry.practitioners.bank import BankAccountController
from registry.practitioners.controllers import EmploymentController, PractitionerController
from registry.regions.controllers import RegionController
from registry.register.controllers import RegisterController
from registry.register.throttle import SlidingWindow
from registry.reminders.controllers import ReminderController, ReminderPages
from registry.reminders.jobs import ReminderWorker
from registry.reports.jobs import SummaryWorker
from registry.rules.controllers import PolicyController
from registry.rules.plain import plain
from registry.salaries.controllers import SalaryController
from registry.schemas import LABELS
from registry.selfservice.controllers import MeController, MePages
from registry.web.ce_pages import CePages
from registry.web.errors import EXCEPTION_HANDLERS
from registry.web.guard import InputGuardMiddleware
from registry.web.import_pages import ImportPages
from registry.web.inbox_pages import InboxPages
from registry.web.metrics import Metrics, MetricsController, MetricsMiddleware
from registry.web.pages import Pages
from registry.web.payroll_exports import PayrollExportPages
from registry.web.security import add_security_headers
from registry.web.system import SystemController
from registry.web.work_pages import BatchPages, WorkPages

TEMPLATES = REPO_ROOT / "templates"
# The pages' scripts (and vendored libraries): the only place a page may load script from.
STATIC = REPO_ROOT / "static"


async def stop_render_pool() -> None:
    """The certificate renderers' processes end with the server. Not left to ``atexit``: uvicorn
    ends a process stopped by a signal with that same signal once it has shut down (which skips
    ``atexit``), and its worker processes leave through ``os._exit``; either way the renderers
    would stay behind, each holding WeasyPrint's memory."""
    await asyncio.to_thread(render_pool.shutdown)


async def _provide_session(state: State, request: Request[Any, Any, Any]) -> AsyncIterator[AsyncSession]:
    """One transaction per request: commit when the handler succeeded, roll back on any error.

    Litestar runs the code after ``yield`` once the response object exists but before it is
    sent, and throws handler exceptions into this generator, so a failing commit still turns
    into an error response instead of a silent 2xx. (It must be this generator itself: an
    inner generator iterated with ``async for`` would not receive the exception, and would be
    rolled back only later, by the garbage collector.)
    """
    opt = request.route_handler.opt
    maker = state.session_maker
    if opt.get(READ_ONLY) and state.read_session_maker is not None:
        maker = state.cached_session_maker if opt.get(CACHED_PLANS) else state.read_session_maker
    session = maker()
    try:
        yield session
        if _used(session):
            await session.commit()
    except BaseException:
        if _used(session):
            await session.rollback()
        raise
    finally:
        if _used(session):
            await session.close()


def _used(session: AsyncSession) -> bool:
    """Whether the request touched its session: a transaction begun, an object loaded or added.
    One that never did (a cached token and a fixed read, say) has nothing to commit, roll back
    or close, and doing so anyway costs a greenlet switch each."""
    return session.in_transaction() or bool(session.sync_session.identity_map) or bool(session.new)


def _provide_fixed_reads(
    state: State, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> FixedReads:
    return FixedReads(state.driver_pools, db_session, actor)


def app_state(
    settings: Settings,
    session_maker: async_sessionmaker[AsyncSession],
    *,
    engine: AsyncEngine | None = None,
    read_session_maker: async_sessionmaker[AsyncSession] | None = None,
    cached_session_maker: async_sessionmaker[AsyncSession] | None = None,
) -> dict[str, Any]:
    """The app's state: its settings, sessions, workers, metrics and limits. The tests give each
    test a state of its own on one app built once (building the routes takes a second or more)."""
    certificates = CertContext(settings)
    # Runs queued certificate batches; started with the server (not by tests, which drain it).
    worker = BatchWorker(session_maker, certificates)
    # Runs queued imports (dry runs and commits), likewise.
    importer = ImportWorker(session_maker, settings)
    # Computes each day's reminders (and emails them), likewise.
    reminders = ReminderWorker(session_maker, settings)
    # Keeps the dashboard's summary per region (the day's full refresh, and after each write).
    summaries = SummaryWorker(session_maker, settings.job_heartbeat_seconds)
    metrics = Metrics(engine)
    for job_worker in (worker, importer, reminders, summaries):
        job_worker.observer = metrics.observe_job
    return {
        "metrics": metrics,
        "settings": settings,
        "session_maker": session_maker,
        "read_session_maker": read_session_maker,
        "cached_session_maker": cached_session_maker,
        "certificates": certificates,
        "batch_worker": worker,
        "import_worker": importer,
        "reminder_worker": reminders,
        "summary_worker": summaries,
        "register_window": SlidingWindow(settings.register_lookups_per_minute, 60),
        # The asyncpg pools of the fixed reads (registry/db.py, FixedReads): opened with the server.
        "driver_pools": None,
    }


def create_app(
    settings: Settings,
    *,
    database_url: str | None = None,
    session_maker: async_sessionmaker[AsyncSession] | None = None,
) -> Litestar:
    """Build the app. Pass ``database_url`` (an embedded server's, say) or a ``session_maker``
    (tests bind one to a connection that is rolled back afterwards)."""
    url = database_url or settings.database_url
    engine: AsyncEngine | None = None
    cached_engine: AsyncEngine | None = None
    read_session_maker: async_sessionmaker[AsyncSession] | None = None
    cached_session_maker: async_sessionmaker[AsyncSession] | None = None
    if session_maker is None:
        if url is None:
            raise ValueError("create_app needs a database URL or a session maker")
        engine = create_engine(url, pool_size=settings.db_pool_size)
        session_maker = create_session_maker(engine)
        read_session_maker = create_session_maker(engine.execution_options(isolation_level="AUTOCOMMIT"))
        # As many as the other engine: a pool smaller than the concurrent requests opens and closes
        # connections under load (measured: a connection made per request past the pool).
        cached_engine = create_engine(url, pool_size=settings.db_pool_size, cached_plans=True)
        cached_session_maker = create_session_maker(cached_engine.execution_options(isolation_level="AUTOCOMMIT"))

    async def open_driver_pool(app: Litestar) -> None:
        if url is not None and engine is not None:
            app.state.driver_pools = await create_driver_pools(url, settings.db_pool_size)

    async def dispose_engine(app: Litestar | None = None) -> None:
        if app is not None and app.state.driver_pools is not None:
            await app.state.driver_pools.close()
        for each in (engine, cached_engine):
            if each is not None:
                await each.dispose()

    def configure_jinja(engine_: JinjaTemplateEngine) -> None:
        engine_.engine.globals["LABELS"] = LABELS
        engine_.engine.globals["CHINA"] = clock.CHINA
        engine_.engine.filters["plain"] = plain

    state = app_state(
        settings,
        session_maker,
        engine=engine,
        read_session_maker=read_session_maker,
        cached_session_maker=cached_session_maker,
    )
    worker, importer = state["batch_worker"], state["import_worker"]
    reminders, summaries = state["reminder_worker"], state["summary_worker"]
    return Litestar(
        route_handlers=[
            SystemController,
            MetricsController,
            RegionController,
            OrganizationController,
            PractitionerController,
            BankAccountController,
            EmploymentController,
            CertificationController,
            AccountController,
            MeController,
            AuditController,
            PolicyController,
            EducationController,
            SalaryController,
            AwardController,
            PayrollController,
            CertificateController,
            VerificationController,
            ImportController,
            RegisterController,
            ReminderController,
            ReminderPages,
            CeAuditController,
            CeAuditPages,
            LoginPages,
            MePages,
            Pages,
            WorkPages,
            CePages,
            InboxPages,
            PayrollExportPages,
            BatchPages,
            ImportPages,
            create_static_files_router(
                path="/static", directories=[STATIC], include_in_schema=False, opt={"public": True}
            ),
        ],
        dependencies={
            "db_session": Provide(_provide_session),
            "actor": Provide(provide_actor),
            "certificates": Provide(provide_certificates, sync_to_thread=False),
            "fixed_reads": Provide(_provide_fixed_reads, sync_to_thread=False),
        },
        middleware=[MetricsMiddleware(), RequestIdMiddleware(), InputGuardMiddleware()],
        before_send=[add_security_headers],
        exception_handlers=EXCEPTION_HANDLERS,
        template_config=TemplateConfig(
            directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=configure_jinja
        ),
        openapi_config=OpenAPIConfig(
            title="社会工作人才库 API",
            version="0.1.0",
            path="/schema",
            description="Social-work talent registry",
        ),
        state=State(state),
        on_startup=[open_driver_pool, worker.start, importer.start, reminders.start, summaries.start],
        on_shutdown=[worker.stop, importer.stop, reminders.stop, summaries.stop, stop_render_pool, dispose_engine],
        debug=settings.debug,
    )
