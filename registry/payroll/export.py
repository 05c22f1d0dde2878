"""CSV and XLSX of a payroll run, streamed from the database with memory flat in the rows.

CSV: UTF-8 with a byte-order mark, so that Excel and WPS open the Chinese correctly; the rows
are written by PostgreSQL (COPY … TO STDOUT, FORMAT csv) and streamed as they come.
XLSX: xlsxwriter in constant-memory mode, written batch by batch in a worker thread.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import tempfile
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import anyio
import xlsxwriter
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry.identity import mask_id_number
from registry.models import PayrollLine, PayrollRun, Region, User
from registry.schemas import LABELS

HEADERS = ["序号", "姓名", "身份证号", "证书等级", "证书编号", "单位", "区划", "月份", "金额", "依据"]
LEVEL_SHORT = {
    "assistant": "初级（助理社会工作师）",
    "intermediate": "中级（社会工作师）",
    "senior": "高级（高级社会工作师）",
}
BATCH = 2000


async def _rows(
    session_maker: async_sessionmaker[AsyncSession], run_id: int, full_ids: bool
) -> AsyncIterator[list[Any]]:
    async with session_maker() as session:
        result = await session.stream(
            select(
                PayrollLine.seq,
                PayrollLine.name,
                PayrollLine.id_number,
                PayrollLine.level,
                PayrollLine.certificate_number,
                PayrollLine.organization_name,
                Region.full_name,
                PayrollLine.region_code,
                PayrollLine.month,
                PayrollLine.kind,
                PayrollLine.corrects_month,
                PayrollLine.amount,
                PayrollLine.basis,
            )
            .outerjoin(Region, Region.code == PayrollLine.region_code)
            .where(PayrollLine.run_id == run_id)
            .order_by(PayrollLine.seq)
            .execution_options(yield_per=BATCH)
        )
        async for r in result:
            month = f"{r.month:%Y-%m}"
            if r.kind == "adjustment" and r.corrects_month:
                month += f"（更正 {r.corrects_month:%Y-%m}）"
            yield [
                r.seq,
                r.name,
                r.id_number if full_ids else mask_id_number(r.id_number),
                LEVEL_SHORT.get(r.level, LABELS.get(r.level, r.level)),
                r.certificate_number,
                r.organization_name,
                r.full_name or r.region_code,
                month,
                r.amount,
                r.basis,
            ]


def _inert(value: Any) -> Any:
    """Free text that a spreadsheet would run as a formula (=, +, -, @) gets a leading quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


# The CSV rows are written by the server: COPY (SELECT …) TO STDOUT streams several times faster
# than rows decoded into Python and written with the csv module. The SELECT gives every cell as
# _rows and _inert give it (tests/test_payroll.py compares the two cell by cell):
# - _inert: a text cell whose first character is = + - @ tab or CR (code points 61 43 45 64 9 13;
#   ascii() is the first code point, 0 for '') gets a leading '. The full ID too, before it is
#   wrapped in ="…": Excel and WPS read an 18-digit number as a float and lose the last digits,
#   written as a formula they show the digits as text (masked numbers are text anyway);
# - mask_id_number: all stars under 8 characters, else the first 4, stars, the last 4;
# - the label of every known level comes in $3, already made inert; an unknown level is itself;
# - the region's full name unless NULL or '', else the code; the month YYYY-MM, with （更正 YYYY-MM）
#   for an adjustment; the amount as PostgreSQL prints the numeric (str(Decimal) prints the same).
# $1 run, $2 full_ids, $3 labels: COPY takes no parameters, so asyncpg has the server quote each
# value as a literal and puts it in place of its $n (this text must hold no other $).
_COPY_SQL = """
SELECT l.seq,
  CASE WHEN ascii(l.name) IN (9, 13, 43, 45, 61, 64) THEN '''' || l.name ELSE l.name END,
  CASE
    WHEN $2::boolean THEN '="'
      || CASE WHEN ascii(l.id_number) IN (9, 13, 43, 45, 61, 64) THEN '''' ELSE '' END
      || l.id_number || '"'
    WHEN length(l.id_number) < 8 THEN repeat('*', length(l.id_number))
    ELSE CASE WHEN ascii(l.id_number) IN (9, 13, 43, 45, 61, 64) THEN '''' ELSE '' END
      || left(l.id_number, 4) || repeat('*', length(l.id_number) - 8) || right(l.id_number, 4)
  END,
  coalesce(
    $3::text::jsonb ->> l.level,
    CASE WHEN ascii(l.level) IN (9, 13, 43, 45, 61, 64) THEN '''' || l.level ELSE l.level END
  ),
  CASE WHEN ascii(l.certificate_number) IN (9, 13, 43, 45, 61, 64)
    THEN '''' || l.certificate_number ELSE l.certificate_number END,
  CASE WHEN ascii(l.organization_name) IN (9, 13, 43, 45, 61, 64)
    THEN '''' || l.organization_name ELSE l.organization_name END,
  CASE
    WHEN r.full_name <> '' THEN
      CASE WHEN ascii(r.full_name) IN (9, 13, 43, 45, 61, 64) THEN '''' || r.full_name ELSE r.full_name END
    WHEN ascii(l.region_code) IN (9, 13, 43, 45, 61, 64) THEN '''' || l.region_code
    ELSE l.region_code
  END,
  CASE
    WHEN l.kind = 'adjustment' AND l.corrects_month IS NOT NULL
      THEN to_char(l.month, 'YYYY-MM') || '（更正 ' || to_char(l.corrects_month, 'YYYY-MM') || '）'
    ELSE to_char(l.month, 'YYYY-MM')
  END,
  l.amount,
  CASE WHEN ascii(l.basis) IN (9, 13, 43, 45, 61, 64) THEN '''' || l.basis ELSE l.basis END
FROM payroll_line l LEFT JOIN region r ON r.code = l.region_code
WHERE l.run_id = $1
ORDER BY l.seq
"""
_LEVEL_CELLS = json.dumps(
    {level: _inert(LEVEL_SHORT.get(level, LABELS.get(level, level))) for level in sorted({*LABELS, *LEVEL_SHORT})},
    ensure_ascii=False,
)
QUEUE_CHUNKS = 8  # chunks (one socket read each, some 64-256 KiB) between the COPY and the client
CLEANUP_SECONDS = 30.0


class _Crlf:
    """PostgreSQL ends CSV rows with LF; the export has always used CRLF. An LF inside a quoted
    cell is data and stays: quotes inside a cell are doubled, so a byte is inside a cell exactly
    when an odd number of quotes come before it in the whole output. asyncpg hands over
    bytearrays and Litestar wants bytes, so the chunk is copied anyway: measured on 58 MiB, the
    CRLF costs some 5-10 % of the export, about what LF plus that copy costs."""

    def __init__(self) -> None:
        self.quoted = False

    def __call__(self, chunk: bytes | bytearray) -> bytes:
        if not self.quoted and b'"' not in chunk:
            return bytes(chunk.replace(b"\n", b"\r\n"))
        parts: list[bytes | bytearray] = list(chunk.split(b'"'))
        outside = 1 if self.quoted else 0  # parts alternate: outside a cell's quotes, inside
        if len(parts) % 2 == 0:
            self.quoted = not self.quoted
        if b"\n" not in b"".join(parts[1 - outside :: 2]):
            return bytes(chunk.replace(b"\n", b"\r\n"))
        for i in range(outside, len(parts), 2):
            parts[i] = parts[i].replace(b"\n", b"\r\n")
        return b'"'.join(parts)


async def csv_chunks(
    session_maker: async_sessionmaker[AsyncSession], run_id: int, *, full_ids: bool
) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(HEADERS)
    yield "\ufeff".encode() + buffer.getvalue().encode()

    queue: asyncio.Queue[bytes | bytearray | Exception | None] = asyncio.Queue(maxsize=QUEUE_CHUNKS)
    stopping = asyncio.Event()
    session = session_maker()
    driver: Any = None
    task: asyncio.Task[None] | None = None

    async def sink(chunk: bytes | bytearray) -> None:
        # While the queue is full, asyncpg stops reading the socket and the server waits:
        # backpressure instead of the whole run piling up in memory.
        if not stopping.is_set():
            await queue.put(chunk)

    async def pump() -> None:
        try:
            await driver.copy_from_query(_COPY_SQL, run_id, full_ids, _LEVEL_CELLS, output=sink, format="csv")
        except Exception as exc:  # the reader raises it; once stopping, it is the cancel we sent
            if not stopping.is_set():
                await queue.put(exc)
        else:
            if not stopping.is_set():
                await queue.put(None)

    try:
        # Shielded: a cancel (client gone) in the middle of checking out the connection or of
        # SQLAlchemy's BEGIN/SAVEPOINT leaves the connection invalid; it lands on the queue instead.
        with anyio.CancelScope(shield=True):
            conn = await session.connection()
            # Through SQLAlchemy first, so that its transaction is open (BEGIN, or the tests'
            # SAVEPOINT) and closing the session rolls it back whatever happens to the COPY.
            await conn.execute(text("SET LOCAL application_name = 'registry payroll export'"))
            driver = (await conn.get_raw_connection()).driver_connection
            task = asyncio.create_task(pump())
        crlf = _Crlf()
        while (item := await queue.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield crlf(item)
    finally:
        # Also when the reader went away: the generator closed, or cancelled by Litestar's cancel
        # scope on a client disconnect (which cancels every await until the scope is left), hence
        # shielded. The COPY must have ended before the connection goes back to the pool.
        with anyio.CancelScope(shield=True):
            if task is not None and not task.done():
                with anyio.move_on_after(CLEANUP_SECONDS):
                    await _stop_copy(driver, task, queue, stopping)
                if not task.done():
                    task.cancel()
                    await session.invalidate()  # stuck mid-COPY: closed, not reused
            await session.close()


async def _stop_copy(
    driver: Any,
    task: asyncio.Task[None],
    queue: asyncio.Queue[bytes | bytearray | Exception | None],
    stopping: asyncio.Event,
) -> None:
    """Stop a COPY whose reader went away, leaving the connection idle.

    Not by cancelling the task: asyncpg then sends the server a cancel request, but takes the next
    batch of COPY data for the server's answer and lets the next statement through while the COPY
    is still on the wire, and the rollback fails ("another operation is in progress"; measured,
    not every time). Instead the COPY goes on being read, into nothing, until the server ends it
    on the same cancel request (which asyncpg sends the same way) or it is done.
    """
    stopping.set()
    while not queue.empty():  # frees the sink if it waits on a full queue
        queue.get_nowait()
    cancel = getattr(driver, "_cancel_current_command", None)  # private API of asyncpg; else drained
    if cancel is not None:
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        cancel(sent)
        await sent
    await asyncio.wait({task})


async def run_metadata(session: AsyncSession, run: PayrollRun) -> list[tuple[str, str]]:
    async def who(user_id: int | None) -> str:
        if user_id is None:
            return ""
        name = await session.scalar(select(User.display_name).where(User.id == user_id))
        return f"{name}（{user_id}）"

    region = await session.scalar(select(Region.full_name).where(Region.code == run.region_code))
    labels = {"draft": "草稿", "submitted": "已提交", "approved": "已批准", "closed": "已关闭"}
    return [
        ("批次号", str(run.id)),
        ("区划", f"{region}（{run.region_code}）"),
        ("月份", f"{run.month:%Y-%m}"),
        ("截止日", run.cutoff.isoformat()),
        ("状态", labels[run.status]),
        ("编制人", await who(run.prepared_by_id)),
        ("提交人", await who(run.submitted_by_id)),
        ("审批人", await who(run.approved_by_id)),
        ("审批时间", run.approved_at.isoformat() if run.approved_at else ""),
        ("关闭人", await who(run.closed_by_id)),
        ("人数（行数）", str(run.line_count)),
        ("合计金额（元）", f"{run.total_amount:.2f}"),
        ("规则版本", "，".join(f"{k} v{v}" for k, v in sorted(run.rule_versions.items()))),
        ("上一批次哈希", run.previous_hash or ""),
        ("本批次哈希（SHA-256）", run.content_hash or "（关闭后生成）"),
    ]


async def write_xlsx(
    session_maker: async_sessionmaker[AsyncSession],
    run_id: int,
    metadata: list[tuple[str, str]],
    *,
    full_ids: bool,
) -> str:
    """Write the workbook to a temporary file and return its path (the caller deletes it)."""
    fd, path = tempfile.mkstemp(suffix=".xlsx", prefix="payroll-")
    os.close(fd)
    book = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet("发放明细")
    meta = book.add_worksheet("批次信息")
    bold = book.add_format({"bold": True, "bg_color": "#F2F2F2", "border": 1})
    money = book.add_format({"num_format": "#,##0.00"})
    money_bold = book.add_format({"num_format": "#,##0.00", "bold": True})
    text_fmt = book.add_format({"num_format": "@"})
    widths = [6, 10, 21, 22, 16, 28, 26, 20, 12, 80]
    for col, width in enumerate(widths):
        sheet.set_column(col, col, width)
    sheet.write_row(0, 0, HEADERS, bold)
    sheet.freeze_panes(1, 0)

    def write_batch(start: int, batch: list[list[Any]]) -> None:
        for offset, row in enumerate(batch):
            r = start + offset
            for col, value in enumerate(row):
                if col == 8:
                    sheet.write_number(r, col, float(value), money)
                elif col == 0:
                    sheet.write_number(r, col, value)
                else:
                    sheet.write_string(r, col, str(value), text_fmt if col in (2, 4) else None)

    row_no = 1
    total = Decimal(0)
    batch: list[list[Any]] = []
    async for row in _rows(session_maker, run_id, full_ids):
        batch.append(row)
        total += row[8]
        if len(batch) >= BATCH:
            await anyio.to_thread.run_sync(write_batch, row_no, batch)
            row_no += len(batch)
            batch = []
    if batch:
        await anyio.to_thread.run_sync(write_batch, row_no, batch)
        row_no += len(batch)

    def finish() -> None:
        sheet.write_string(row_no, 1, "合计", bold)
        formula = f"=SUM(I2:I{row_no})" if row_no > 1 else "=0"
        sheet.write_formula(row_no, 8, formula, money_bold, float(total))
        meta.set_column(0, 0, 22)
        meta.set_column(1, 1, 90)
        for i, (key, value) in enumerate(metadata):
            meta.write_string(i, 0, key, bold)
            meta.write_string(i, 1, value)
        book.close()

    await anyio.to_thread.run_sync(finish)
    return path
