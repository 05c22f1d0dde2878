"""The database going away while the service runs (issue 15, acceptance 3), on a PostgreSQL
server started for this test alone: requests answer 503 problem+json in Chinese with
Retry-After (a page, a Chinese error page) and succeed again once the server is back, with no
restart of the service; an import commit and a certificate batch cut off by the outage are
queued again on the workers' heartbeat and finish, once."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import ValidationError

from registry import clock
from registry.config import Settings
from registry.db import EmbeddedPostgres, create_engine, create_session_maker
from tests.accounts import bearer, make_token, make_user
from tests.test_imports import JIANGAN, id_number, xlsx

HEARTBEAT = 1.0  # seconds; a job silent for three is queued again
STALE = 3 * HEARTBEAT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Service:
    db: EmbeddedPostgres
    base: str
    headers: dict[str, str]
    log: Path

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.base + path, headers=self.headers, timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.base + path, headers=self.headers, timeout=30, **kwargs)


async def _clerk(url: str) -> str:
    engine = create_engine(url, pool_size=1)
    try:
        async with create_session_maker(engine)() as session:
            user = await make_user(session, "outage-clerk", {"role": "civil_affairs", "region_code": "420000"})
            token = await make_token(session, user)
            await session.commit()
            return token
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    from registry.cli import migrate, seed_demo

    folder = tmp_path_factory.mktemp("outage")
    # A buffer cache of its own size: the setting reaches the server (checked below).
    db = EmbeddedPostgres.from_settings(
        Settings(data_dir=folder / "data", embedded_pg_port=_free_port(), embedded_pg_shared_buffers="48MB")
    )
    db.start()
    try:
        db.ensure_database()
        migrate(db.url())
        seed_demo(db.service_url(), 200, 20261122, only_if_empty=False)
        token = asyncio.run(_clerk(db.service_url()))
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        script = (
            "import logging, uvicorn\n"
            "from registry.app import create_app\n"
            "from registry.config import Settings\n"
            "logging.basicConfig(level=logging.WARNING)\n"
            f"settings = Settings(port={port}, public_url={base!r}, data_dir={str(folder / 'data')!r},"
            f" job_heartbeat_seconds={HEARTBEAT}, render_workers=1)\n"
            f"uvicorn.run(create_app(settings, database_url={db.service_url()!r}), host='127.0.0.1', port={port},"
            " log_level='warning')\n"
        )
        log = folder / "server.log"
        with log.open("w") as out:
            process = subprocess.Popen([sys.executable, "-c", script], stdout=out, stderr=subprocess.STDOUT)
        try:
            for _ in range(200):
                try:
                    if httpx.get(base + "/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            else:
                raise RuntimeError(log.read_text())
            yield Service(db=db, base=base, headers=bearer(token), log=log)
        finally:
            process.terminate()
            process.wait(timeout=30)
    finally:
        db.stop()
        if db.pgdata != folder / "data" / "pg":
            shutil.rmtree(db.pgdata.parent, ignore_errors=True)


def _restart(db: EmbeddedPostgres, down_for: float) -> float:
    """Stop the server, start it again; when it was back (wall clock, as in the service's log)."""
    db.stop()
    time.sleep(down_for)
    db.start()
    return time.time()


def _requeued_at(log: str, worker: str) -> float:
    """When the log says the worker queued the job again (its lines carry the local time)."""
    lines = [line for line in log.splitlines() if f"{worker}: 1 interrupted job(s) queued again" in line]
    assert lines, log[-3000:]
    stamp = re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", lines[0])
    assert stamp, lines[0]
    return dt.datetime.strptime(stamp.group(), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def test_the_embedded_server_sizes_its_buffer_cache_from_the_settings(service: Service) -> None:
    async def shown() -> str:
        conn = await asyncpg.connect(service.db.url().replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return str(await conn.fetchval("SHOW shared_buffers"))
        finally:
            await conn.close()

    assert asyncio.run(shown()) == "48MB"
    for wrong in ("8 GB", "lots", "0MB", "1TB", "256MB -c fsync=off"):
        with pytest.raises(ValidationError):
            Settings(embedded_pg_shared_buffers=wrong)


def test_an_outage_answers_503_and_the_service_recovers_without_restart(service: Service) -> None:
    assert service.get("/api/practitioners", params={"limit": 5}).status_code == 200
    answers: list[httpx.Response] = []
    stop = threading.Event()

    def keep_asking() -> None:
        while not stop.is_set():
            answers.append(service.get("/api/practitioners", params={"limit": 5}))
            answers.append(service.get("/practitioners"))
            time.sleep(0.05)

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        time.sleep(0.5)
        service.db.stop()
        down = len(answers)
        time.sleep(2)
        api = service.get("/api/practitioners", params={"limit": 5})
        page = service.get("/practitioners")
        service.db.start()
        back = time.monotonic()
        while time.monotonic() - back < 30:
            if service.get("/api/practitioners", params={"limit": 5}).status_code == 200:
                break
            time.sleep(0.1)
        recovered = time.monotonic() - back
        time.sleep(0.5)
    finally:
        stop.set()
        asker.join()
    assert api.status_code == 503
    assert api.headers["content-type"].startswith("application/problem+json")
    assert api.headers["retry-after"] == "5"
    body = api.json()
    assert body["code"] == "database_unavailable" and body["status"] == 503
    assert "数据库暂时无法连接" in body["detail"] and "没有保存任何内容" in body["detail"]
    assert page.status_code == 503 and page.headers["retry-after"] == "5"
    assert page.headers["content-type"].startswith("text/html") and "服务暂时不可用" in page.text
    statuses = [a.status_code for a in answers]
    assert 500 not in statuses, [a.text for a in answers if a.status_code == 500][:2]
    assert set(statuses) <= {200, 404, 503}
    assert 503 in statuses[down:]
    assert statuses[-1] in (200, 404), statuses[-10:]
    assert recovered < 10, recovered


def _wait(service: Service, path: str, done: Any, limit: float = 300) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        response = service.get(path)
        if response.status_code == 200 and done(response.json()):
            return response.json(), time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"{path}: {service.get(path).text[:500]}")


def test_an_interrupted_import_and_batch_finish_once(service: Service) -> None:
    names = [a + b + c for a in "王李张刘陈杨" for b in "小大建国" for c in "明华军芳伟丽静强"]
    numbers = [id_number(JIANGAN, f"19{year}0101") for year in range(70, 72) for _ in range(len(names) // 2)]
    rows = [[name, number, "本科", None, JIANGAN] for name, number in zip(names, numbers, strict=False)]
    upload = service.post("/api/imports", files={"file": ("停电.xlsx", xlsx({"人员": rows}))})
    assert upload.status_code == 202, upload.text
    job_id = upload.json()["id"]
    checked, _ = _wait(service, f"/api/imports/{job_id}", lambda j: j["status"] in ("done", "failed"))
    assert checked["status"] == "done" and checked["problem_count"] == 0, checked
    today = clock.today().isoformat()
    batch = service.post(
        "/api/certificate-batches", json={"region_code": "420000", "kind": "registration", "period": today}
    )
    assert batch.status_code == 202, batch.text
    batch_id = batch.json()["id"]
    assert service.post(f"/api/imports/{job_id}/commit").status_code == 202
    # Both running: then the database goes away under them.
    _wait(service, f"/api/imports/{job_id}", lambda j: j["status"] == "running" and j["phase"] == "commit")
    _wait(service, f"/api/certificate-batches/{batch_id}", lambda b: b["status"] == "running")
    back = _restart(service.db, 2)
    committed, import_took = _wait(service, f"/api/imports/{job_id}", lambda j: j["status"] in ("done", "failed"))
    done, batch_took = _wait(
        service, f"/api/certificate-batches/{batch_id}", lambda b: b["status"] in ("done", "failed")
    )
    assert committed["status"] == "done" and committed["committed_at"], committed
    assert done["status"] == "done", done
    # Queued again at the first round after they went stale: within one heartbeat period of
    # STALE seconds without a beat (the last beat was before the outage, so at most that after
    # the server was back), with no restart of the service.
    log = service.log.read_text()
    for worker in ("imports", "certificate-batches"):
        delay = _requeued_at(log, worker) - back
        print(f"{worker}: queued again {delay:.1f} s after the database was back")
        assert delay <= STALE + HEARTBEAT + 1.0, delay
    print(f"after the restart: import done in {import_took:.1f} s, batch in {batch_took:.1f} s")
    # Once: every imported person exists once, with one audit row for their creation; the
    # batch's certificates are one per person.
    found = service.get("/api/practitioners", params={"region": JIANGAN, "limit": 1})
    assert found.status_code == 200

    async def count() -> tuple[int, int, int, int]:
        import asyncpg

        conn = await asyncpg.connect(service.db.url().replace("postgresql+asyncpg://", "postgresql://"))
        try:
            people = await conn.fetchval(
                "SELECT count(*) FROM practitioner WHERE id_number = ANY($1::text[])", [r[1] for r in rows]
            )
            distinct = await conn.fetchval(
                "SELECT count(DISTINCT id_number) FROM practitioner WHERE id_number = ANY($1::text[])",
                [r[1] for r in rows],
            )
            creations = await conn.fetchval(
                "SELECT count(*) FROM audit_event a JOIN practitioner p ON p.id::text = a.entity_id"
                " WHERE a.entity_type = 'practitioner' AND a.action = 'create' AND p.id_number = ANY($1::text[])",
                [r[1] for r in rows],
            )
            duplicates = await conn.fetchval(
                "SELECT count(*) FROM (SELECT practitioner_id FROM issued_certificate WHERE kind = 'registration'"
                " AND period = $1 AND supersedes_id IS NULL GROUP BY practitioner_id HAVING count(*) > 1) d",
                today,
            )
            return people, distinct, creations, duplicates
        finally:
            await conn.close()

    people, distinct, creations, duplicates = asyncio.run(count())
    assert people == distinct == len({r[1] for r in rows}) == creations
    assert duplicates == 0
    assert done["issued"] + done["reused"] > 0
