"""Spreadsheet imports: upload, dry run, commit, as jobs with progress.

An upload is stored under ``data_dir/imports/`` and queued as a dry run (phase ``check``). The
dry run reads the file, checks every row against the registry (bulk look-ups) and stores every
problem and what would change; a clean one keeps its plan beside the file (``plans``). A clean
dry run may be committed (phase ``commit``): inside the transaction that writes, under the import
lock, everything the check looked up is looked up again (the people's rows locked); the kept plan
is written if all of it is as it was, else the file (the same bytes) is read and checked again.
Written with COPY and set-based statements, or not at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry import bounds, clock
from registry.accounts.actor import Actor, Forbidden
from registry.config import Settings
from registry.db import is_connection_error
from registry.errors import Conflict, InvalidInput, NotFound, RegistryError
from registry.imports import plans
from registry.imports.check import Checker, Lookups, Plan, parse
from registry.imports.schemas import ImportRead
from registry.imports.sheets import FileData, read_file
from registry.imports.values import problem_total
from registry.imports.write import driver_of, write_plan
from registry.models import ImportJob

log = logging.getLogger("registry")

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
# One import commits at a time (a transaction-level advisory lock), so two files that touch the
# same people cannot interleave between check and write.
IMPORT_LOCK = 7_202_611
STAGES = {"check": ("reading", "checking"), "commit": ("reading", "checking", "writing")}
SAVE_EVERY = 1.0  # seconds between progress writes

Progress = Callable[[ImportJob], Awaitable[None] | None]


def import_dir(settings: Settings) -> Path:
    return settings.data_dir / "imports"


def file_format(name: str, data: bytes) -> str:
    lower = name.lower()
    if lower.endswith(".xlsx") or (not lower.endswith(".csv") and data[:2] == b"PK"):
        return "xlsx"
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith(".xls") or data[:4] == b"\xd0\xcf\x11\xe0":
        raise InvalidInput.on_field(
            "file", "file_format_unknown", "不支持旧版 .xls 文件，请在 Excel／WPS 中另存为 .xlsx 后再导入。"
        )
    raise InvalidInput.on_field("file", "file_format_unknown", "只能导入 .xlsx 或 .csv 文件。")


def require_importer(actor: Actor) -> None:
    actor.require("write", "只有民政工作人员和单位人事专员可以导入数据。")


async def create_import(
    session: AsyncSession, actor: Actor, settings: Settings, file_name: str, data: bytes, *, run_here: bool = False
) -> ImportJob:
    """Store the file and queue its dry run (or, with ``run_here``, mark it as taken by the
    caller: the command line runs it itself)."""
    require_importer(actor)
    if not data:
        raise InvalidInput.on_field("file", "file_empty", "上传的文件是空的。")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput.on_field("file", "file_too_large", f"文件不能超过 {MAX_UPLOAD_BYTES // 1024 // 1024} MB。")
    fmt = file_format(file_name, data)
    digest = hashlib.sha256(data).hexdigest()
    job = ImportJob(
        file_name=(bounds.without_controls(Path(file_name).name) or f"import.{fmt}")[:200],
        stored_name="",
        file_format=fmt,
        file_size=len(data),
        sha256=digest,
        phase="check",
        status="running" if run_here else "queued",
        created_by_id=actor.user_id,
    )
    session.add(job)
    await session.flush()
    folder = import_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    job.stored_name = f"{job.id}-{digest[:16]}.{fmt}"
    partial = folder / (job.stored_name + ".part")
    partial.write_bytes(data)
    partial.replace(folder / job.stored_name)
    await session.flush()
    await session.refresh(job)
    return job


async def get_import(session: AsyncSession, actor: Actor, import_id: int, *, for_update: bool = False) -> ImportJob:
    """An import is its uploader's (administrators may read every one)."""
    if not (actor.may("write") or actor.is_admin):
        raise Forbidden("只有民政工作人员和单位人事专员可以导入数据。")
    stmt = select(ImportJob).where(ImportJob.id == import_id)
    if for_update:
        stmt = stmt.with_for_update()
    job = (await session.scalars(stmt)).one_or_none()
    if job is None or not (actor.is_admin or (job.created_by_id is not None and job.created_by_id == actor.user_id)):
        raise NotFound(f"导入任务 {import_id} 不存在或不是您提交的。", code="import_not_found")
    return job


def file_digest(path: Path) -> str | None:
    if not path.exists():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


async def request_commit(
    session: AsyncSession, actor: Actor, settings: Settings, import_id: int, *, run_here: bool = False
) -> ImportJob:
    require_importer(actor)
    job = await get_import(session, actor, import_id, for_update=True)
    if job.created_by_id != actor.user_id and not actor.unrestricted:
        raise Forbidden("只能提交自己上传的导入。")
    if job.phase == "commit":
        if job.status == "done":
            raise Conflict("该导入已提交，无需重复提交；如需再次导入请重新上传。", code="import_already_committed")
        if job.status == "failed":
            raise Conflict("该导入提交时复查发现问题，未写入任何数据；请修改后重新上传。", code="import_commit_failed")
        raise Conflict("该导入正在提交中。", code="import_commit_in_progress")
    if job.status in ("queued", "running"):
        raise Conflict("检查尚未完成，请稍后再提交。", code="import_not_checked")
    if job.status == "failed":
        raise Conflict("检查未能完成，不能提交；请重新上传。", code="import_check_failed")
    if job.problem_count:
        raise Conflict(f"检查发现 {job.problem_count} 处问题，不能提交；请修改后重新上传。", code="import_has_problems")
    if file_digest(import_dir(settings) / job.stored_name) != job.sha256:
        raise Conflict("检查之后文件已改变或不在数据目录中，请重新上传。", code="import_file_changed")
    job.phase = "commit"
    job.status = "running" if run_here else "queued"
    job.stage = None
    job.processed_rows = 0
    job.finished_at = None
    await session.flush()
    await session.refresh(job)
    return job


def progress_of(job: ImportJob) -> float:
    if job.status == "done":
        return 1.0
    stages = STAGES[job.phase]
    if job.status == "queued" or job.stage not in stages:
        return 0.0
    index = stages.index(job.stage)
    part = min(1.0, job.processed_rows / job.total_rows) if job.total_rows else 0.0
    return round((index + part) / len(stages), 4)


PROBLEMS_PAGE = 100


def import_read(job: ImportJob, *, problems_offset: int = 0, problems_limit: int = PROBLEMS_PAGE) -> ImportRead:
    """The job with one page of its stored problems (a poll stays small however bad the file)."""
    stored = job.problems or []
    read = ImportRead.model_validate(
        {
            **{k: getattr(job, k) for k in ImportRead.model_fields if hasattr(job, k) and k != "problems"},
            "problems": stored[problems_offset : problems_offset + problems_limit],
        }
    )
    read.problems_stored = len(stored)
    read.problems_offset = problems_offset
    read.progress = progress_of(job)
    read.committed = job.phase == "commit" and job.status == "done"
    read.can_commit = job.phase == "check" and job.status == "done" and job.problem_count == 0
    return read


async def requeue_interrupted(
    session_maker: async_sessionmaker[AsyncSession], stale_after: dt.timedelta | None = None
) -> int:
    """Jobs a stopped server or an outage left running (no heartbeat for ``stale_after``,
    ``registry.jobs``) go back to the queue (a commit wrote nothing unless it finished, and a
    committed import checks clean and unchanged when run again)."""
    from registry.jobs import stale_after as default_stale

    stale = clock.now() - (stale_after or default_stale())
    async with session_maker() as session:
        result = await session.execute(
            update(ImportJob)
            .where(ImportJob.status == "running", func.greatest(ImportJob.heartbeat_at, ImportJob.updated_at) < stale)
            .values(status="queued", stage=None, processed_rows=0)
        )
        await session.commit()
        return int(getattr(result, "rowcount", 0) or 0)


# --- running a job -------------------------------------------------------------------------------


class _Reporter:
    """Writes the job's progress in its own short transactions, at most once a second."""

    def __init__(
        self, session_maker: async_sessionmaker[AsyncSession], job: ImportJob, progress: Progress | None
    ) -> None:
        self.session_maker = session_maker
        self.job = job
        self.progress = progress
        self.last = 0.0

    async def save(self, *, force: bool = True) -> None:
        now = time.monotonic()
        if not force and now - self.last < SAVE_EVERY:
            return
        self.last = now
        async with self.session_maker() as session:
            await session.merge(self.job)
            await session.commit()
        if self.progress is not None:
            result = self.progress(self.job)
            if result is not None:
                await result

    async def stage(self, name: str) -> None:
        self.job.stage = name
        self.job.processed_rows = 0
        await self.save()

    async def advance(self, count: int) -> None:
        self.job.processed_rows += count
        await self.save(force=False)


async def _read(path: Path, job: ImportJob, reporter: _Reporter) -> FileData:
    """Read in a worker thread (the reader is CPU-bound), reporting rows read as it goes."""
    counted = [0]

    def tick(count: int) -> None:
        counted[0] += count

    task = asyncio.ensure_future(asyncio.to_thread(read_file, path, job.file_format, job.file_name, tick))
    while not task.done():
        await asyncio.wait({task}, timeout=SAVE_EVERY)
        job.processed_rows = counted[0]
        if not task.done():
            await reporter.save(force=False)
    data = task.result()
    job.total_rows = data.row_count
    job.processed_rows = job.total_rows
    await reporter.save()
    return data


_PEOPLE = (
    "SELECT id, name, id_number, birth_date, sex, phone, education, social_work_major,"
    " household_region_code, organization_id, region_code FROM practitioner WHERE id_number = ANY($1::text[])"
)
_PEOPLE_LOCKED = _PEOPLE + " ORDER BY id FOR UPDATE"


async def lookups(session: AsyncSession, keys: dict[str, list[Any]], *, lock: bool = False) -> Lookups:
    """Everything the registry holds about the file's rows (``plans.keys_of``), in one query per
    kind. With ``lock`` (the commit) the people's rows stay locked until the write: a transfer to
    another county saved meanwhile waits, and cannot slip between the scope check and the write.
    Every list comes in a fixed order, so that the same registry gives the same fingerprint."""
    driver = await driver_of(session)
    found = Lookups()
    for r in await driver.fetch(_PEOPLE_LOCKED if lock else _PEOPLE, keys["numbers"]):
        found.people[r["id_number"]] = dict(r)
    pids = [int(p["id"]) for p in found.people.values()]
    regions = keys["regions"]
    if regions:
        rows = await driver.fetch(
            "SELECT code, active, full_name FROM region WHERE code = ANY($1::text[]) ORDER BY code", regions
        )
        found.regions = {r["code"] for r in rows}
        found.inactive_regions = {r["code"]: r["full_name"] for r in rows if not r["active"]}
    codes, names = keys["codes"], keys["names"]
    if codes or names:
        for r in await driver.fetch(
            "SELECT id, name, credit_code, region_code, org_type, founded_on, closed_on FROM organization"
            " WHERE credit_code = ANY($1::text[]) OR name = ANY($2::text[]) ORDER BY id",
            codes,
            names,
        ):
            org = dict(r)
            if org["credit_code"]:
                found.orgs_by_code[org["credit_code"]] = org
            found.orgs_by_name.setdefault(org["name"], []).append(org)
            found.org_regions[int(org["id"])] = org["region_code"]
    if pids:
        for r in await driver.fetch(
            "SELECT id, practitioner_id, organization_id, post_type, duty_level, in_post_from, in_post_to"
            " FROM employment WHERE practitioner_id = ANY($1::bigint[]) ORDER BY id",
            pids,
        ):
            found.spells.setdefault(int(r["practitioner_id"]), []).append(dict(r))
        spell_orgs = sorted(
            {int(s["organization_id"]) for ss in found.spells.values() for s in ss} - set(found.org_regions)
        )
        for r in await driver.fetch(
            "SELECT id, region_code FROM organization WHERE id = ANY($1::bigint[])", spell_orgs
        ):
            found.org_regions[int(r["id"])] = r["region_code"]
    certs = keys["certs"]
    if certs:
        for r in await driver.fetch(
            "SELECT c.id, c.practitioner_id, c.certificate_number, c.level, c.exam_year, c.verification_status,"
            " c.verified_on, r.id AS period_id, r.start_date AS registration_valid_from,"
            " r.end_date AS registration_valid_to, r.authority AS registration_authority"
            " FROM certification c LEFT JOIN LATERAL (SELECT p.id, p.start_date, p.end_date, p.authority"
            "  FROM certification_period p WHERE p.certification_id = c.id AND p.kind = 'registration'"
            "  AND NOT p.withdrawn AND NOT EXISTS (SELECT 1 FROM certification_period x WHERE x.replaces_id = p.id)"
            "  ORDER BY p.start_date, p.id LIMIT 1) r ON true"
            " WHERE c.certificate_number = ANY($1::text[])",
            certs,
        ):
            found.certs[r["certificate_number"]] = dict(r)
        for r in await driver.fetch(
            "SELECT c.certificate_number, p.id, p.kind, p.start_date, p.end_date, p.authority, p.note"
            " FROM certification_period p JOIN certification c ON c.id = p.certification_id"
            " WHERE c.certificate_number = ANY($1::text[]) AND NOT p.withdrawn"
            " AND NOT EXISTS (SELECT 1 FROM certification_period x WHERE x.replaces_id = p.id)"
            " ORDER BY p.start_date, p.id",
            certs,
        ):
            found.periods.setdefault(r["certificate_number"], []).append(dict(r))
    by_number = {n: int(p["id"]) for n, p in found.people.items()}
    ce_keys = sorted({(by_number[number], day) for number, day in keys["ce"] if number in by_number})
    if ce_keys:
        for r in await driver.fetch(
            "SELECT id, practitioner_id, activity_date, hours, unit, category, provider, course, status FROM ce_record"
            " WHERE (practitioner_id, activity_date) IN (SELECT * FROM unnest($1::bigint[], $2::date[])) ORDER BY id",
            [k[0] for k in ce_keys],
            [k[1] for k in ce_keys],
        ):
            found.ce.setdefault((int(r["practitioner_id"]), r["activity_date"]), []).append(dict(r))
    salary_keys = sorted({(by_number[number], year) for number, year in keys["salaries"] if number in by_number})
    if salary_keys:
        for r in await driver.fetch(
            "SELECT id, practitioner_id, year, amount, period, organization_id FROM salary_record WHERE status <> 'rejected'"
            " AND (practitioner_id, year) IN (SELECT * FROM unnest($1::bigint[], $2::int[])) ORDER BY id",
            [k[0] for k in salary_keys],
            [k[1] for k in salary_keys],
        ):
            found.salaries[(int(r["practitioner_id"]), int(r["year"]))] = dict(r)
    return found


async def check_data(
    session: AsyncSession,
    actor: Actor,
    data: FileData,
    *,
    today: dt.date,
    digest: str,
    tick: Callable[[int], Awaitable[None]] | None = None,
    lock: bool = False,
) -> plans.Kept:
    """The whole check, with what the commit needs to know whether it may use its plan."""
    # The pure-Python steps run in a thread, so that the server answers other requests meanwhile.
    started = time.perf_counter()
    parsed = await asyncio.to_thread(parse, data, today)
    keys = plans.keys_of(parsed)
    log.debug("check: parse %.2f s", time.perf_counter() - started)
    if tick is not None:
        await tick(data.row_count // 2)
    started = time.perf_counter()
    found = await lookups(session, keys, lock=lock)
    mark = await asyncio.to_thread(plans.fingerprint, found, actor, today, digest)
    log.debug("check: look-ups %.2f s", time.perf_counter() - started)
    started = time.perf_counter()
    plan = await asyncio.to_thread(Checker(actor, parsed, found, today).run)
    log.debug("check: rules %.2f s", time.perf_counter() - started)
    order = {sheet.name: index for index, sheet in enumerate(data.sheets)}
    plan.problems.sort(key=lambda p: (order.get(p["sheet"], -1), p["row"]))
    if tick is not None:
        await tick(data.row_count - data.row_count // 2)
    return plans.Kept(keys=keys, fingerprint=mark, plan=plan)


async def run_import(
    session_maker: async_sessionmaker[AsyncSession],
    actor: Actor,
    settings: Settings,
    job_id: int,
    progress: Progress | None = None,
    *,
    today: dt.date | None = None,
) -> ImportJob:
    today = today or clock.today()
    async with session_maker() as session:
        job = await session.get(ImportJob, job_id)
        if job is None:
            raise NotFound(f"导入任务 {job_id} 不存在。", code="import_not_found")
        session.expunge(job)
    reporter = _Reporter(session_maker, job, progress)
    try:
        job.status = "running"
        job.error = None
        await reporter.stage("reading")
        path = import_dir(settings) / job.stored_name
        if file_digest(path) != job.sha256:
            raise Conflict("文件已改变或不在数据目录中，请重新上传。", code="import_file_changed")
        if job.phase == "check":
            data = await _read(path, job, reporter)
            await reporter.stage("checking")
            async with session_maker() as session:
                kept = await check_data(session, actor, data, today=today, digest=job.sha256, tick=reporter.advance)
                await session.rollback()
            if not kept.plan.problems:
                await asyncio.to_thread(lambda: _plan_path(path).write_bytes(plans.dump(kept, job.sha256)))
            _store(job, kept.plan, data)
        else:
            await _commit(session_maker, actor, job, path, reporter, today)
        if job.status == "running":
            job.status = "done"
    except Exception as exc:
        if is_connection_error(exc):
            raise  # left running: queued again once its heartbeat is stale (registry.jobs)
        log.exception("import %s failed", job_id)
        job.status = "failed"
        # Our own errors speak Chinese; a parser's or the database's English stays in the log.
        job.error = (
            exc.message[:2000]
            if isinstance(exc, RegistryError)
            else f"处理文件时出错（{type(exc).__name__}），未写入任何数据。请确认文件完好、格式与模板一致后重新上传；如仍出错请联系系统管理员。"
        )
    job.finished_at = clock.now()
    await reporter.save()
    return job


def _plan_path(path: Path) -> Path:
    return path.with_name(path.name + ".plan.json")


def _load_plan(path: Path, digest: str) -> plans.Kept | None:
    kept = _plan_path(path)
    return plans.load(kept.read_bytes(), digest) if kept.exists() else None


async def _reuse(session: AsyncSession, actor: Actor, job: ImportJob, kept: plans.Kept, today: dt.date) -> Plan | None:
    """The dry run's plan, if everything its check saw is as it was (looked up again, locked)."""
    started = time.perf_counter()
    found = await lookups(session, kept.keys, lock=True)
    same = await asyncio.to_thread(plans.fingerprint, found, actor, today, job.sha256) == kept.fingerprint
    log.debug(
        "import %s: looked up again %.2f s, %s",
        job.id,
        time.perf_counter() - started,
        "unchanged" if same else "changed",
    )
    return kept.plan if same else None


def _store(job: ImportJob, plan: Plan, data: FileData) -> None:
    # At most MAX_STORED_PROBLEMS kept; the count is of all of them.
    job.problems = list(plan.problems)
    job.problem_count = problem_total(plan.problems)
    job.summary = plan.summary(data)


async def _commit(
    session_maker: async_sessionmaker[AsyncSession],
    actor: Actor,
    job: ImportJob,
    path: Path,
    reporter: _Reporter,
    today: dt.date,
) -> None:
    # The dry run's plan, if it kept one; the file is read again only if the check must run again.
    kept = await asyncio.to_thread(_load_plan, path, job.sha256)
    data = None if kept is not None else await _read(path, job, reporter)
    if kept is not None:
        job.total_rows = job.processed_rows = kept.plan.rows
    await reporter.stage("checking")
    async with session_maker() as session:
        try:
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK})
            plan = await _reuse(session, actor, job, kept, today) if kept is not None else None
            if plan is not None:
                await reporter.advance(plan.rows)
            else:
                if data is None:
                    data = await _read(path, job, reporter)
                plan = (
                    await check_data(
                        session, actor, data, today=today, digest=job.sha256, tick=reporter.advance, lock=True
                    )
                ).plan
            if plan.problems:
                # The registry changed since the dry run: nothing is written, the problems are shown.
                assert data is not None  # a kept plan has none
                await session.rollback()
                _store(job, plan, data)
                job.status = "failed"
                job.error = (
                    f"提交前复查发现 {problem_total(plan.problems)} 处问题（库中数据在检查后有变化），未写入任何数据。"
                )
                return
            await reporter.stage("writing")
            job.total_rows = max(1, sum(len(w) for w in plan.writes.values()))
            await write_plan(session, actor, job.id, plan, today=today, tick=reporter.advance)
            started = time.perf_counter()
            await session.commit()
            log.debug("import %s: commit %.2f s", job.id, time.perf_counter() - started)
        except BaseException:
            with contextlib.suppress(Exception):
                await session.rollback()
            raise
    job.total_rows = job.processed_rows = plan.rows
    job.committed_at = clock.now()
    if data is not None:  # else the plan, its problems (none) and its summary are the dry run's
        _store(job, plan, data)


async def delete_expired_files(
    session_maker: async_sessionmaker[AsyncSession], settings: Settings, *, now: dt.datetime | None = None
) -> int:
    """Deletes the uploaded files of jobs that ended more than the retention period ago."""
    cutoff = (now or clock.now()) - dt.timedelta(days=settings.import_retention_days)
    async with session_maker() as session:
        names = (
            await session.scalars(
                select(ImportJob.stored_name).where(
                    ImportJob.status.in_(("done", "failed")), ImportJob.finished_at < cutoff
                )
            )
        ).all()
    folder = import_dir(settings)
    deleted = 0
    for name in names:
        path = folder / name
        if name and path.exists():
            path.unlink(missing_ok=True)
            deleted += 1
        if name:  # what the dry run kept beside it (rows: kept by earlier versions)
            _plan_path(path).unlink(missing_ok=True)
            path.with_name(name + ".rows.json").unlink(missing_ok=True)
    return deleted


def summary_lines(job: ImportJob) -> list[str]:
    """The outcome in words, for the command line."""
    from registry.imports.sheets import KIND_LABELS

    lines: list[str] = []
    counts: dict[str, Any] = (job.summary or {}).get("counts", {})
    for kind, c in counts.items():
        lines.append(f"{KIND_LABELS.get(kind, kind)}：新增 {c['created']}，更新 {c['updated']}，不变 {c['unchanged']}")
    return lines
