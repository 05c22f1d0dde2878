"""CSV and XLSX of a payroll run, streamed from the database with memory flat in the rows.

CSV: UTF-8 with a byte-order mark, so that Excel and WPS open the Chinese correctly; the rows
are written by PostgreSQL (COPY … TO STDOUT, FORMAT csv) and streamed as they come.
XLSX: xlsxwriter in constant-memory mode, written batch by batch in a worker thread.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import csv
import datetime as dt
import io
import json
import os
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import anyio
import xlsxwriter
from litestar.background_tasks import BackgroundTask
from litestar.response import File, Stream
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry import clock
from registry.errors import FieldError, InvalidInput
from registry.identity import mask_id_number
from registry.models import PayrollLine, PayrollRun, Region, User
from registry.payroll.capitals import rmb_capitals
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


def _csv_line(cells: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()


async def csv_chunks(
    session_maker: async_sessionmaker[AsyncSession],
    run_id: int,
    *,
    full_ids: bool,
    encoding: str = "utf-8",
    total: tuple[int, Decimal] | None = None,
) -> AsyncIterator[bytes]:
    """The run as CSV: UTF-8 with a byte-order mark, or GBK (no mark; the caller has checked with
    ``gbk_problems`` that every character has a GBK code, and the encoder is strict anyway, so a
    character without one stops the export rather than turning into '?'). ``total``: the line
    count and the sum, written as a last 合计 line (off by default, for machine readers)."""
    if encoding == "gbk":
        decoder = codecs.getincrementaldecoder("utf-8")()

        def encode(chunk: bytes) -> bytes:
            return decoder.decode(chunk).encode("gbk")

        yield _csv_line(HEADERS).encode("gbk")
    else:

        def encode(chunk: bytes) -> bytes:
            return chunk

        yield "\ufeff".encode() + _csv_line(HEADERS).encode()
    # Closed with this generator: a reader that goes away stops the COPY there and then.
    async with contextlib.aclosing(_copy_chunks(session_maker, run_id, full_ids=full_ids)) as chunks:
        async for chunk in chunks:
            yield encode(chunk)
    if total is not None:
        line = _csv_line(["", "合计", "", "", "", "", "", "", f"{total[1]:.2f}", f"共 {total[0]} 行"])
        yield line.encode("gbk" if encoding == "gbk" else "utf-8")


async def _copy_chunks(
    session_maker: async_sessionmaker[AsyncSession], run_id: int, *, full_ids: bool
) -> AsyncGenerator[bytes]:
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


# --- GBK ----------------------------------------------------------------------------------------

# Characters certainly in GBK (ASCII, the CJK Unified Ideographs GBK holds, CJK punctuation and
# full-width forms): a line made only of these needs no closer look. The others (rare-name
# characters of the extensions such as 䶮, emoji, some symbols) are tried with Python's encoder.
_SURELY_GBK = "[^\\x01-\\x7e\\u4e00-\\u9fa5\\u3000-\\u303f\\uff01-\\uff5e]"
_GBK_SUSPECTS_SQL = """
SELECT l.seq, l.name, l.level, l.certificate_number, l.organization_name, r.full_name, l.basis
FROM payroll_line l LEFT JOIN region r ON r.code = l.region_code
WHERE l.run_id = :run
  AND concat(l.name, l.level, l.certificate_number, l.organization_name, r.full_name, l.basis) ~ :pattern
ORDER BY l.seq
"""
_GBK_COLUMNS = {1: ("name", "姓名"), 2: ("level", "证书等级"), 3: ("certificate_number", "证书编号")}
_GBK_COLUMNS |= {4: ("organization_name", "单位"), 5: ("region", "区划"), 6: ("basis", "依据")}
GBK_LISTED = 50


def not_gbk(value: str | None) -> str:
    out = ""
    for char in value or "":
        try:
            char.encode("gbk")
        except UnicodeEncodeError:
            if char not in out:
                out += char
    return out


async def gbk_problems(session: AsyncSession, run_id: int) -> list[FieldError]:
    """Every line with a character that GBK cannot hold, by line and column (before any export)."""
    problems: list[FieldError] = []
    for row in await session.execute(text(_GBK_SUSPECTS_SQL), {"run": run_id, "pattern": _SURELY_GBK}):
        for index, (column, label) in _GBK_COLUMNS.items():
            bad = not_gbk(row[index])
            if bad:
                problems.append(
                    FieldError(
                        f"lines.{row.seq}.{column}",
                        "not_in_gbk",
                        f"第 {row.seq} 行（{row.name}）{label}中的“{bad}”在 GBK 中没有编码",
                    )
                )
    return problems


def gbk_refusal(problems: list[FieldError]) -> InvalidInput:
    listed = "；".join(p.message for p in problems[:GBK_LISTED])
    more = f"；另有 {len(problems) - GBK_LISTED} 处" if len(problems) > GBK_LISTED else ""
    return InvalidInput(
        f"有 {len(problems)} 处文字无法用 GBK 表示，未导出（不会用“?”代替）：{listed}{more}。"
        "请改用 UTF-8 导出，或先核对这些行。",
        code="not_in_gbk",
        errors=problems,
    )


# --- the printable XLSX (发放表) -------------------------------------------------------------------

STATUS_LABELS = {"draft": "草稿", "submitted": "已提交", "approved": "已批准", "closed": "已关闭"}
SHEET_HEADERS = ["序号", "姓名", "身份证号", "证书等级", "证书编号", "单位", "区划", "月份", "金额", "依据"]
SHEET_WIDTHS = [6, 9, 20, 21, 16, 26, 20, 9, 12, 24]
MONEY_COL = 8
FIRST_LINE_ROW = 3  # title, run line, headings above (0-based rows)
# Up to this many printed rows the sheet is scaled onto a single page; longer runs print one
# page wide on as many pages as they need.
ONE_PAGE_ROWS = 40
# The 依据全文 column, in widths of a Latin digit. Readers do not agree on measuring wrapped rows
# (LibreOffice keeps the file's row height), so each row's height is written: as many 15-point
# lines as the basis needs at two widths a CJK character (three UTF-8 bytes) and one for others.
BASIS_WIDTH = 120
LEVEL_PLAIN = {"assistant": "助理社会工作师", "intermediate": "社会工作师", "senior": "高级社会工作师"}

# The cells of a line as the sheet shows them, computed by the server and read with asyncpg
# (no ORM rows on the way): xlsxwriter writes strings as text, so nothing needs making inert.
# $1 run, $2 full_ids, $3 level labels, $4 plain level names, $5 widths a wrapped basis line holds.
# Lines grouped by employer.
_SHEET_SQL = """
SELECT l.seq, l.name,
  CASE
    WHEN $2::boolean THEN l.id_number
    WHEN length(l.id_number) < 8 THEN repeat('*', length(l.id_number))
    ELSE left(l.id_number, 4) || repeat('*', length(l.id_number) - 8) || right(l.id_number, 4)
  END,
  coalesce($3::text::jsonb ->> l.level, l.level),
  l.certificate_number,
  l.organization_name,
  coalesce(nullif(r.full_name, ''), l.region_code),
  to_char(l.month, 'YYYY-MM'),
  l.amount,
  CASE
    WHEN l.kind = 'adjustment' AND l.amount >= 0 THEN '补发 ' || to_char(l.corrects_month, 'YYYY-MM') || ' 津贴'
    WHEN l.kind = 'adjustment' THEN '扣回 ' || to_char(l.corrects_month, 'YYYY-MM') || ' 多发津贴'
    ELSE coalesce($4::text::jsonb ->> l.level, l.level) || '职业津贴'
  END,
  l.basis,
  l.organization_id,
  greatest(1, ceil((length(l.basis) + (octet_length(l.basis) - length(l.basis)) / 2.0) / $5::int))::int
FROM payroll_line l LEFT JOIN region r ON r.code = l.region_code
WHERE l.run_id = $1
ORDER BY l.organization_name COLLATE "C", l.organization_id, l.seq
"""
_LEVEL_LABELS = json.dumps(
    {k: LEVEL_SHORT.get(k, LABELS.get(k, k)) for k in {*LABELS, *LEVEL_SHORT}}, ensure_ascii=False
)
_LEVEL_PLAIN = json.dumps(LEVEL_PLAIN, ensure_ascii=False)


def sheet_query(run_id: int, *, full_ids: bool) -> tuple[Any, ...]:
    """The statement and arguments that give the sheet's cells of each line (also for bench.py)."""
    return (_SHEET_SQL, run_id, full_ids, _LEVEL_LABELS, _LEVEL_PLAIN, BASIS_WIDTH - 6)


def local_time(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A timestamp as people in China read it (Beijing time); '' for none."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(clock.CHINA).strftime(fmt)


@dataclass(frozen=True)
class SheetInfo:
    """What the sheet says besides the lines: title, run line, signatures, the 批次信息 sheet."""

    title: str
    subtitle: str
    preparer: str
    prepared_on: str
    approver: str
    approved_on: str
    metadata: list[tuple[str, str]]


async def sheet_info(session: AsyncSession, run: PayrollRun, *, full_ids: bool = False) -> SheetInfo:
    ids = [i for i in (run.prepared_by_id, run.submitted_by_id, run.approved_by_id, run.closed_by_id) if i]
    names: dict[int | None, str] = {
        row.id: row.display_name
        for row in await session.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    }

    def who(user_id: int | None) -> str:
        return f"{names.get(user_id, '')}（{user_id}）" if user_id is not None else ""

    region = await session.scalar(select(Region.full_name).where(Region.code == run.region_code))
    metadata = [
        ("批次号", str(run.id)),
        ("区划", f"{region}（{run.region_code}）"),
        ("月份", f"{run.month:%Y-%m}"),
        ("截止日", run.cutoff.isoformat()),
        ("状态", STATUS_LABELS[run.status]),
        ("编制人", who(run.prepared_by_id)),
        ("编制时间", local_time(run.created_at)),
        ("提交人", who(run.submitted_by_id)),
        ("提交时间", local_time(run.submitted_at)),
        ("审批人", who(run.approved_by_id)),
        ("审批时间", local_time(run.approved_at)),
        ("关闭人", who(run.closed_by_id)),
        ("关闭时间", local_time(run.closed_at)),
        ("人数（行数）", str(run.line_count)),
        ("合计金额（元）", f"{run.total_amount:.2f}"),
        ("合计金额（大写）", rmb_capitals(run.total_amount)),
        ("规则版本", "，".join(f"{k} v{v}" for k, v in sorted(run.rule_versions.items()))),
        ("上一批次哈希", run.previous_hash or ""),
        ("本批次哈希（SHA-256）", run.content_hash or "（关闭后生成）"),
        ("身份证号", "完整（导出已留痕）" if full_ids else "已遮蔽"),
        ("导出时间", local_time(clock.now()) + "（北京时间）"),
        ("时间说明", "本表所有时间均为北京时间（UTC+8）。"),
    ]
    return SheetInfo(
        title=f"{region or run.region_code} {run.month.year}年{run.month.month}月社会工作者职业津贴发放表",
        subtitle=(
            f"批次号：{run.id}　截止日：{run.cutoff.isoformat()}　状态：{STATUS_LABELS[run.status]}"
            f"　制表时间：{local_time(clock.now())}（北京时间）"
        ),
        preparer=names.get(run.prepared_by_id, "") if run.prepared_by_id else "",
        prepared_on=local_time(run.created_at, "%Y-%m-%d"),
        approver=names.get(run.approved_by_id, "") if run.approved_by_id else "",
        approved_on=local_time(run.approved_at, "%Y-%m-%d"),
        metadata=metadata,
    )


class _SheetWriter:
    """Writes the 发放明细 and 依据全文 sheets row by row (xlsxwriter's constant-memory mode)."""

    def __init__(self, path: str, info: SheetInfo) -> None:
        self.info = info
        self.book = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_numbers": False})
        book = self.book
        self.sheet = book.add_worksheet("发放明细")
        self.basis = book.add_worksheet("依据全文")
        self.meta = book.add_worksheet("批次信息")
        self.title_fmt = book.add_format({"bold": True, "font_size": 16, "align": "center", "valign": "vcenter"})
        self.head = book.add_format({"bold": True, "bg_color": "#F2F2F2", "border": 1, "align": "center"})
        self.money = book.add_format({"num_format": "#,##0.00", "border": 1})
        self.cell = book.add_format({"border": 1})
        self.text = book.add_format({"num_format": "@", "border": 1})
        self.sub_label = book.add_format({"bold": True, "border": 1, "bg_color": "#FAFAFA"})
        self.sub_money = book.add_format({"num_format": "#,##0.00", "bold": True, "border": 1, "bg_color": "#FAFAFA"})
        self.plain = book.add_format({})
        self.wrap = book.add_format({"text_wrap": True, "valign": "top", "border": 1})
        self.row = FIRST_LINE_ROW
        self.basis_row = 1
        self.group: tuple[Any, Any] | None = None
        self.group_start = self.row
        self.group_total = Decimal(0)
        self.group_lines = 0
        self.total = Decimal(0)
        self.lines = 0
        self._begin()

    def _begin(self) -> None:
        sheet, info, last = self.sheet, self.info, len(SHEET_HEADERS) - 1
        for col, width in enumerate(SHEET_WIDTHS):
            sheet.set_column(col, col, width)
        sheet.set_row(0, 28)
        sheet.merge_range(0, 0, 0, last, info.title, self.title_fmt)
        sheet.merge_range(1, 0, 1, last, info.subtitle, self.plain)
        sheet.write_row(2, 0, SHEET_HEADERS, self.head)
        sheet.freeze_panes(FIRST_LINE_ROW, 0)
        for ws in (sheet, self.basis):
            ws.set_landscape()
            ws.set_paper(9)  # A4
            ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
            ws.center_horizontally()
            ws.set_footer("&C第 &P 页 共 &N 页")
        sheet.repeat_rows(2)
        sheet.set_header(f"&L{info.title}")
        self.basis.set_column(0, 0, 6)
        self.basis.set_column(1, 1, 10)
        self.basis.set_column(2, 2, BASIS_WIDTH)
        self.basis.write_row(0, 0, ["序号", "姓名", "依据（全文）"], self.head)
        self.basis.repeat_rows(0)
        self.basis.freeze_panes(1, 0)
        self.basis.fit_to_pages(1, 0)

    def _subtotal(self) -> None:
        sheet, r = self.sheet, self.row
        sheet.write_string(r, 1, "小计", self.sub_label)
        for col in (0, 2, 3, 4, 6, 7, 9):
            sheet.write_blank(r, col, None, self.sub_label)
        sheet.write_string(r, 5, f"{self.group[1] if self.group else ''}（{self.group_lines} 行）", self.sub_label)
        sheet.write_formula(
            r, MONEY_COL, f"=SUBTOTAL(9,I{self.group_start + 1}:I{r})", self.sub_money, float(self.group_total)
        )
        self.row += 1

    def write_lines(self, batch: list[Any]) -> None:
        sheet, basis = self.sheet, self.basis
        text, cell, money, wrap = self.text, self.cell, self.money, self.wrap
        for line in batch:
            key = (line[11], line[5])
            if key != self.group:
                if self.group is not None:
                    self._subtotal()
                self.group, self.group_start, self.group_total, self.group_lines = key, self.row, Decimal(0), 0
            r = self.row
            amount = line[8]
            sheet.write_number(r, 0, line[0], cell)
            sheet.write_string(r, 1, line[1], cell)
            sheet.write_string(r, 2, line[2], text)
            sheet.write_string(r, 3, line[3], cell)
            sheet.write_string(r, 4, line[4], text)
            sheet.write_string(r, 5, line[5], cell)
            sheet.write_string(r, 6, line[6], cell)
            sheet.write_string(r, 7, line[7], cell)
            sheet.write_number(r, 8, float(amount), money)
            sheet.write_string(r, 9, line[9], cell)
            basis.write_number(self.basis_row, 0, line[0])
            basis.write_string(self.basis_row, 1, line[1])
            basis.set_row(self.basis_row, 15.0 * line[12])
            basis.write_string(self.basis_row, 2, line[10], wrap)
            self.row += 1
            self.basis_row += 1
            self.group_total += amount
            self.group_lines += 1
            self.total += amount
            self.lines += 1

    def finish(self) -> None:
        sheet, info, last = self.sheet, self.info, len(SHEET_HEADERS) - 1
        if self.group is not None:
            self._subtotal()
        r = self.row
        sheet.write_string(r, 1, "合计", self.sub_label)
        sheet.write_string(r, 5, f"共 {self.lines} 行", self.sub_label)
        # SUBTOTAL, not SUM: the organizations' subtotal rows inside the range are skipped.
        formula = f"=SUBTOTAL(9,I{FIRST_LINE_ROW + 1}:I{r})" if self.lines else "=0"
        sheet.write_formula(r, MONEY_COL, formula, self.sub_money, float(self.total))
        sheet.merge_range(r + 1, 0, r + 1, last, f"合计金额（大写）：人民币{rmb_capitals(self.total)}", self.plain)
        signatures = (
            (0, 3, f"制表人：{info.preparer or '________'}　日期：{info.prepared_on or '________'}"),
            (4, 6, f"审核人：{info.approver or '________'}　日期：{info.approved_on or '________'}"),
            (7, last, "负责人：________　日期：________"),
        )
        for first, end, value in signatures:
            sheet.merge_range(r + 3, first, r + 3, end, value, self.plain)
        printed = r + 4
        sheet.print_area(0, 0, printed - 1, last)
        sheet.fit_to_pages(1, 1 if printed <= ONE_PAGE_ROWS else 0)
        meta = self.meta
        meta.set_column(0, 0, 22)
        meta.set_column(1, 1, 90)
        for i, (key, value) in enumerate(info.metadata):
            meta.write_string(i, 0, key, self.head)
            meta.write_string(i, 1, value)
        meta.set_landscape()
        meta.set_paper(9)
        meta.fit_to_pages(1, 1)
        self.book.close()


async def write_xlsx(
    session_maker: async_sessionmaker[AsyncSession], run_id: int, info: SheetInfo, *, full_ids: bool
) -> str:
    """Write the workbook to a temporary file and return its path (the caller deletes it).

    The lines come from a server-side cursor in batches; while a worker thread writes one batch
    the next is being read, so the writer, not the database, sets the pace."""
    fd, path = tempfile.mkstemp(suffix=".xlsx", prefix="payroll-")
    os.close(fd)
    writer = await anyio.to_thread.run_sync(_SheetWriter, path, info)
    async with session_maker() as session:
        conn = await session.connection()
        await conn.execute(text("SET LOCAL application_name = 'registry payroll sheet'"))
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        cursor = await driver.cursor(*sheet_query(run_id, full_ids=full_ids))
        writing: asyncio.Future[None] | None = None
        try:
            while batch := await cursor.fetch(BATCH):
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(anyio.to_thread.run_sync(writer.write_lines, batch))
            if writing is not None:
                await writing
        except BaseException:
            if writing is not None:
                await asyncio.wait({writing})
            os.unlink(path)
            raise
    await anyio.to_thread.run_sync(writer.finish)
    return path


# --- responses (the API and the run page use the same) --------------------------------------------

ENCODINGS = ("utf-8", "gbk")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def file_name(run: PayrollRun, kind: str, ext: str, *, full_ids: bool, encoding: str = "utf-8") -> str:
    """payroll-420000-2026-09[-full-ids][-gbk].csv: a file holding full ID numbers says so."""
    parts = [kind, run.region_code, f"{run.month:%Y-%m}"]
    if full_ids:
        parts.append("full-ids")
    if encoding != "utf-8":
        parts.append(encoding)
    return "-".join(parts) + "." + ext


async def csv_response(
    session: AsyncSession,
    session_maker: async_sessionmaker[AsyncSession],
    actor: Any,
    run_id: int,
    *,
    full_ids: bool,
    reason: str | None,
    encoding: str,
    total: bool,
) -> Stream:
    from registry.payroll import service

    if encoding not in ENCODINGS:
        raise InvalidInput.on_field("encoding", "encoding_unknown", "编码只能是 utf-8 或 gbk。")
    run = await service.prepare_export(session, actor, run_id, "csv", full_ids=full_ids, reason=reason)
    if encoding == "gbk" and (problems := await gbk_problems(session, run.id)):
        raise gbk_refusal(problems)  # before anything is written, the audit row included
    await session.commit()  # the audit row of the export lands before the file leaves
    name = file_name(run, "payroll", "csv", full_ids=full_ids, encoding=encoding)
    return Stream(
        csv_chunks(
            session_maker,
            run.id,
            full_ids=full_ids,
            encoding=encoding,
            total=(run.line_count, run.total_amount) if total else None,
        ),
        media_type="text/csv",
        encoding=encoding,  # Litestar adds "; charset=…" to text types
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def xlsx_response(
    session: AsyncSession,
    session_maker: async_sessionmaker[AsyncSession],
    actor: Any,
    run_id: int,
    *,
    full_ids: bool,
    reason: str | None,
) -> File:
    from registry.payroll import service

    run = await service.prepare_export(session, actor, run_id, "xlsx", full_ids=full_ids, reason=reason)
    info = await sheet_info(session, run, full_ids=full_ids)
    await session.commit()
    path = await write_xlsx(session_maker, run.id, info, full_ids=full_ids)
    return File(
        path=path,
        filename=file_name(run, "payroll", "xlsx", full_ids=full_ids),
        media_type=XLSX_TYPE,
        background=BackgroundTask(os.unlink, path),
    )
