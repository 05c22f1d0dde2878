"""``GET /metrics``: the service's figures in the Prometheus text format (prometheus-client).

- ``registry_http_request_duration_seconds{method, route, status}``: a histogram per route
  template (``/api/practitioners/{practitioner_id:int}``, never the raw path, so that the number
  of series stays bounded);
- ``registry_job_duration_seconds{kind, outcome}``: background jobs (certificate batches, imports,
  reminders, the dashboard's summaries) as their worker ran them;
- ``registry_job_queue_depth{kind}``: jobs waiting in the database's queue, counted at the scrape
  (the queue is shared by every server process, so every process reports the same figure);
- ``registry_db_pool_connections{state}``: the SQLAlchemy pool of the scraped process (size,
  checked out, idle, overflow).

Histograms are per server process (see docs/operations.md for several uvicorn workers). Who may
read it: without ``REGISTRY_METRICS_TOKEN``, clients on the loopback or a private network only;
with it, only a request that carries ``Authorization: Bearer <token>`` (from anywhere).
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Iterator
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from registry.accounts.actor import Forbidden

# Request latency: from 2.5 ms (a cached read) to 30 s (a province-wide payroll compute).
REQUEST_BUCKETS = (0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)


class _Pool(Collector):
    def __init__(self, engine: AsyncEngine | None) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.engine is None:  # an app on a caller's session maker (tests) has no pool of its own
            return
        pool: Any = self.engine.pool
        family = GaugeMetricFamily(
            "registry_db_pool_connections", "Database connections of this process's pool.", labels=["state"]
        )
        family.add_metric(["size"], pool.size())
        family.add_metric(["checked_out"], pool.checkedout())
        family.add_metric(["idle"], pool.checkedin())
        family.add_metric(["overflow"], max(0, pool.overflow()))
        yield family


class _Queue(Collector):
    def __init__(self) -> None:
        self.depths: dict[str, int] = {}

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("registry_job_queue_depth", "Jobs queued in the database.", labels=["kind"])
        for kind, depth in sorted(self.depths.items()):
            family.add_metric([kind], depth)
        yield family


class Metrics:
    """One per app: its own collector registry (several apps may live in one process)."""

    def __init__(self, engine: AsyncEngine | None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Histogram(
            "registry_http_request_duration_seconds",
            "Time from a request's arrival to its response's last byte, per route template.",
            ["method", "route", "status"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.jobs = Histogram(
            "registry_job_duration_seconds",
            "Background jobs as their worker ran them.",
            ["kind", "outcome"],
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_Pool(engine))
        self.queue = _Queue()
        self.registry.register(self.queue)

    def observe_job(self, kind: str, outcome: str, seconds: float) -> None:
        self.jobs.labels(kind, outcome).observe(seconds)


class MetricsMiddleware(ASGIMiddleware):
    """Times every routed request. Litestar runs app middleware after routing, so the scope
    already names the route template."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        metrics: Metrics | None = scope["app"].state.get("metrics")
        if metrics is None:
            await next_app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await next_app(scope, receive, send_and_note)
        finally:
            route = str(scope.get("path_template") or "unmatched")
            metrics.requests.labels(str(scope.get("method", "")), route, str(status)).observe(
                time.perf_counter() - start
            )


# The loopback, RFC 1918, link-local and IPv6 unique-local networks (``is_private`` would also
# admit documentation and other reserved ranges).
LOCAL_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "::1/128",
        "fc00::/7",
        "fe80::/10",
    )
)


def is_local(host: str | None) -> bool:
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in LOCAL_NETWORKS)


def may_read(request: Request[Any, Any, Any], token: str | None) -> bool:
    if token:
        scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    return is_local(request.client.host if request.client else None)


class MetricsController(Controller):
    include_in_schema = False

    @get("/metrics")
    async def metrics(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        state = request.app.state
        if not may_read(request, state.settings.metrics_token):
            raise Forbidden("无权读取运行指标。", code="metrics_forbidden")
        metrics: Metrics = state.metrics
        depths: dict[str, int] = {}
        async with state.session_maker() as session:
            for worker in (state.batch_worker, state.import_worker, state.reminder_worker, state.summary_worker):
                model = worker.model
                depths[worker.name] = int(
                    await session.scalar(select(func.count()).select_from(model).where(model.status == "queued")) or 0
                )
        metrics.queue.depths = depths  # read by the collector during generate_latest (no await between)
        body = generate_latest(metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
