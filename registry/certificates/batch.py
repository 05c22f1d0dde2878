"""Batch issuing: one kind of certificate for everyone eligible in a region, as a job.

Two phases, both reported as progress: judging (the evaluator over each person, issuing and
signing in the database, committed a chunk at a time) and rendering (in the worker processes,
several certificates per task, written to one ZIP of PDFs or one merged PDF in the data folder).
The same function serves the API (as a background task) and the command line (with a progress
bar); a job left running by a stopped server is marked failed when the next one starts.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import logging
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry import clock
from registry.accounts.actor import Actor, Forbidden, practitioner_scope
from registry.audit.service import record
from registry.certificates import pool, render
from registry.certificates.schemas import BatchCreate, BatchRead
from registry.certificates.service import (
    CertContext,
    issue_for,
    parse_period,
    require_batch_role,
    statement_for,
)
from registry.db import is_connection_error
from registry.errors import Conflict, InvalidInput, NotFound, RegistryError
from registry.models import CertificateBatch, IssuedCertificate, Practitioner
from registry.regions.codes import subtree_bounds
from registry.regions.service import require_region
from registry.rules.facts import load_facts_many
from registry.rules.service import rule_book

log = logging.getLogger("registry")

JUDGE_CHUNK = 200
MAX_SKIPPED_LISTED = 1000
# Certificates per rendering task, at most: bigger tasks share more set-up (one layout, fonts
# read once); more tasks keep every worker busy to the end.
RENDER_CHUNK = {"zip": 16, "pdf": 40}


def chunk_size(count: int, workers: int, cap: int) -> int:
    """The largest size up to ``cap`` that splits ``count`` into a multiple of ``workers`` tasks."""
    rounds = max(1, -(-count // (workers * cap)))
    return max(1, -(-count // (workers * rounds)))


Progress = Callable[[CertificateBatch], Awaitable[None] | None]


def batch_dir(ctx: CertContext) -> Path:
    return ctx.settings.data_dir / "certificate-batches"


def batch_read(batch: CertificateBatch) -> BatchRead:
    read = BatchRead.model_validate(batch)
    to_render = batch.issued + batch.reused
    judged = batch.judged / batch.total if batch.total else (1.0 if batch.status == "done" else 0.0)
    rendered = batch.rendered / to_render if to_render else (1.0 if batch.status == "done" else 0.0)
    read.progress = round(0.5 * judged + 0.5 * rendered, 4) if batch.status != "done" else 1.0
    if batch.status == "done" and batch.file_name:
        read.download_url = f"/api/certificate-batches/{batch.id}/download"
    return read


async def create_batch(
    session: AsyncSession, actor: Actor, data: BatchCreate, *, run_here: bool = False
) -> CertificateBatch:
    """Queue a job (the server's worker runs it), or with ``run_here`` mark it as taken by the
    caller (the command line runs it itself)."""
    require_batch_role(actor, data.kind)
    await require_region(session, data.region_code, "region_code")
    action = "batch_certify_allowance" if data.kind == "allowance" else "batch_certify"
    if not actor.may_on(action, region_code=data.region_code):
        raise InvalidInput.on_field("region_code", "out_of_scope", f"区划 {data.region_code} 不在您的管辖范围内。")
    if data.kind == "award":
        raise InvalidInput.on_field("kind", "kind_not_batchable", "奖励证明按奖励逐份出具，不能批量出具。")
    # The period is checked now, so that a mistyped month fails at once rather than in the job.
    period, _ = parse_period(data.kind, data.period, clock.today())
    batch = CertificateBatch(
        region_code=data.region_code,
        kind=data.kind,
        period=period,
        format=data.format,
        created_by_id=actor.user_id,
        status="running" if run_here else "queued",
    )
    session.add(batch)
    await session.flush()
    await record(
        session,
        actor,
        "create",
        "certificate_batch",
        batch.id,
        after={"region_code": data.region_code, "kind": data.kind, "period": period, "format": data.format},
        region_code=data.region_code,
    )
    return batch


async def get_batch(session: AsyncSession, actor: Actor, batch_id: int) -> CertificateBatch:
    if not (actor.may("batch_certify") or actor.may("batch_certify_allowance")):
        raise Forbidden("您的角色无权查看批量出具任务。")
    batch = await session.get(CertificateBatch, batch_id)
    action = "batch_certify_allowance" if batch is not None and batch.kind == "allowance" else "batch_certify"
    if batch is None or not (
        batch.created_by_id == actor.user_id or actor.may_on(action, region_code=batch.region_code)
    ):
        raise NotFound(f"批量出具任务 {batch_id} 不存在或不在您的管辖范围内。", code="batch_not_found")
    return batch


async def requeue_interrupted(
    session_maker: async_sessionmaker[AsyncSession], stale_after: dt.timedelta | None = None
) -> int:
    """Jobs a stopped process or an outage left running (no heartbeat for ``stale_after``,
    ``registry.jobs``) go back to the queue: running one again issues nothing twice
    (certificates already issued are reused) and renders the files afresh. Jobs another live
    process is running beat, and are left alone."""
    from registry.jobs import stale_after as default_stale

    stale = clock.now() - (stale_after or default_stale())
    async with session_maker() as session:
        result = await session.execute(
            update(CertificateBatch)
            .where(
                CertificateBatch.status == "running",
                func.coalesce(CertificateBatch.heartbeat_at, CertificateBatch.created_at) < stale,
            )
            .values(
                status="queued",
                judged=0,
                issued=0,
                reused=0,
                not_eligible=0,
                skipped=0,
                skipped_detail=[],
                rendered=0,
                total=0,
            )
        )
        await session.commit()
        return int(getattr(result, "rowcount", 0) or 0)


async def _save(
    session_maker: async_sessionmaker[AsyncSession], batch: CertificateBatch, progress: Progress | None
) -> None:
    batch.heartbeat_at = clock.now()
    async with session_maker() as session:
        await session.merge(batch)
        await session.commit()
    if progress is not None:
        result = progress(batch)
        if result is not None:
            await result


async def run_batch(
    session_maker: async_sessionmaker[AsyncSession],
    actor: Actor,
    ctx: CertContext,
    batch_id: int,
    progress: Progress | None = None,
) -> CertificateBatch:
    async with session_maker() as session:
        batch = await session.get(CertificateBatch, batch_id)
        if batch is None:
            raise NotFound(f"批量出具任务 {batch_id} 不存在。", code="batch_not_found")
        session.expunge(batch)
    try:
        batch.status = "running"
        await _save(session_maker, batch, progress)
        serials = await _judge(session_maker, actor, ctx, batch, progress)
        await _render(session_maker, ctx, batch, serials, progress)
        batch.status = "done"
    except Exception as exc:
        if is_connection_error(exc):
            raise  # left running: queued again once its heartbeat is stale (registry.jobs)
        log.exception("certificate batch %s failed", batch_id)
        batch.status = "failed"
        batch.error = str(exc)[:2000] or type(exc).__name__
    batch.finished_at = clock.now()
    await _save(session_maker, batch, progress)
    return batch


async def _judge(
    session_maker: async_sessionmaker[AsyncSession],
    actor: Actor,
    ctx: CertContext,
    batch: CertificateBatch,
    progress: Progress | None,
) -> list[str]:
    lo, hi = subtree_bounds(batch.region_code)
    async with session_maker() as session:
        ids = list(
            (
                await session.scalars(
                    select(Practitioner.id)
                    .where(Practitioner.region_code.between(lo, hi), practitioner_scope(actor, "read"))
                    .order_by(Practitioner.id)
                )
            ).all()
        )
    batch.total = len(ids)
    await _save(session_maker, batch, progress)
    serials: list[str] = []
    for start in range(0, len(ids), JUDGE_CHUNK):
        async with session_maker() as session:
            book = await rule_book(session)
            people = (
                await session.scalars(
                    select(Practitioner)
                    .where(Practitioner.id.in_(ids[start : start + JUDGE_CHUNK]))
                    .order_by(Practitioner.id)
                    .with_for_update()
                )
            ).all()
            everyone = await load_facts_many(session, people)
            for person in people:
                period, content = await statement_for(
                    session, person, batch.kind, batch.period, None, facts=everyone[person.id], book=book
                )
                if content.decision.outcome is not True:
                    batch.not_eligible += 1
                    continue
                try:
                    # One person's problem (a record changed since their certificate, a name no
                    # font can print) is theirs alone: listed, and the batch goes on.
                    async with session.begin_nested():
                        cert, created = await issue_for(
                            session, actor, ctx, person, batch.kind, period, content, batch_id=batch.id
                        )
                except RegistryError as exc:
                    batch.skipped += 1
                    if len(batch.skipped_detail) < MAX_SKIPPED_LISTED:
                        batch.skipped_detail = [
                            *batch.skipped_detail,
                            {
                                "practitioner_id": person.id,
                                "name": person.name,
                                "code": exc.code,
                                "reason": exc.message,
                            },
                        ]
                    continue
                serials.append(cert.serial)
                if created:
                    batch.issued += 1
                else:
                    batch.reused += 1
            await session.commit()
        batch.judged = min(len(ids), start + JUDGE_CHUNK)
        await _save(session_maker, batch, progress)
    return serials


async def _render(
    session_maker: async_sessionmaker[AsyncSession],
    ctx: CertContext,
    batch: CertificateBatch,
    serials: list[str],
    progress: Progress | None,
) -> None:
    folder = batch_dir(ctx)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"certificates-{batch.region_code}-{batch.kind}-{batch.period}-{batch.id}.{batch.format}"
    target = folder / name
    partial = target.with_suffix(target.suffix + ".part")
    size = chunk_size(
        len(serials), pool.size() or pool.default_workers(ctx.settings.render_workers), RENDER_CHUNK[batch.format]
    )
    chunks: list[list[tuple[str, str, str]]] = []
    manifest: list[list[str]] = []
    async with session_maker() as session:
        for start in range(0, len(serials), size):
            rows = (
                await session.scalars(
                    select(IssuedCertificate)
                    .where(IssuedCertificate.serial.in_(serials[start : start + size]))
                    .order_by(IssuedCertificate.id)
                )
            ).all()
            chunks.append([(r.snapshot, r.signature, r.qr_payload) for r in rows])
            for r in rows:
                snap = json.loads(r.snapshot)
                manifest.append(
                    [
                        r.serial,
                        snap["holder"]["name"],
                        snap["holder"]["id_masked"],
                        snap["kind_label"],
                        r.period,
                        snap["headline"],
                        "已出具",
                    ]
                )
    manifest += [
        [
            "",
            str(s["name"]),
            "",
            render.KIND_LABELS[batch.kind],
            batch.period,
            "",
            f"未出具：{s['reason']}",
        ]
        for s in batch.skipped_detail
    ]
    fn = render.render_separately if batch.format == "zip" else render.render_together
    loop = asyncio.get_running_loop()
    executor = pool.pool(ctx.settings.render_workers)
    # No more tasks in flight than workers: a holder's single download queued meanwhile waits
    # for one task at most, not for the whole province.
    slots = asyncio.Semaphore(pool.size())

    async def rendered(chunk: list[tuple[str, str, str]]) -> Any:
        async with slots:
            return await loop.run_in_executor(executor, fn, chunk)

    futures = [asyncio.ensure_future(rendered(chunk)) for chunk in chunks]
    if batch.format == "zip":
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
            for chunk, future in zip(chunks, futures, strict=True):
                pdfs: Any = await future
                for (snapshot, _, _), data in zip(chunk, pdfs, strict=True):
                    archive.writestr(json.loads(snapshot)["serial"] + ".pdf", data)
                batch.rendered += len(chunk)
                await _save(session_maker, batch, progress)
            archive.writestr("清单.csv", _manifest_csv(manifest))
    else:
        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter()
        for chunk, future in zip(chunks, futures, strict=True):
            data = await future
            part = PdfReader(io.BytesIO(data))
            writer.append(part)
            # append() takes the pages, not the embedded files: the signed snapshots come along
            # so that the merged file can be checked offline like a single certificate.
            for attachment, blobs in part.attachments.items():
                writer.add_attachment(attachment, blobs[0])
            batch.rendered += len(chunk)
            await _save(session_maker, batch, progress)
        writer.add_metadata(
            {"/Title": f"{render.KIND_LABELS[batch.kind]}（{batch.period}）", "/Creator": "社会工作人才库"}
        )
        with partial.open("wb") as out:
            writer.write(out)
    partial.replace(target)
    batch.file_name = name
    batch.file_size = target.stat().st_size


def _manifest_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["证明编号", "姓名", "公民身份号码", "种类", "期间", "内容", "结果"])
    writer.writerows(rows)
    return "\ufeff".encode() + out.getvalue().encode()


def batch_file(ctx: CertContext, batch: CertificateBatch) -> Path:
    if batch.status != "done" or not batch.file_name:
        state = {"queued": "排队中", "running": "进行中", "failed": "已失败"}.get(batch.status, batch.status)
        raise Conflict(f"任务{state}，没有可下载的文件。", code="batch_not_ready")
    path = batch_dir(ctx) / batch.file_name
    if not path.exists():
        raise NotFound("任务的文件已不在数据目录中。", code="batch_file_missing")
    return path
