"""CSV and XLSX of a payroll run, streamed from the database with memory flat in the rows.

CSV: UTF-8 with a byte-order mark, so that Excel and WPS open the Chinese correctly.
XLSX: xlsxwriter in constant-memory mode, written batch by batch in a worker thread.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import anyio
import xlsxwriter
from sqlalchemy import select
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


async def csv_chunks(
    session_maker: async_sessionmaker[AsyncSession], run_id: int, *, full_ids: bool
) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADERS)
    yield "\ufeff".encode() + buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    count = 0
    async for row in _rows(session_maker, run_id, full_ids):
        row = [_inert(v) for v in row]
        if full_ids:
            # Excel and WPS read an 18-digit number as a float and lose the last digits; written
            # as a formula they show the digits as text. (Masked numbers are text anyway.)
            row[2] = f'="{row[2]}"'
        writer.writerow(row)
        count += 1
        if count % BATCH == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


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
