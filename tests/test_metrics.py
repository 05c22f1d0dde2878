"""``GET /metrics``: real requests and a real job, then a scrape parsed as Prometheus text; who
may read it (the local network, or a bearer token once one is configured)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry.app import create_app
from registry.config import Settings
from registry.models import ReminderRun
from tests.scene import build_scene


def samples(text: str) -> dict[str, list[Sample]]:
    """Every sample of the scrape by its family's name (the parser rejects malformed text)."""
    return {family.name: list(family.samples) for family in text_string_to_metric_families(text)}


async def test_requests_are_timed_per_route_template_and_jobs_and_queue_are_counted(
    anonymous: httpx.AsyncClient, session: AsyncSession
) -> None:
    scene = await build_scene(session)
    for _ in range(3):
        r = await anonymous.get(f"/api/practitioners/{scene.a.p}", headers=scene.headers("clerk"))
        assert r.status_code == 200
    r = await anonymous.get(f"/api/practitioners/{scene.b.p}", headers=scene.headers("clerk"))
    assert r.status_code == 404  # out of scope
    session.add(ReminderRun(day=dt.date(2031, 5, 4)))
    await session.flush()

    scrape = await anonymous.get("/metrics")
    assert scrape.status_code == 200, scrape.text
    assert scrape.headers["content-type"].startswith("text/plain")
    got = samples(scrape.text)

    counts = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in got["registry_http_request_duration_seconds"]
        if s.name.endswith("_count")
    }
    route = "/api/practitioners/{practitioner_id}"
    assert counts[("GET", route, "200")] == 3
    assert counts[("GET", route, "404")] == 1
    # The template, never the raw path: no label carries a record's id.
    assert not [r for _, r, _ in counts if re.search(r"/\d+(/|$)", r)]
    buckets = [
        s
        for s in got["registry_http_request_duration_seconds"]
        if s.name.endswith("_bucket") and s.labels["route"] == route and s.labels["status"] == "200"
    ]
    assert buckets[-1].labels["le"] == "+Inf" and buckets[-1].value == 3

    depth = {s.labels["kind"]: s.value for s in got["registry_job_queue_depth"]}
    assert set(depth) == {"certificate-batches", "imports", "reminders", "summary"}
    assert depth["reminders"] >= 1

    # The queued day's reminders, run by the app's own worker: its duration is recorded.
    worker = anonymous._transport.app.state.reminder_worker  # type: ignore[attr-defined]
    assert await worker.drain() >= 1
    after = samples((await anonymous.get("/metrics")).text)
    jobs = {
        (s.labels["kind"], s.labels["outcome"]): s.value
        for s in after["registry_job_duration_seconds"]
        if s.name.endswith("_count")
    }
    assert jobs[("reminders", "done")] >= 1
    assert {s.labels["kind"]: s.value for s in after["registry_job_queue_depth"]}["reminders"] == depth["reminders"] - 1
    # The first scrape is itself a timed request.
    scrapes = [
        s
        for s in after["registry_http_request_duration_seconds"]
        if s.name.endswith("_count") and s.labels["route"] == "/metrics"
    ]
    assert [s.value for s in scrapes] == [1]


async def test_pool_usage_of_an_app_with_its_own_engine(service_url: str) -> None:
    app = create_app(Settings(), database_url=service_url)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        assert (await c.get("/health")).status_code == 200
        idle = samples((await c.get("/metrics")).text)
        async with app.state.session_maker() as held:
            await held.execute(text("SELECT 1"))
            busy = samples((await c.get("/metrics")).text)

    def pool(got: dict[str, list[Sample]]) -> dict[str, float]:
        return {s.labels["state"]: s.value for s in got["registry_db_pool_connections"]}

    assert pool(idle)["size"] == Settings().db_pool_size
    assert pool(idle)["checked_out"] == 0 and pool(idle)["idle"] >= 1  # /health's went back
    assert pool(busy)["checked_out"] == 1  # the one held across the scrape
    await app.state.session_maker.kw["bind"].dispose()


@pytest.fixture
def remote_app(session_maker: async_sessionmaker[AsyncSession]) -> object:
    return create_app(Settings(), session_maker=session_maker)


@pytest.fixture
async def remote(remote_app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=remote_app, client=("203.0.113.9", 40000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_refused_from_outside_the_local_network(remote: httpx.AsyncClient) -> None:
    r = await remote.get("/metrics")
    assert r.status_code == 403
    body = r.json()
    assert body["code"] == "metrics_forbidden" and body["status"] == 403
    assert "registry_http" not in r.text


@pytest.mark.parametrize("client_host", ["127.0.0.1", "203.0.113.9"])
async def test_a_configured_token_is_required_from_anywhere(
    session_maker: async_sessionmaker[AsyncSession], client_host: str
) -> None:
    app = create_app(Settings(metrics_token="s3cret-metrics"), session_maker=session_maker)
    transport = httpx.ASGITransport(app=app, client=(client_host, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-metrics"}):
            r = await c.get("/metrics", headers=headers)
            assert (r.status_code, r.json()["code"]) == (403, "metrics_forbidden"), headers
        r = await c.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
        assert r.status_code == 200
        assert "registry_job_queue_depth" in samples(r.text)


def test_local_networks() -> None:
    from registry.web.metrics import is_local

    for host in ("127.0.0.1", "10.1.2.3", "172.20.0.5", "192.168.1.9", "::1", "fd00::5", "::ffff:192.168.0.2"):
        assert is_local(host), host
    for host in ("203.0.113.9", "8.8.8.8", "172.32.0.1", "2001:db8::1", "::ffff:8.8.8.8", "testclient", "", None):
        assert not is_local(host), host
