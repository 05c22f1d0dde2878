"""Every main job of the registry beside the bare limit of the machine, measured in one run.

    REGISTRY_DATABASE_URL=postgresql+asyncpg://…/registry_national \\
        .venv/bin/python scripts/bench.py [--clients 8] [--seconds 20] [--out docs/performance.md]

Runs against a generated dataset (``registry dataset generate --practitioners 2000000``). It
starts the service as a real HTTP server (uvicorn, one process, access log off) in a child
process, and beside it a bare Litestar + asyncpg application with one primary-key endpoint,
started the same way. Then, with the figures of each row measured one after the other in the
same run:

- registry search through ``GET /api/practitioners`` as a province's civil-affairs clerk,
  ``--clients`` concurrent keep-alive clients, against the bare server sending the very
  statements the search sends (captured in process) on its asyncpg pool;
- the practitioner API ``GET /api/practitioners/{id}`` against the bare primary-key endpoint;
- those two rows with the load from wrk (a C program, ``apt-get install wrk``; the query mix,
  the token and the latency percentiles in ``scripts/bench_wrk.lua``), so that the load
  generator takes little of the CPU the servers share, and for each of ``--http-workers``
  (1 and 2 uvicorn workers, both servers started afresh for each);
- the province clerk's dashboard page ``GET /dashboard?region=420000``, one request at a time,
  against a bare count of the province's practitioners;
- a province-wide payroll run (Hubei, the province with an allowance rule): compute through the
  API against a bare ``COPY`` of the candidate rows, the CSV and XLSX exports against a bare
  ``COPY`` of the export's columns, and a 1,000,000-line CSV export (the province's lines
  repeated in a draft run of the bench's own) with the service's peak memory;
- certificate downloads (``GET /api/certificates/{serial}/pdf``) against bare WeasyPrint on the
  same HTML in this process;
- a spreadsheet import (upload, dry run, commit) against a bare ``COPY`` of the same rows, with
  the service's peak memory. The imported people are deleted afterwards.

The table is printed and written between markers into ``--out``. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import pickle
import platform
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import asyncpg  # noqa: E402
import httpx  # noqa: E402

PROVINCE = "420000"  # Hubei: the province whose allowance rule the catalogue carries
QUERIES = ["王明", "李娜", "张伟", "zs", "欣怡", "王", "刘洋", "wxm", "陈静", "杨帆"]
BEGIN, END = "<!-- bench.py: begin -->", "<!-- bench.py: end -->"
# As the service's own connections (registry/db.py): the engines' (custom plans) for the
# benchmark's own set-up and look-ups; the bare server reads a record as the service's record
# pool does (PostgreSQL keeps each statement's plan) and replays the search on connections set as
# the service's search pool (one generic plan a statement, no sequential scan).
SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan"}
BARE_RECORD_SETTINGS = {"plan_cache_mode": "auto"}
DEFAULT_OUT = ROOT / "docs" / "performance.md"


@contextlib.asynccontextmanager
async def connected(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A bare connection with the service's settings, closed on the way out."""
    conn = await asyncpg.connect(dsn, server_settings=SERVER_SETTINGS)
    try:
        yield conn
    finally:
        await conn.close()


async def quiet_server(dsn: str, limit: float = 180.0) -> None:
    """Waits (up to ``limit`` seconds) until no autovacuum worker runs on the server: a row that
    follows another's writes would otherwise share the 2 cores with their cleanup, in whichever
    database. Says how long it waited, and when it stopped waiting."""
    started = time.perf_counter()
    async with connected(dsn) as conn:
        while True:
            busy = await conn.fetch(
                "SELECT datname, query_start FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
            )
            waited = time.perf_counter() - started
            if not busy:
                if waited >= 1:
                    print(f"(waited {waited:.0f} s for the autovacuum to finish)", flush=True)
                return
            if waited >= limit:
                names = ", ".join(sorted({str(r["datname"]) for r in busy}))
                print(f"(the autovacuum still runs after {limit:.0f} s, in {names}: measuring anyway)", flush=True)
                return
            await asyncio.sleep(1)


def pct(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Row:
    job: str
    ours: str
    bare: str
    ratio: str
    target: str = ""
    met: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(f"  {row.job}: {row.ours} | bare {row.bare} | {row.ratio} {row.target} {row.met}", flush=True)


# --- the two servers ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def project_app() -> Any:
    """The service as deployed (factory for uvicorn's workers)."""
    from registry.app import create_app
    from registry.config import Settings

    app = create_app(Settings(), database_url=os.environ["REGISTRY_DATABASE_URL"])
    off = []
    if os.environ.get("BENCH_NO_JOBS"):
        # The search and record rows measure serving alone: every queue worker stays off there.
        off = ["batch_worker", "import_worker", "reminder_worker", "summary_worker"]
    elif os.environ.get("BENCH_NO_DAILY"):
        # The other rows keep the workers their jobs need (certificate batches, imports) but not
        # the two daily runs, which on the first start of a day judge every practitioner (the
        # summary's full refresh is measured as its own row).
        off = ["reminder_worker", "summary_worker"]
    for worker in off:
        app.on_startup.remove(getattr(app.state, worker).start)
    return app


def bare_app() -> Any:
    """The bare limit: Litestar and an asyncpg pool, one primary-key read, no auth, no ORM."""
    from litestar import Litestar, get

    dsn = os.environ["REGISTRY_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    state: dict[str, Any] = {}

    async def start() -> None:
        from registry.db import SEARCH_SETTINGS

        state["pool"] = await asyncpg.create_pool(dsn, min_size=2, max_size=10, server_settings=BARE_RECORD_SETTINGS)
        state["search"] = await asyncpg.create_pool(dsn, min_size=2, max_size=10, server_settings=SEARCH_SETTINGS)

    @get("/p/{pid:int}")
    async def one(pid: int) -> dict[str, Any]:
        row = await state["pool"].fetchrow(
            "SELECT id, name, id_number, sex, birth_date, region_code, phone FROM practitioner WHERE id = $1", pid
        )
        return {k: (str(v) if isinstance(v, dt.date) else v) for k, v in row.items()}

    searches: dict[str, list[tuple[str, tuple[Any, ...]]]] = {}
    if os.environ.get("BENCH_SEARCH_STATEMENTS"):
        # Written by the benchmark itself into its own temporary folder.
        searches = pickle.loads(Path(os.environ["BENCH_SEARCH_STATEMENTS"]).read_bytes())  # noqa: S301

    @get("/s/{i:int}")
    async def search(i: int) -> list[dict[str, Any]]:
        """The statements the registry's search sends for query ``i``, the last one's rows as JSON."""
        rows: list[Any] = []
        async with state["search"].acquire() as conn:
            for statement, parameters in searches[QUERIES[i % len(QUERIES)]]:
                rows = await conn.fetch(statement, *parameters)
        return [dict(r) for r in rows]

    @get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar([one, search, health], on_startup=[start])


def serve(kind: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        f"bench:{kind}_app",
        factory=True,
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def processes(self) -> list[int]:
        """The serving processes: uvicorn's workers, or the one process when it has none."""
        found = [self.pid]
        for pid in found:
            for task in Path(f"/proc/{pid}").glob("task/*/children"):
                found += [int(c) for c in task.read_text().split()]
        workers = [p for p in found[1:] if "multiprocessing" not in Path(f"/proc/{p}/cmdline").read_text()]
        return workers or [self.pid]

    def reset_peak(self) -> None:
        for pid in self.processes():
            Path(f"/proc/{pid}/clear_refs").write_text("5")

    def memory(self) -> tuple[float, float]:
        """(current RSS, peak RSS since the last reset) in MiB of the largest serving process."""
        best = (0.0, 0.0)
        for pid in self.processes():
            text = Path(f"/proc/{pid}/status").read_text()
            fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
            now, peak = int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024
            best = max(best, (now, peak), key=lambda x: x[1])
        return best

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start(kind: str, url: str, data_dir: str, workers: int, **extra_env: str) -> Server:
    port = _free_port()
    env = dict(
        os.environ,
        REGISTRY_DATABASE_URL=url,
        REGISTRY_DATA_DIR=data_dir,
        PYTHONPATH=os.pathsep.join([str(ROOT / "scripts"), str(ROOT)]),
        **extra_env,
    )
    command = [sys.executable, __file__, "--serve", kind, "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return Server(process, base)
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"the {kind} server stopped at start (exit {process.returncode})")
        time.sleep(0.3)
    process.kill()
    raise SystemExit(f"the {kind} server did not answer /health in 120 s")


# --- load ---------------------------------------------------------------------------------------


WRK_SCRIPT = ROOT / "scripts" / "bench_wrk.lua"


@dataclass
class Load:
    """What wrk measured: latency percentiles over every request, and requests per second."""

    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def line(self) -> str:
        return f"p50 {self.p50_ms:.1f} ms, p95 {self.p95_ms:.1f} ms, {self.rps:,.0f} req/s"


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit(
            "The HTTP rows need wrk, the load generator written in C (so that the load does not take"
            " the servers' CPU): apt-get install wrk (Debian/Ubuntu), or brew install wrk."
        )
    return found


def wrk(base: str, paths: Sequence[str], clients: int, seconds: float, threads: int, token: str = "") -> Load:
    """``clients`` keep-alive connections going round ``paths`` for ``seconds`` (after 2 s of
    warm-up whose figures are dropped), driven by wrk with scripts/bench_wrk.lua."""
    with tempfile.NamedTemporaryFile("w", suffix=".paths", delete=False) as f:
        f.write("\n".join(paths) + "\n")
    try:
        figures: dict[str, Any] = {}
        for duration in (2.0, seconds):
            command = [
                wrk_binary(),
                f"-t{min(threads, clients)}",
                f"-c{clients}",
                f"-d{duration:g}s",
                "--timeout",
                "30s",
                "-s",
                str(WRK_SCRIPT),
                base,
                "--",
                f.name,
                token,
            ]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            line = next((x for x in out.splitlines() if x.startswith("BENCH_WRK ")), None)
            if line is None:
                raise SystemExit(f"wrk printed no figures:\n{out}")
            figures = json.loads(line.removeprefix("BENCH_WRK "))
            if figures["http_errors"] or figures["socket_errors"]:
                raise SystemExit(f"wrk: {base}{paths[0]}…: answers other than 2xx or socket errors: {figures}")
    finally:
        os.unlink(f.name)
    return Load(
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        p50_ms=figures["p50_us"] / 1000,
        p95_ms=figures["p95_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
    )


# --- set-up in the database ---------------------------------------------------------------------


async def bench_user(url: str) -> tuple[str, int]:
    """A user with Hubei-wide civil-affairs and payroll grants and an API token."""
    from sqlalchemy import select

    from registry.accounts.actor import Actor
    from registry.accounts.schemas import GrantCreate, TokenCreate, UserCreate
    from registry.accounts.service import create_token, create_user
    from registry.db import create_engine, create_session_maker
    from registry.models import User

    engine = create_engine(url, pool_size=1)
    try:
        async with create_session_maker(engine)() as session, session.begin():
            system = Actor.system("bench")
            user = (await session.scalars(select(User).where(User.username == "bench-national"))).one_or_none()
            if user is None:
                user = await create_user(
                    session,
                    system,
                    UserCreate(
                        username="bench-national",
                        display_name="基准测试",
                        password=secrets.token_urlsafe(16) + "-A1",
                        grants=[
                            GrantCreate(role="civil_affairs", region_code=PROVINCE),
                            GrantCreate(role="payroll_clerk", region_code=PROVINCE),
                        ],
                    ),
                )
            _, token = await create_token(session, system, user.id, TokenCreate(name="bench", expires_in_days=1))
            return token, user.id
    finally:
        await engine.dispose()


async def captured_search_statements(url: str, user_id: int) -> dict[str, list[tuple[str, tuple[Any, ...]]]]:
    """The statements the search service sends for each query, with their parameters."""
    from sqlalchemy import event, select

    from registry.accounts.actor import Actor, Grant
    from registry.db import FixedReads, create_engine, create_session_maker
    from registry.models import RoleGrant
    from registry.practitioners import service as practitioners

    engine = create_engine(url, pool_size=1)
    out: dict[str, list[tuple[str, tuple[Any, ...]]]] = {}
    now: list[str] = [""]

    # Both kinds: the fixed statements (sent on the driver connection, traced by FixedReads) and
    # any other (through SQLAlchemy), in the order sent.
    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if now[0] and statement.lstrip().upper().startswith("SELECT"):
            out.setdefault(now[0], []).append((statement, tuple(parameters or ())))

    try:
        async with create_session_maker(engine)() as session:
            grants = (
                await session.scalars(select(RoleGrant).where(RoleGrant.user_id == user_id).order_by(RoleGrant.id))
            ).all()
            actor = Actor(
                user_id=user_id,
                username="bench-national",
                display_name="基准测试",
                grants=tuple(Grant(id=g.id, role=g.role, region_code=g.region_code) for g in grants),
            )
            for q in QUERIES:
                now[0] = q
                reads = FixedReads(None, session, actor, trace=out.setdefault(q, []))
                await practitioners.search_practitioners(reads, actor, practitioners.SearchFilters(name=q))
            now[0] = ""
    finally:
        await engine.dispose()
    return out


# --- the measurements ---------------------------------------------------------------------------


def search_paths() -> list[str]:
    return ["/api/practitioners?" + urllib.parse.urlencode({"name": q}) for q in QUERIES]


def search_rows(
    report: Report,
    project: Server,
    bare: Server,
    token: str,
    statements: dict[str, list[tuple[str, tuple[Any, ...]]]],
    clients: int,
    seconds: float,
    threads: int,
    workers: int,
) -> None:
    """The search through the API against the bare server replaying the very statements the
    search sends (``/s/{query}``), the same query mix, clients and load."""
    ours = wrk(project.base, search_paths(), clients, seconds, threads, token)
    base = wrk(bare.base, [f"/s/{i}" for i in range(len(QUERIES))], clients, seconds, threads)
    report.add(
        Row(
            f"search `GET /api/practitioners?name=…`, province clerk, {clients} clients, {workers} worker(s)",
            ours.line(),
            "Litestar + asyncpg sending the search's statements: "
            + base.line()
            + f" ({len(next(iter(statements.values())))} statement(s))",
            f"{ours.rps / base.rps:.0%} of bare req/s",
            "p95 < 20 ms, ≥ 50 % of bare req/s",
            "met" if ours.p95_ms < 20 and ours.rps >= 0.5 * base.rps else f"not met (p95 {ours.p95_ms:.0f} ms)",
        )
    )


async def warm(base: str, paths: Sequence[str], token: str = "", clients: int = 8) -> float:
    """Every path read once before its load is timed; the seconds it took.

    The record reads a person's row, region, employment spells with their employers, and
    certificates with their registration periods: pages scattered over four tables and their
    indexes, where the bare endpoint reads one row. From a cold cache the first pass measures the
    disk (for minutes on the machine of docs/performance.md, whose host pages cold memory out),
    so the row compares the two servers warm, as a server up for a while reads its working set."""
    queue = list(paths)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.perf_counter()

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
            while queue:
                response = await http.get(queue.pop())
                if response.status_code != 200:
                    raise SystemExit(f"warm-up: {base}{response.request.url.path}: {response.status_code}")

    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started


async def record_ids(dsn: str) -> list[int]:
    async with connected(dsn) as conn:
        return [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM practitioner WHERE region_code BETWEEN $1 AND $2 ORDER BY random() LIMIT 5000",
                PROVINCE,
                PROVINCE[:2] + "9999",
            )
        ]


def practitioner_rows(
    report: Report,
    project: Server,
    bare_server: Server,
    token: str,
    ids: list[int],
    clients: int,
    seconds: float,
    threads: int,
    workers: int,
) -> None:
    ours = wrk(project.base, [f"/api/practitioners/{i}" for i in ids], clients, seconds, threads, token)
    base = wrk(bare_server.base, [f"/p/{i}" for i in ids], clients, seconds, threads)
    share = ours.rps / base.rps
    report.add(
        Row(
            f"practitioner API `GET /api/practitioners/{{id}}`, {clients} clients, {workers} worker(s)",
            ours.line(),
            "Litestar + asyncpg PK endpoint: " + base.line(),
            f"{share:.0%} of bare req/s",
            "≥ 50 % of bare req/s",
            "met" if share >= 0.5 else "not met",
        )
    )


async def dashboard_rows(report: Report, project: Server, dsn: str, token: str, requests: int = 20) -> None:
    """The province clerk's dashboard page, one request at a time (it is read by one person, not
    by many at once), against the bare count of the province's practitioners. The page reads
    the summary the queue worker keeps: when none is made yet (``registry summary refresh``
    makes one beforehand), the first request queues it and this waits until the page has it."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=project.base, headers=headers, timeout=600) as client:
        first = await client.get("/dashboard", params={"region": PROVINCE})
        assert first.status_code == 200, first.text[:300]
        waited = time.perf_counter()
        while "数据正在准备中" in first.text:
            assert time.perf_counter() - waited < 3600, "the summary was not made within an hour"
            await asyncio.sleep(5)
            first = await client.get("/dashboard", params={"region": PROVINCE})
        waited = time.perf_counter() - waited
        assert "数据截至" in first.text, first.text[:300]
        ours = []
        for _ in range(requests):
            t0 = time.perf_counter()
            r = await client.get("/dashboard", params={"region": PROVINCE})
            ours.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
            assert "数据截至" in r.text
    bare = []
    async with connected(dsn) as conn:
        for _ in range(requests):
            t0 = time.perf_counter()
            await conn.fetchval(
                "SELECT count(*) FROM practitioner WHERE region_code BETWEEN $1 AND $2", PROVINCE, PROVINCE[:2] + "9999"
            )
            bare.append((time.perf_counter() - t0) * 1000)
    p95 = pct(ours, 0.95)
    made = f"; summary made while waiting: {waited:.0f} s" if waited > 1 else "; summary made beforehand"
    report.add(
        Row(
            f"province dashboard `GET /dashboard?region={PROVINCE}` (read from the summary), {requests} requests"
            f" one at a time{made}",
            f"p50 {pct(ours, 0.5):.0f} ms, p95 {p95:.0f} ms",
            f"count of the province's practitioners: p95 {pct(bare, 0.95):.1f} ms",
            f"{p95 / max(pct(bare, 0.95), 0.001):.0f}×",
            "p95 < 200 ms",
            "met" if p95 < 200 else f"not met ({p95:.0f} ms)",
        )
    )


async def copy_seconds(dsn: str, sql: str, *args: Any) -> tuple[float, int]:
    conn = await asyncpg.connect(dsn)
    size = [0]

    async def sink(chunk: bytes) -> None:
        size[0] += len(chunk)

    try:
        t0 = time.perf_counter()
        await conn.copy_from_query(sql, *args, output=sink, format="csv")
        return time.perf_counter() - t0, size[0]
    finally:
        await conn.close()


EXPORT_COLUMNS = (
    "SELECT l.seq, l.name, l.id_number, l.level, l.certificate_number, l.organization_name, r.full_name, l.month,"
    " l.amount, l.basis FROM payroll_line l LEFT JOIN region r ON r.code = l.region_code WHERE l.run_id = $1"
    " ORDER BY l.seq"
)


async def download(client: httpx.AsyncClient, path: str, server: Server) -> tuple[float, int, float]:
    """Seconds, bytes, and the server's peak RSS (MiB) while it served ``path``."""
    server.reset_peak()
    size = 0
    t0 = time.perf_counter()
    async with client.stream("GET", path) as r:
        assert r.status_code == 200, await r.aread()
        async for chunk in r.aiter_raw():
            size += len(chunk)
    seconds = time.perf_counter() - t0
    return seconds, size, server.memory()[1]


async def payroll_rows(report: Report, project: Server, dsn: str, token: str, month: str) -> int:
    async with connected(dsn) as conn:
        await conn.execute(
            "DELETE FROM payroll_run WHERE region_code = $1 AND month = $2",
            PROVINCE,
            dt.date.fromisoformat(month + "-01"),
        )
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=project.base, headers=headers, timeout=3600) as client:
        project.reset_peak()
        t0 = time.perf_counter()
        r = await client.post("/api/payroll-runs", json={"region_code": PROVINCE, "month": month})
        compute_s = time.perf_counter() - t0
        assert r.status_code == 201, r.text
        run = r.json()
        run_id, lines = run["id"], run["line_count"]
        compute_peak = project.memory()[1]
        async with connected(dsn) as conn:
            people = int(
                await conn.fetchval(
                    "SELECT count(DISTINCT e.practitioner_id) FROM employment e JOIN organization o ON o.id ="
                    " e.organization_id WHERE o.region_code BETWEEN $1 AND $2",
                    PROVINCE,
                    PROVINCE[:2] + "9999",
                )
            )
        read_s, _ = await copy_seconds(
            dsn,
            "SELECT p.id, p.name, p.id_number, e.post_type, e.in_post_from, e.in_post_to, c.level,"
            " r.start_date, r.end_date, c.verification_status, c.verified_on FROM practitioner p"
            " JOIN employment e ON e.practitioner_id = p.id JOIN organization o ON o.id = e.organization_id"
            " LEFT JOIN certification c ON c.practitioner_id = p.id"
            " LEFT JOIN certification_period r ON r.certification_id = c.id WHERE o.region_code BETWEEN $1 AND $2",
            PROVINCE,
            PROVINCE[:2] + "9999",
        )
        report.add(
            Row(
                f"payroll compute, {PROVINCE} {month}: {people:,} people with a spell in the province,"
                f" {lines:,} lines (`POST /api/payroll-runs`)",
                f"{compute_s:.1f} s ({people / compute_s:,.0f} people/s), peak RSS {compute_peak:,.0f} MiB",
                f"`COPY` of the candidate rows: {read_s:.2f} s",
                f"{read_s / compute_s:.0%}",
                "100,000 people < 10 s",
                f"{100_000 / (people / compute_s):.1f} s per 100,000 people: "
                + ("met" if 100_000 / (people / compute_s) < 10 else "not met"),
            )
        )
        bare_s, _ = await copy_seconds(dsn, EXPORT_COLUMNS, run_id)
        for fmt in ("csv", "xlsx"):
            seconds, size, peak = await download(client, f"/api/payroll-runs/{run_id}/export.{fmt}", project)
            report.add(
                Row(
                    f"payroll export {fmt.upper()}, {lines:,} lines",
                    f"{seconds:.2f} s ({lines / seconds:,.0f} lines/s, {size / 2**20:.0f} MiB), peak RSS {peak:,.0f} MiB",
                    f"`COPY` of the export's columns: {bare_s:.2f} s ({lines / bare_s:,.0f} lines/s)",
                    f"{bare_s / seconds:.0%}",
                )
            )
    return run_id


async def payroll_all_paid_row(report: Report, url: str, practitioners: int = 100_000) -> None:
    """Payroll compute in the worst case (issue 19): ``practitioners`` community workers across
    Hubei, every one paid, in a database of its own on the same server, built by
    ``scripts/bench_payroll.py``'s loader and dropped afterwards; beside a bare ``COPY`` of the
    same lines into a plain table in the same run."""
    import bench_payroll

    from registry.cli import migrate
    from registry.db import create_engine, create_session_maker

    base = url.rsplit("/", 1)[0]
    admin = base.replace("postgresql+asyncpg://", "postgresql://") + "/postgres"
    own = f"{base}/{bench_payroll.DB}"
    dsn = own.replace("postgresql+asyncpg://", "postgresql://")
    try:
        await bench_payroll.recreate(admin)
    except (OSError, asyncpg.PostgresError) as exc:  # a role that may not create databases, say
        report.add(Row(f"payroll compute, {practitioners:,} all paid", f"not measured: {exc}", "", ""))
        return
    try:
        await asyncio.to_thread(migrate, own)
        loaded = await bench_payroll.load(dsn, practitioners)
        engine = create_engine(own, pool_size=2)
        await quiet_server(dsn)
        try:
            _, lines, compute_s, copy_s = await bench_payroll.compute_all_paid(create_session_maker(engine), dsn)
        finally:
            await engine.dispose()
    finally:
        async with connected(admin) as conn:
            await conn.execute(f'DROP DATABASE IF EXISTS "{bench_payroll.DB}" WITH (FORCE)')
    report.add(
        Row(
            f"payroll compute, {practitioners:,} all paid ({lines:,} lines; a database of its own, loaded in"
            f" {loaded:.0f} s; `service.create_run`)",
            f"{compute_s:.1f} s ({lines / compute_s:,.0f} lines/s)",
            f"`COPY` of the same lines into a plain table: {copy_s:.2f} s",
            f"{copy_s / compute_s:.0%}",
            "< 10 s",
            "met" if compute_s < 10 else "not met",
        )
    )


async def million_rows(
    report: Report, project: Server, dsn: str, token: str, source_run: int, month: str, target: int
) -> None:
    """A draft run of the bench's own holding ``target`` lines (the province's lines repeated),
    exported as CSV: throughput against bare COPY of the same rows, and the service's memory."""
    async with connected(dsn) as conn:
        source = await conn.fetchrow("SELECT * FROM payroll_run WHERE id = $1", source_run)
        n = int(await conn.fetchval("SELECT count(*) FROM payroll_line WHERE run_id = $1", source_run))
        repeat = -(-target // n)
        far = dt.date(1999, 1, 1)  # a month of its own, so it meets no real run
        await conn.execute("DELETE FROM payroll_run WHERE region_code = $1 AND month = $2", PROVINCE, far)
        columns = [
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'payroll_run'"
                " AND column_name NOT IN ('id') ORDER BY ordinal_position"
            )
        ]
        values = [far if c == "month" else source[c] for c in columns]
        placeholders = ", ".join(f"${i + 1}" for i in range(len(columns)))
        run_id = await conn.fetchval(
            f"INSERT INTO payroll_run ({', '.join(columns)}) VALUES ({placeholders}) RETURNING id",  # noqa: S608 - catalogue names
            *values,
        )
        line_columns = [
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'payroll_line'"
                " AND column_name NOT IN ('id', 'run_id', 'seq', 'month', 'corrects_line_id') ORDER BY ordinal_position"
            )
        ]
        listed = ", ".join(line_columns)
        t0 = time.perf_counter()
        await conn.execute(
            # Each repetition a month of its own (a person is paid once a month).
            f"INSERT INTO payroll_line (run_id, seq, month, {listed}) SELECT $1, (k - 1) * $2 + l.seq,"  # noqa: S608 - catalogue names
            f" ($6::date + make_interval(months => k - 1))::date, {listed}"
            " FROM payroll_line l, generate_series(1, $3) k WHERE l.run_id = $4 AND (k - 1) * $2 + l.seq <= $5",
            run_id,
            n,
            repeat,
            source_run,
            target,
            far,
        )
        lines = int(await conn.fetchval("SELECT count(*) FROM payroll_line WHERE run_id = $1", run_id))
        await conn.execute("UPDATE payroll_run SET line_count = $2 WHERE id = $1", run_id, lines)
        built = time.perf_counter() - t0
    try:
        bare_s, _ = await copy_seconds(dsn, EXPORT_COLUMNS, run_id)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=project.base, headers=headers, timeout=3600) as client:
            rss_before = project.memory()[0]
            seconds, size, peak = await download(client, f"/api/payroll-runs/{run_id}/export.csv", project)
        share = bare_s / seconds
        report.add(
            Row(
                f"payroll export CSV, {lines:,} lines (the province's lines repeated, built in {built:.0f} s)",
                f"{seconds:.1f} s ({lines / seconds:,.0f} lines/s, {size / 2**20:,.0f} MiB);"
                f" RSS {rss_before:,.0f} MiB before, peak {peak:,.0f} MiB",
                f"`COPY` of the export's columns: {bare_s:.1f} s ({lines / bare_s:,.0f} lines/s)",
                f"{share:.0%}",
                "≥ 30 % of bare COPY, flat memory",
                ("met" if share >= 0.3 else "not met") + f"; memory +{peak - rss_before:,.0f} MiB",
            )
        )
        await xlsx_row(report, project, dsn, token, run_id, lines)
    finally:
        async with connected(dsn) as conn:
            await conn.execute("DELETE FROM payroll_run WHERE id = $1", run_id)


def bare_xlsx_seconds(cells: list[Any]) -> float:
    """Bare xlsxwriter (constant memory, as the service) writing the same cells the service
    writes for each line, with the same formats: the 发放明细 row and the 依据全文 row. Only
    the writing is timed; the cells are in memory already."""
    import xlsxwriter

    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        book = xlsxwriter.Workbook(str(Path(folder) / "bare.xlsx"), {"constant_memory": True})
        sheet, basis = book.add_worksheet("a"), book.add_worksheet("b")
        cell, text = book.add_format({"border": 1}), book.add_format({"num_format": "@", "border": 1})
        money, wrap = book.add_format({"num_format": "#,##0.00", "border": 1}), book.add_format({"text_wrap": True})
        for r, line in enumerate(cells):
            sheet.write_number(r, 0, line[0], cell)
            sheet.write_string(r, 1, line[1], cell)
            sheet.write_string(r, 2, line[2], text)
            sheet.write_string(r, 3, line[3], cell)
            sheet.write_string(r, 4, line[4], text)
            sheet.write_string(r, 5, line[5], cell)
            sheet.write_string(r, 6, line[6], cell)
            sheet.write_string(r, 7, line[7], cell)
            sheet.write_number(r, 8, float(line[8]), money)
            sheet.write_string(r, 9, line[9], cell)
            basis.write_number(r, 0, line[0])
            basis.write_string(r, 1, line[1])
            basis.write_string(r, 2, line[10], wrap)
        book.close()
        return time.perf_counter() - t0


async def xlsx_row(report: Report, project: Server, dsn: str, token: str, run_id: int, lines: int) -> None:
    """The printable XLSX through the API against bare xlsxwriter writing the same cells, in turn
    (best of three each, alternating, so that neither pays alone for a cold cache or a busy moment)."""
    from registry.payroll import export

    async with connected(dsn) as conn:
        cells = await conn.fetch(*export.sheet_query(run_id, full_ids=False))
    headers = {"Authorization": f"Bearer {token}"}
    ours: list[float] = []
    bare: list[float] = []
    peak = 0.0
    async with httpx.AsyncClient(base_url=project.base, headers=headers, timeout=3600) as client:
        for _ in range(3):
            seconds, size, peak = await download(client, f"/api/payroll-runs/{run_id}/export.xlsx", project)
            ours.append(seconds)
            bare.append(await asyncio.to_thread(bare_xlsx_seconds, list(cells)))
    ours_s, bare_s = min(ours), min(bare)
    share = bare_s / ours_s
    report.add(
        Row(
            f"payroll export XLSX (printable 发放表: subtotals, 依据全文 sheet), {lines:,} lines",
            f"{ours_s:.1f} s ({lines / ours_s:,.0f} lines/s, {size / 2**20:,.0f} MiB), peak RSS {peak:,.0f} MiB",
            f"bare xlsxwriter writing the same cells from memory: {bare_s:.1f} s ({lines / bare_s:,.0f} lines/s)",
            f"{share:.0%}",
            "≥ 80 % of bare xlsxwriter",
            "met" if share >= 0.8 else "not met",
        )
    )


async def certificate_rows(
    report: Report, project: Server, dsn: str, token: str, month: str, run_id: int, count: int
) -> None:
    from weasyprint import HTML

    from registry.certificates import render

    async with connected(dsn) as conn:
        people = [
            r["practitioner_id"]
            for r in await conn.fetch(
                "SELECT practitioner_id FROM payroll_line WHERE run_id = $1 ORDER BY seq LIMIT $2", run_id, count
            )
        ]
    headers = {"Authorization": f"Bearer {token}"}
    serials = []
    async with httpx.AsyncClient(base_url=project.base, headers=headers, timeout=600) as client:
        for pid in people:
            r = await client.post(
                "/api/certificates", json={"practitioner_id": pid, "kind": "allowance", "period": month}
            )
            assert r.status_code in (200, 201), r.text  # 200: the valid one issued before
            serials.append(r.json()["serial"])
        await client.get(f"/api/certificates/{serials[0]}/pdf")  # warm the render pool
        t0 = time.perf_counter()
        for serial in serials:
            r = await client.get(f"/api/certificates/{serial}/pdf")
            assert r.status_code == 200, r.text
            assert r.content.startswith(b"%PDF")
        ours = time.perf_counter() - t0
    async with connected(dsn) as conn:
        items = [
            (r["snapshot"], r["qr_payload"])
            for r in await conn.fetch(
                "SELECT snapshot, qr_payload FROM issued_certificate WHERE serial = ANY($1::text[])", serials
            )
        ]
    # The same page (style sheet inline, the same PNG QR code) through plain WeasyPrint.
    htmls = [render.html_for([item]) for item in items]
    HTML(string=htmls[0]).write_pdf()  # warm-up: fonts
    t0 = time.perf_counter()
    for html in htmls:
        HTML(string=html).write_pdf()
    bare = time.perf_counter() - t0
    n = len(serials)
    report.add(
        Row(
            f"certificate download `GET /api/certificates/{{serial}}/pdf`, {n} one after another",
            f"{1000 * ours / n:.0f} ms each ({n / ours:.1f}/s; QR code, signed attachment, metadata)",
            f"WeasyPrint on the same HTML: {1000 * bare / n:.0f} ms each ({n / bare:.1f}/s)",
            f"{bare / ours:.0%}",
        )
    )


async def import_rows(report: Report, project: Server, dsn: str, token: str, rows_wanted: int, folder: Path) -> None:
    import bench_import

    async with connected(dsn) as conn:
        counties = [
            r["code"]
            for r in await conn.fetch(
                "SELECT code FROM region WHERE level = 3 AND active AND code BETWEEN $1 AND $2",
                PROVINCE,
                PROVINCE[:2] + "9999",
            )
        ]
        random.seed(20261201)
        candidates = bench_import.make_rows(rows_wanted, counties)
        taken = {
            r["id_number"]
            for r in await conn.fetch(
                "SELECT id_number FROM practitioner WHERE id_number = ANY($1::text[])", [c[1] for c in candidates]
            )
        }
    rows = [c for c in candidates if c[1] not in taken]  # only new people, so that they can be removed after
    path = folder / "人员.xlsx"
    bench_import.write_xlsx(path, rows)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=project.base, headers=headers, timeout=3600) as client:

        async def until_done(job_id: int) -> dict[str, Any]:
            while True:
                body: dict[str, Any] = (await client.get(f"/api/imports/{job_id}")).json()
                if body["status"] in ("done", "failed"):
                    return body
                await asyncio.sleep(0.2)

        rss_before = project.memory()[0]
        project.reset_peak()
        t0 = time.perf_counter()
        r = await client.post("/api/imports/", files={"file": (path.name, path.read_bytes(), bench_import_mime())})
        assert r.status_code == 202, r.text
        job = await until_done(r.json()["id"])
        dry_s = time.perf_counter() - t0
        assert job["status"] == "done", job.get("error")
        assert job["problem_count"] == 0, job["problems"][:3]
        t0 = time.perf_counter()
        r = await client.post(f"/api/imports/{job['id']}/commit")
        assert r.status_code == 202, r.text
        job = await until_done(job["id"])
        commit_s = time.perf_counter() - t0
        assert job["status"] == "done", job.get("error")
        assert job["committed"], job
        peak = project.memory()[1]
    async with connected(dsn) as conn:
        await conn.execute(
            "CREATE TEMP TABLE bare_practitioner (name text, id_number text, education text, phone text, household_region_code text)"
        )
        t0 = time.perf_counter()
        await conn.copy_records_to_table("bare_practitioner", records=rows)
        bare_s = time.perf_counter() - t0
        created = await conn.fetchval(
            "SELECT count(*) FROM practitioner WHERE id_number = ANY($1::text[])", [r[1] for r in rows]
        )
        await conn.execute("DELETE FROM practitioner WHERE id_number = ANY($1::text[])", [r[1] for r in rows])
    n = len(rows)
    rate = n / (dry_s + commit_s)
    report.add(
        Row(
            f"import XLSX of {n:,} new practitioners (upload + dry run + commit; {created:,} written)",
            f"{dry_s:.1f} s + {commit_s:.1f} s ({rate:,.0f} rows/s; dry run {n / dry_s:,.0f}, commit"
            f" {n / commit_s:,.0f}); RSS {rss_before:,.0f} MiB before, peak {peak:,.0f} MiB",
            f"`COPY` of the same rows into a plain table: {bare_s:.2f} s ({n / bare_s:,.0f} rows/s)",
            f"{bare_s / (dry_s + commit_s):.1%}",
            "≥ 20,000 rows/s end to end",
            "met" if rate >= 20_000 else "not met",
        )
    )


def bench_import_mime() -> str:
    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- the run ------------------------------------------------------------------------------------


def _write_out(path: Path, text: str) -> None:
    old = path.read_text(encoding="utf-8") if path.exists() else "# Performance figures\n"
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + block + rest.split(END, 1)[1]
    else:
        lines = old.split("\n", 1)
        new = lines[0] + "\n\n" + block + "\n" + (("\n" + lines[1]) if len(lines) > 1 else "")
    path.write_text(new, encoding="utf-8")


def machine() -> str:
    """Cores, CPU model and memory, from /proc."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.machine(),
    )
    memory = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    return f"{os.cpu_count()} cores ({cpu}), {int(memory.split()[1]) / 2**20:.0f} GiB, {platform.platform(terse=True)}"


def table(report: Report, header: str) -> str:
    out = [header, "", "| job | project | bare baseline, same run | ratio | target | |", "|---|---|---|---|---|---|"]
    for r in report.rows:
        out.append(f"| {r.job} | {r.ours} | {r.bare} | {r.ratio} | {r.target} | {r.met} |")
    out += ["", *report.notes]
    return "\n".join(out)


async def http_rows(
    report: Report, args: argparse.Namespace, url: str, dsn: str, token: str, user_id: int, folder: Path
) -> None:
    """The search and record rows for each worker count, both servers started afresh for each."""
    statements = await captured_search_statements(url, user_id)
    saved = folder / "search-statements.pickle"
    saved.write_bytes(pickle.dumps(statements))
    ids = await record_ids(dsn)
    report.notes.append(
        "The search and record rows run the service with its queue workers off (certificate batches,"
        " imports, the daily reminder run, the dashboard's summary): they measure serving alone; the"
        " other rows keep the workers their jobs need but not the two daily runs."
    )
    for workers in args.http_workers:
        await quiet_server(dsn)
        project = start("project", url, str(folder / f"data-{workers}"), workers, BENCH_NO_JOBS="1")
        bare = start("bare", url, str(folder / f"bare-{workers}"), workers, BENCH_SEARCH_STATEMENTS=str(saved))
        try:
            load = (args.clients, args.seconds, args.wrk_threads, workers)
            if "search" in args.only:
                search_rows(report, project, bare, token, statements, *load)
            if "practitioner" in args.only:
                took = await warm(project.base, [f"/api/practitioners/{i}" for i in ids], token)
                print(f"record paths read once before the load ({workers} worker(s)): {took:.1f} s", flush=True)
                practitioner_rows(report, project, bare, token, ids, *load)
        finally:
            project.stop()
            bare.stop()


async def run(args: argparse.Namespace, url: str) -> None:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    async with connected(dsn) as conn:
        total = int(await conn.fetchval("SELECT count(*) FROM practitioner"))
        in_province = int(
            await conn.fetchval(
                "SELECT count(*) FROM practitioner WHERE region_code BETWEEN $1 AND $2", PROVINCE, PROVINCE[:2] + "9999"
            )
        )
        version = await conn.fetchval("SHOW server_version")
        buffers = await conn.fetchval("SHOW shared_buffers")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    if total < 1000:
        raise SystemExit("The database holds almost nobody: generate a dataset first (registry dataset generate).")
    async with connected(
        dsn
    ) as conn:  # start from a quiet database: what an earlier run wrote and deleted, vacuumed now
        await conn.execute("VACUUM (ANALYZE) payroll_line, payroll_run, issued_certificate, practitioner")
    today = dt.date.today()
    month = f"{today.replace(day=1) - dt.timedelta(days=1):%Y-%m}"
    token, user_id = await bench_user(url)
    report = Report()
    with tempfile.TemporaryDirectory() as folder:
        if args.only & {"search", "practitioner"}:
            await http_rows(report, args, url, dsn, token, user_id, Path(folder))
        project = start("project", url, str(Path(folder) / "data"), args.workers, BENCH_NO_DAILY="1")
        bare = start("bare", url, str(Path(folder) / "bare"), args.workers)
        try:
            idle = project.memory()[0]
            print(
                f"{total:,} practitioners ({in_province:,} in {PROVINCE}); service RSS at rest {idle:.0f} MiB",
                flush=True,
            )
            if "dashboard" in args.only:
                await dashboard_rows(report, project, dsn, token)
            run_id = None
            if "payroll" in args.only:
                await quiet_server(dsn)
                run_id = await payroll_rows(report, project, dsn, token, month)
            if "certificates" in args.only and run_id is not None:
                await certificate_rows(report, project, dsn, token, month, run_id, args.certificates)
            if "payroll" in args.only:
                await payroll_all_paid_row(report, url)
            # After the rows above: the import writes and then deletes 100,000 people, whose
            # cleanup keeps the autovacuum busy for a while.
            if "import" in args.only:
                await quiet_server(dsn)
                await import_rows(report, project, dsn, token, args.import_rows, Path(folder))
            # Last: writing and deleting a million lines leaves the autovacuum busy for minutes.
            if "million" in args.only and run_id is not None:
                await million_rows(report, project, dsn, token, run_id, month, args.export_lines)
        finally:
            project.stop()
            bare.stop()
    header = (
        f"{today}, `scripts/bench.py` on {total:,} practitioners ({in_province:,} in {PROVINCE}); machine"
        f" {platform.node()}: {machine()}, PostgreSQL {version} (shared_buffers {buffers}, database {size}),"
        f" Python {platform.python_version()};"
        f" the service and the bare server each {args.workers} uvicorn worker(s) (the search and record rows:"
        f" as each row says), access log off; the load of the search and record rows from wrk"
        f" ({args.wrk_threads} thread(s)), of the others from this process, on the same machine;"
        f" service RSS at rest {idle:.0f} MiB."
    )
    text = table(report, header)
    print("\n" + text)
    if args.out:
        _write_out(Path(args.out), text)
        print(f"\nwritten to {args.out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes, for both servers (on 2 cores shared with the load and PostgreSQL,"
        " 2 workers measured slower for both)",
    )
    parser.add_argument(
        "--http-workers",
        default="1,2",
        help="uvicorn worker counts for the search and record rows, each measured for both servers",
    )
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk's threads (each drives clients/threads)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--export-lines", type=int, default=1_000_000)
    parser.add_argument("--certificates", type=int, default=40)
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument(
        "--only",
        default="search,practitioner,dashboard,payroll,certificates,import,million",
        help="comma-separated subset (million: the 1,000,000-line exports, after a payroll run)",
    )
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="Markdown file to update ('' to skip)")
    parser.add_argument("--serve", choices=["project", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = os.environ.get("REGISTRY_DATABASE_URL", "")
    if not url:
        raise SystemExit("Set REGISTRY_DATABASE_URL to the generated dataset's database.")
    if args.serve:
        serve(args.serve, args.port, args.workers)
        return
    args.only = set(args.only.split(","))
    args.http_workers = [int(w) for w in args.http_workers.split(",")]
    if args.only & {"search", "practitioner"}:
        wrk_binary()
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(run(args, url))


if __name__ == "__main__":
    main()
