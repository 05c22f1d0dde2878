"""The bank-transfer list (代发工资批量明细) of an approved or closed payroll run: one line per
person with the net amount of their lines in the run, their full ID number and their current bank
account, in the columns of a layout from ``bank_layouts.toml``.

People without an account on the record are listed before any export (``missing_accounts``), and
an export is refused while there are any, naming them: a transfer list with holes is not sent.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import anyio
import xlsxwriter
from litestar.background_tasks import BackgroundTask
from litestar.response import File, Response
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor
from registry.errors import Conflict, FieldError, InvalidInput
from registry.models import PayrollRun
from registry.payroll import service
from registry.payroll.export import ENCODINGS, XLSX_TYPE, file_name, gbk_refusal, not_gbk

LAYOUTS_FILE = Path(__file__).with_name("bank_layouts.toml")
FIELDS = {
    "seq": "序号",
    "name": "户名",
    "id_number": "证件号码",
    "account_number": "收款账号",
    "bank_name": "开户银行",
    "amount": "金额",
    "memo": "摘要",
    "organization": "单位",
    "region": "区划",
}
TEXT_FIELDS = {"id_number", "account_number"}
MISSING_LISTED = 30


@dataclass(frozen=True)
class Layout:
    key: str
    label: str
    memo: str
    columns: tuple[tuple[str, str], ...]  # (field, heading)


def load_layouts(path: Path = LAYOUTS_FILE) -> dict[str, Layout]:
    """Every layout of the file, checked: a column names a known field and has a heading."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    layouts: dict[str, Layout] = {}
    for key, spec in raw.items():
        columns = tuple((str(c.get("field", "")), str(c.get("heading", "")).strip()) for c in spec.get("columns", []))
        unknown = [f for f, _ in columns if f not in FIELDS]
        if not columns or unknown or any(not h for _, h in columns):
            raise ValueError(f"{path.name} [{key}]: columns need a heading and one of {sorted(FIELDS)}: {unknown}")
        layouts[key] = Layout(key, str(spec.get("label", key)), str(spec.get("memo", "")), columns)
    if "default" not in layouts:
        raise ValueError(f"{path.name}: a [default] layout is required")
    return layouts


@lru_cache(maxsize=1)
def layouts() -> dict[str, Layout]:
    return load_layouts()


class BankLine(BaseModel):
    practitioner_id: int
    name: str
    id_number: str
    organization: str
    region: str
    amount: Decimal
    account_number: str | None
    bank_name: str | None


class MissingAccount(BaseModel):
    practitioner_id: int
    name: str
    organization: str
    amount: Decimal


# One line per person paid a positive net amount in the run (a clawback that outweighs the
# month's allowance pays nothing), with the person's latest account.
_BANK_SQL = """
WITH paid AS (
  SELECT l.practitioner_id, min(l.seq) AS seq, sum(l.amount) AS amount,
    (array_agg(l.name ORDER BY l.seq))[1] AS name,
    (array_agg(l.id_number ORDER BY l.seq))[1] AS id_number,
    (array_agg(l.organization_name ORDER BY l.seq))[1] AS organization,
    (array_agg(coalesce(nullif(r.full_name, ''), l.region_code) ORDER BY l.seq))[1] AS region
  FROM payroll_line l LEFT JOIN region r ON r.code = l.region_code
  WHERE l.run_id = :run
  GROUP BY l.practitioner_id
  HAVING sum(l.amount) > 0
)
SELECT p.practitioner_id, p.name, p.id_number, p.organization, p.region, p.amount,
  a.account_number, a.bank_name
FROM paid p
LEFT JOIN LATERAL (
  SELECT b.account_number, b.bank_name FROM bank_account b
  WHERE b.practitioner_id = p.practitioner_id ORDER BY b.id DESC LIMIT 1
) a ON true
ORDER BY p.seq
"""


async def bank_lines(session: AsyncSession, run_id: int) -> list[BankLine]:
    rows = await session.execute(text(_BANK_SQL), {"run": run_id})
    return [BankLine.model_validate(dict(r._mapping)) for r in rows]


async def missing_accounts(session: AsyncSession, actor: Actor, run_id: int) -> list[MissingAccount]:
    """Who in the run has no bank account on the record (to be listed before the export)."""
    await service.get_run(session, actor, run_id)
    return [
        MissingAccount(practitioner_id=x.practitioner_id, name=x.name, organization=x.organization, amount=x.amount)
        for x in await bank_lines(session, run_id)
        if x.account_number is None
    ]


def _missing_refusal(missing: list[BankLine]) -> InvalidInput:
    listed = "、".join(f"{x.name}（{x.organization}）" for x in missing[:MISSING_LISTED])
    more = f"等 {len(missing)} 人" if len(missing) > MISSING_LISTED else f"共 {len(missing)} 人"
    return InvalidInput(
        f"以下人员在档案中没有代发银行账户，未导出代发名单：{listed}，{more}。请先在其档案中登记银行账户（或通过表格导入）。",
        code="bank_accounts_missing",
        errors=[
            FieldError(
                f"practitioners.{x.practitioner_id}.bank_account", "bank_account_missing", f"{x.name} 没有银行账户"
            )
            for x in missing
        ],
    )


def _cells(layout: Layout, run: PayrollRun, lines: list[BankLine]) -> list[list[Any]]:
    memo = layout.memo.format(year=run.month.year, month=run.month.month)
    out = []
    for n, x in enumerate(lines, start=1):
        values: dict[str, Any] = {"seq": n, "memo": memo, **x.model_dump()}
        out.append([values[field] for field, _ in layout.columns])
    return out


async def prepare(
    session: AsyncSession, actor: Actor, run_id: int, fmt: str, *, layout: str, reason: str | None, encoding: str
) -> tuple[PayrollRun, Layout, list[list[Any]]]:
    """Check everything before anything is written: role, reason, state, accounts, characters;
    then record the reveal (one audit row) and give the cells."""
    chosen = layouts().get(layout)
    if chosen is None:
        raise InvalidInput.on_field("layout", "layout_unknown", f"没有名为“{layout}”的代发模板。")
    if encoding not in ENCODINGS:
        raise InvalidInput.on_field("encoding", "encoding_unknown", "编码只能是 utf-8 或 gbk。")
    # The role and the reason first; the reveal it records is rolled back with any refusal below.
    run = await service.prepare_export(
        session, actor, run_id, fmt, full_ids=True, reason=reason, list_kind="bank", layout=chosen.key
    )
    if run.status not in ("approved", "closed"):
        raise Conflict("代发名单只能在批次批准之后导出。", code="run_not_approved")
    lines = await bank_lines(session, run.id)
    missing = [x for x in lines if x.account_number is None]
    if missing:
        raise _missing_refusal(missing)
    cells = _cells(chosen, run, lines)
    if encoding == "gbk":
        problems = [
            FieldError(
                f"practitioners.{x.practitioner_id}.{field}", "not_in_gbk", f"{x.name} 的{FIELDS[field]}中的“{bad}”"
            )
            for x in lines
            for field in ("name", "bank_name", "organization", "region")
            if (bad := not_gbk(str(getattr(x, field))))
        ]
        if problems:
            raise gbk_refusal(problems)
    return run, chosen, cells


def _csv_bytes(layout: Layout, cells: list[list[Any]], encoding: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([heading for _, heading in layout.columns])
    writer.writerows(cells)
    body = buffer.getvalue()
    return body.encode("gbk") if encoding == "gbk" else "\ufeff".encode() + body.encode()


def _write_xlsx(path: str, layout: Layout, cells: list[list[Any]]) -> None:
    book = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet("代发明细")
    head = book.add_format({"bold": True, "bg_color": "#F2F2F2", "border": 1})
    as_text = book.add_format({"num_format": "@"})
    money = book.add_format({"num_format": "#,##0.00"})
    fields = [field for field, _ in layout.columns]
    for col, field in enumerate(fields):
        sheet.set_column(col, col, {"id_number": 21, "account_number": 24, "bank_name": 28, "memo": 30}.get(field, 12))
    sheet.write_row(0, 0, [heading for _, heading in layout.columns], head)
    sheet.freeze_panes(1, 0)
    for r, row in enumerate(cells, start=1):
        for col, (field, value) in enumerate(zip(fields, row, strict=True)):
            if field == "amount":
                sheet.write_number(r, col, float(value), money)
            elif field == "seq":
                sheet.write_number(r, col, value)
            else:
                sheet.write_string(r, col, str(value), as_text if field in TEXT_FIELDS else None)
    book.close()


async def bank_response(
    session: AsyncSession,
    actor: Actor,
    run_id: int,
    fmt: str,
    *,
    layout: str = "default",
    reason: str | None,
    encoding: str = "utf-8",
) -> Response[bytes] | File:
    run, chosen, cells = await prepare(session, actor, run_id, fmt, layout=layout, reason=reason, encoding=encoding)
    await session.commit()  # the reveal is on record before the file leaves
    name = file_name(run, "bank-transfer", fmt, full_ids=True, encoding=encoding if fmt == "csv" else "utf-8")
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "csv":
        return Response(
            _csv_bytes(chosen, cells, encoding), media_type="text/csv", encoding=encoding, headers=disposition
        )
    fd, path = tempfile.mkstemp(suffix=".xlsx", prefix="bank-")
    os.close(fd)
    await anyio.to_thread.run_sync(_write_xlsx, path, chosen, cells)
    return File(path=path, filename=name, media_type=XLSX_TYPE, background=BackgroundTask(os.unlink, path))
