"""The payroll sheets a finance office takes: the printable XLSX read back by LibreOffice (converted
to PDF, read with pdfinfo/pdftotext), amounts in Chinese capitals, the CSV in GBK, the full-ID
export with its reason, and the bank-transfer list."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from registry.payroll.capitals import rmb_capitals
from tests.accounts import bearer, make_token, make_user
from tests.problems import assert_problem
from tests.test_payroll import World, _build, close_run, create

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@pytest.fixture
async def world(session: AsyncSession) -> World:
    """tests/test_payroll.py's Hubei fixture: eleven people in five organizations, two clerks."""
    return await _build(session)


# --- amounts in capitals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "capitals"),
    [
        ("2000", "贰仟元整"),
        ("0", "零元整"),
        ("0.05", "伍分"),
        ("0.50", "伍角整"),
        ("1.05", "壹元零伍分"),
        ("10", "壹拾元整"),
        ("1005", "壹仟零伍元整"),
        ("10005", "壹万零伍元整"),
        ("100000", "壹拾万元整"),
        ("1000100", "壹佰万零壹佰元整"),
        ("10010000", "壹仟零壹万元整"),
        ("100010000", "壹亿零壹万元整"),
        ("1234.56", "壹仟贰佰叁拾肆元伍角陆分"),
        # 支付结算办法: a zero in the 万 or 元 place before a non-zero 千 or 角 may go unwritten
        # (its own examples: ¥107000.53 as 壹拾万柒仟元伍角叁分, ¥1680.32 as 壹仟陆佰捌拾元叁角贰分).
        ("905300.70", "玖拾万伍仟叁佰元柒角整"),
        ("107000.53", "壹拾万柒仟元伍角叁分"),
        ("1680.32", "壹仟陆佰捌拾元叁角贰分"),
        ("-100", "负壹佰元整"),
    ],
)
def test_amounts_in_chinese_capitals(amount: str, capitals: str) -> None:
    assert rmb_capitals(Decimal(amount)) == capitals


# --- the printable sheet -----------------------------------------------------------------------------


async def _run_with_lines(
    anonymous: httpx.AsyncClient, session: AsyncSession, w: World, count: int, *, closed: bool = True
) -> dict[str, Any]:
    """A Hubei run, approved and closed by the fixture's users, then grown to ``count`` lines by
    copying its lines (each copy a month of its own, so that nobody is paid twice a month)."""
    run = await create(anonymous, w.clerk, "420000", "2026-09")
    run_id = run["id"]
    n = run["line_count"]
    await session.execute(
        text(
            "INSERT INTO payroll_line (run_id, seq, kind, practitioner_id, name, id_number, level,"
            " certificate_number, organization_id, organization_name, region_code, month, amount, rule_id,"
            " rule_version, basis, findings, created_by_id)"
            " SELECT run_id, seq + k * :n, kind, practitioner_id, name, id_number, level, certificate_number,"
            " organization_id, organization_name, region_code, (month - make_interval(months => k * 12))::date,"
            " amount, rule_id, rule_version, basis, findings, created_by_id"
            " FROM payroll_line, generate_series(1, :copies) k WHERE run_id = :run AND seq + k * :n <= :count"
        ),
        {"n": n, "copies": count // n + 1, "run": run_id, "count": count},
    )
    await session.execute(
        text(
            "UPDATE payroll_run SET line_count = s.c, total_amount = s.t FROM"
            " (SELECT count(*) c, sum(amount) t FROM payroll_line WHERE run_id = :run) s WHERE id = :run"
        ),
        {"run": run_id},
    )
    await session.commit()
    return await close_run(anonymous, w, run_id) if closed else run


def _to_pdf(xlsx: Path, tmp_path: Path) -> tuple[list[str], str, list[str]]:
    """LibreOffice headless with a profile of its own (parallel runs do not share one), as a
    clerk prints the workbook: the pages of the 发放明细 sheet (those under its page header, the
    title), pdfinfo's output and the text of every page."""
    assert SOFFICE, "LibreOffice (soffice) is not installed: scripts/test installs libreoffice-calc-nogui"
    profile = tmp_path / "lo-profile"
    subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(xlsx),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    pdf = xlsx.with_suffix(".pdf")
    info = subprocess.run(
        ["pdfinfo", "-f", "1", "-l", "10000", str(pdf)], check=True, capture_output=True, text=True
    ).stdout
    count = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]
    body = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    pages = body.split("\f")[:count]
    assert len(pages) == count
    return [p for p in pages if "职业津贴发放表" in p], info, pages


async def _download(anonymous: httpx.AsyncClient, w: World, run_id: int, tmp_path: Path) -> Path:
    response = await anonymous.get(f"/api/payroll-runs/{run_id}/export.xlsx", headers=w.approver)
    assert response.status_code == 200, response.text
    path = tmp_path / "payroll.xlsx"
    path.write_bytes(response.content)
    return path


def _landscape_a4(info: str) -> list[str]:
    """Every page's size from pdfinfo: A4 landscape is 841.89 x 595.28 pts."""
    sizes = re.findall(r"^Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", info, re.M)
    return [f"{float(w):.0f}x{float(h):.0f}" for w, h in sizes]


async def test_sixteen_lines_print_on_one_landscape_page(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World, tmp_path: Path
) -> None:
    closed = await _run_with_lines(anonymous, session, world, 16)
    assert closed["line_count"] == 16
    xlsx = await _download(anonymous, world, closed["id"], tmp_path)
    sheet_pages, info, pages = _to_pdf(xlsx, tmp_path)
    assert len(sheet_pages) == 1, "\n---\n".join(pages)
    assert set(_landscape_a4(info)) == {"842x595"}
    page = sheet_pages[0]
    assert len(re.findall(r"\b\d{4}\*{10}[\dX]{4}\b", page)) == 16  # all 16 lines on it
    flat = re.sub(r"\s+", "", page)
    assert "湖北省2026年9月社会工作者职业津贴发放表" in flat
    assert f"批次号：{closed['id']}" in flat
    assert re.search(rf"第1页共{len(pages)}页", flat)
    total = Decimal(closed["total_amount"])
    assert f"人民币{rmb_capitals(total)}" in flat and rmb_capitals(total).endswith("元整")
    assert f"{total:,.2f}" in flat  # the grand total in figures
    # Signature lines with the names of who prepared and who approved, dated in Beijing time.
    assert re.search(r"制表人：hb-payroll日期：\d{4}-\d{2}-\d{2}", flat), flat
    assert re.search(r"审核人：hb-approver日期：\d{4}-\d{2}-\d{2}", flat), flat
    assert "负责人：" in flat
    assert "小计" in flat and "合计" in flat
    # The basis as one short phrase on the sheet; the full text on the second sheet.
    assert "职业津贴" in flat
    body = "\f".join(pages)
    assert not re.search(r"T\d\d:\d\d:\d\d", body) and "+00:00" not in body
    # The full basis is on a sheet of its own, wrapped, not cut at the page's edge.
    basis_pages = [p for p in pages if "依据（全文）" in p]
    basis = re.sub(r"\s+", "", "".join(basis_pages))
    assert basis.count("HB-ALW-100-200") == 16 and basis.count("登记有效期") == 16
    assert basis.count("（条次待核）") == 16  # each basis to its last words


async def test_a_thousand_lines_print_one_page_wide(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World, tmp_path: Path
) -> None:
    closed = await _run_with_lines(anonymous, session, world, 1000)
    assert closed["line_count"] == 1000
    xlsx = await _download(anonymous, world, closed["id"], tmp_path)
    sheet_pages, info, pages = _to_pdf(xlsx, tmp_path)
    assert set(_landscape_a4(info)) == {"842x595"}
    # One page wide: every page of the sheet has the first and the last heading (the heading row
    # repeated), so no columns were pushed onto pages of their own; every line printed once.
    assert 10 <= len(sheet_pages) <= 60, len(sheet_pages)
    for n, page in enumerate(sheet_pages, start=1):
        flat = re.sub(r"\s+", "", page)
        assert "序号姓名身份证号" in flat and "金额依据" in flat, page[:400]
        assert f"第{n}页共{len(pages)}页" in flat
    body = "\f".join(sheet_pages)
    assert len(re.findall(r"\b\d{4}\*{10}[\dX]{4}\b", body)) == 1000
    last = re.sub(r"\s+", "", sheet_pages[-1])
    assert f"人民币{rmb_capitals(Decimal(closed['total_amount']))}" in last and "制表人：" in last
    everything = "\f".join(pages)
    assert not re.search(r"T\d\d:\d\d:\d\d", everything) and "+00:00" not in everything


async def test_xlsx_keeps_its_cells_and_tells_local_time(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World, tmp_path: Path
) -> None:
    closed = await _run_with_lines(anonymous, session, world, 16)
    xlsx = await _download(anonymous, world, closed["id"], tmp_path)
    book = openpyxl.load_workbook(xlsx)
    assert book.sheetnames == ["发放明细", "依据全文", "批次信息"]
    sheet = book["发放明细"]
    assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.paperSize == 9
    # Fit to one page wide (1 is OOXML's default for fitToWidth, so the attribute may be left out).
    assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.page_setup.fitToWidth in (None, 1)
    assert sheet.print_title_rows == "$3:$3"
    assert "第 &P 页 共 &N 页" in sheet.oddFooter.center.text
    assert sheet.freeze_panes == "A4"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "湖北省 2026年9月社会工作者职业津贴发放表"
    lines = [r for r in rows[3:] if isinstance(r[0], int)]
    assert len(lines) == 16
    assert all(isinstance(r[8], int | float) and not isinstance(r[8], bool) for r in lines)  # numbers, not text
    assert all(str(r[2])[4:14] == "*" * 10 for r in lines)
    assert all(len(str(r[9])) <= 20 for r in lines)  # the short phrase
    subtotals = [i for i, r in enumerate(rows) if r[1] == "小计"]
    assert len(subtotals) >= 2
    total_row = next(i for i, r in enumerate(rows) if r[1] == "合计")
    assert str(rows[total_row][8]).startswith("=SUBTOTAL(9,I4:")
    assert sheet.cell(row=4, column=9).number_format == "#,##0.00"
    assert sheet.cell(row=4, column=3).number_format == "@"
    # Cached values for readers that do not calculate: the total and each organization's.
    values = openpyxl.load_workbook(xlsx, data_only=True)["发放明细"]
    assert Decimal(str(values.cell(row=total_row + 1, column=9).value)) == Decimal(closed["total_amount"])
    assert sum(Decimal(str(values.cell(row=i + 1, column=9).value)) for i in subtotals) == Decimal(
        closed["total_amount"]
    )
    basis = list(book["依据全文"].iter_rows(values_only=True))
    assert basis[0] == ("序号", "姓名", "依据（全文）") and len(basis) == 17
    assert all("HB-ALW-100-200" in str(r[2]) or "：" in str(r[2]) for r in basis[1:])
    meta = dict(book["批次信息"].iter_rows(values_only=True))
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", meta["审批时间"])
    approved_utc = (
        await session.execute(text("SELECT approved_at FROM payroll_run WHERE id = :id"), {"id": closed["id"]})
    ).scalar_one()
    # Beijing time is UTC+8 all year (no summer time).
    utc = approved_utc.replace(tzinfo=None) if approved_utc.tzinfo is None else approved_utc.astimezone(dt.UTC)
    assert meta["审批时间"] == (utc.replace(tzinfo=None) + dt.timedelta(hours=8)).strftime("%Y-%m-%d %H:%M")
    assert "+00:00" not in "".join(str(v) for v in meta.values())
    assert meta["合计金额（大写）"] == rmb_capitals(Decimal(closed["total_amount"]))


# --- CSV in GBK, the total line -------------------------------------------------------------------


async def test_gbk_csv_holds_the_same_cells_as_the_utf8_one(anonymous: httpx.AsyncClient, world: World) -> None:
    run = await create(anonymous, world.clerk, "420000", "2026-10")
    url = f"/api/payroll-runs/{run['id']}/export.csv"
    utf8 = await anonymous.get(url, headers=world.clerk)
    gbk = await anonymous.get(url, params={"encoding": "gbk"}, headers=world.clerk)
    assert utf8.status_code == gbk.status_code == 200, gbk.text
    assert gbk.headers["content-type"] == "text/csv; charset=gbk"
    assert 'filename="payroll-420000-2026-10-gbk.csv"' in gbk.headers["content-disposition"]
    assert utf8.content.startswith(codecs.BOM_UTF8) and not gbk.content.startswith(codecs.BOM_UTF8)
    with pytest.raises(UnicodeDecodeError):
        gbk.content.decode("utf-8")  # really GBK bytes, not UTF-8 relabelled
    text_gbk = gbk.content.decode("gbk")
    assert text_gbk == utf8.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text_gbk, newline="")))
    assert len(rows) == 1 + run["line_count"] and rows[1][1].startswith("测试")
    assert text_gbk.count("\r\n") == len(rows) and "\n" not in text_gbk.replace("\r\n", "")
    assert not any(r[1] == "合计" for r in rows)  # no total line unless asked for

    with_total = await anonymous.get(url, params={"encoding": "gbk", "total": "true"}, headers=world.clerk)
    last = list(csv.reader(io.StringIO(with_total.content.decode("gbk"), newline="")))[-1]
    assert last[1] == "合计" and Decimal(last[8]) == Decimal(run["total_amount"])
    assert last[9] == f"共 {run['line_count']} 行"


async def test_a_name_outside_gbk_is_reported_before_export_never_written_as_a_question_mark(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    run = await create(anonymous, world.clerk, "420000", "2026-10")
    await session.execute(
        text("UPDATE payroll_line SET name = '李䶮' WHERE run_id = :run AND seq = 2"), {"run": run["id"]}
    )
    await session.execute(
        text("UPDATE payroll_line SET organization_name = '𠮷野家社区' WHERE run_id = :run AND seq = 4"),
        {"run": run["id"]},
    )
    await session.commit()
    before = await session.scalar(text("SELECT count(*) FROM audit_event"))
    url = f"/api/payroll-runs/{run['id']}/export.csv"
    refused = await anonymous.get(url, params={"encoding": "gbk"}, headers=world.clerk)
    problem = assert_problem(refused, 422, "not_in_gbk", "lines.2.name")
    fields = {e["field"] for e in problem["errors"]}
    assert fields == {"lines.2.name", "lines.4.organization_name"}
    assert "第 2 行（李䶮）姓名中的“䶮”" in problem["detail"] and "𠮷" in problem["detail"]
    assert await session.scalar(text("SELECT count(*) FROM audit_event")) == before  # nothing written
    # UTF-8 keeps the characters as they are.
    utf8 = await anonymous.get(url, headers=world.clerk)
    assert "李䶮" in utf8.content.decode("utf-8-sig") and "?" not in utf8.content.decode("utf-8-sig")
    # And GBK itself cannot hold them: the check is not stricter than the encoder.
    with pytest.raises(UnicodeEncodeError):
        "䶮".encode("gbk")


# --- full ID numbers from the page, with a reason ------------------------------------------------------


async def test_full_id_export_asks_for_a_reason_and_is_recorded_once_as_a_reveal(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    run = await create(anonymous, world.clerk, "420000", "2026-10")
    url = f"/api/payroll-runs/{run['id']}"
    count = "SELECT count(*) FROM audit_event WHERE entity_type = 'payroll_run' AND action IN ('reveal', 'export')"
    before = await session.scalar(text(count))
    for params in ({"full_ids": "true"}, {"full_ids": "true", "reason": " "}):
        for fmt in ("csv", "xlsx"):
            assert_problem(
                await anonymous.get(f"{url}/export.{fmt}", params=params, headers=world.clerk),
                422,
                "reason_required",
                "reason",
            )
    assert await session.scalar(text(count)) == before

    # Roles that may not reveal ID numbers of the run's region get no file, reason or not.
    org = await session.scalar(text("SELECT id FROM organization WHERE name = 'yc_comm单位'"))
    hr = await make_user(session, "yc-hr", {"role": "org_hr", "organization_id": org})
    hr_headers = bearer(await make_token(session, hr))
    await session.commit()
    for headers in (hr_headers, world.county_clerk):
        response = await anonymous.get(
            f"{url}/export.csv", params={"full_ids": "true", "reason": "报财务代发"}, headers=headers
        )
        assert response.status_code in (403, 404) and "4205" not in response.text
    assert await session.scalar(text(count)) == before

    response = await anonymous.get(
        f"{url}/export.xlsx", params={"full_ids": "true", "reason": "报财务代发"}, headers=world.clerk
    )
    assert response.status_code == 200
    assert 'filename="payroll-420000-2026-10-full-ids.xlsx"' in response.headers["content-disposition"]
    events = (
        await session.execute(
            text(
                "SELECT action, detail, actor_name FROM audit_event WHERE entity_type = 'payroll_run'"
                " AND action IN ('reveal', 'export') ORDER BY id"
            )
        )
    ).all()[before:]
    assert len(events) == 1
    action, detail, actor_name = events[0]
    assert action == "reveal" and actor_name == "hb-payroll"
    assert detail == {
        "format": "xlsx",
        "full_ids": True,
        "lines": run["line_count"],
        "fields": ["id_number"],
        "reason": "报财务代发",
    }


# --- bank accounts and the bank-transfer list -----------------------------------------------------------


async def test_bank_account_is_masked_kept_in_history_and_revealed_with_a_record(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    pid = world.people["a"]
    url = f"/api/practitioners/{pid}/bank-account"
    assert (await anonymous.get(url, headers=world.approver)).json() is None
    bad = await anonymous.put(url, json={"account_number": "12ab", "bank_name": ""}, headers=world.approver)
    problem = assert_problem(bad, 422, "account_number_invalid", "account_number")
    assert {e["field"] for e in problem["errors"]} == {"account_number", "bank_name"}
    assert await session.scalar(text("SELECT count(*) FROM bank_account")) == 0

    first = await anonymous.put(
        url,
        json={"account_number": "6222 0202 0011 2233 445", "bank_name": "中国工商银行宜昌分行"},
        headers=world.approver,
    )
    assert first.status_code == 200, first.text
    assert first.json()["account_number_masked"] == "6222***********3445"
    again = await anonymous.put(
        url,
        json={"account_number": "6222-0202-0011-2233-445", "bank_name": "中国工商银行宜昌分行"},
        headers=world.approver,
    )
    assert again.status_code == 200
    changed = await anonymous.put(
        url, json={"account_number": "6217000010002000300", "bank_name": "中国建设银行宜昌分行"}, headers=world.approver
    )
    assert changed.json()["bank_name"] == "中国建设银行宜昌分行"
    # History: the old account stays, the same account twice is one row; the trail holds no full number.
    rows = (await session.execute(text("SELECT account_number FROM bank_account ORDER BY id"))).scalars().all()
    assert rows == ["6222020200112233445", "6217000010002000300"]
    trail = (
        await session.execute(
            text("SELECT before, after FROM audit_event WHERE entity_type = 'bank_account' ORDER BY id")
        )
    ).all()
    assert len(trail) == 2 and "6222020200112233445" not in str(trail) and "6217000010002000300" not in str(trail)
    # Read masked by anyone who reads the record; the whole number only through a recorded reveal.
    read = (await anonymous.get(url, headers=world.clerk)).json()
    assert read["account_number_masked"] == "6217***********0300"
    reveal = await anonymous.post(
        f"/api/practitioners/{pid}/reveal",
        json={"fields": ["bank_account"], "reason": "核对代发账户"},
        headers=world.clerk,
    )
    assert reveal.json()["bank_account_number"] == "6217000010002000300" and reveal.json()["id_number"] is None
    event = (
        await session.execute(
            text("SELECT detail FROM audit_event WHERE action = 'reveal' AND practitioner_id = :p ORDER BY id DESC"),
            {"p": pid},
        )
    ).scalar()
    assert event == {"fields": ["bank_account"], "reason": "核对代发账户"}


async def _give_accounts(anonymous: httpx.AsyncClient, w: World, keys: list[str]) -> None:
    for n, key in enumerate(keys):
        response = await anonymous.put(
            f"/api/practitioners/{w.people[key]}/bank-account",
            json={"account_number": f"62220202{n:011d}", "bank_name": "中国工商银行"},
            headers=w.approver,
        )
        assert response.status_code == 200, response.text


async def test_bank_list_names_every_line_lacking_an_account_before_export(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    run = await create(anonymous, world.clerk, "420000", "2026-09")
    url = f"/api/payroll-runs/{run['id']}"
    paid = [
        k
        for k, pid in world.people.items()
        if pid in {line["practitioner_id"] for line in await _lines(anonymous, world, run["id"])}
    ]
    assert len(paid) == run["line_count"] >= 4
    # Not before approval.
    assert_problem(
        await anonymous.get(f"{url}/bank-list.csv", params={"reason": "代发"}, headers=world.clerk),
        409,
        "run_not_approved",
    )
    await close_run(anonymous, world, run["id"])
    await _give_accounts(anonymous, world, paid[:-2])
    lacking = {world.people[k] for k in paid[-2:]}

    missing = (await anonymous.get(f"{url}/bank-list/missing", headers=world.clerk)).json()
    assert {m["practitioner_id"] for m in missing} == lacking
    assert all(m["name"].startswith("测试") and Decimal(m["amount"]) > 0 for m in missing)

    before = await session.scalar(text("SELECT count(*) FROM audit_event"))
    refused = await anonymous.get(f"{url}/bank-list.xlsx", params={"reason": "报财务代发"}, headers=world.clerk)
    problem = assert_problem(refused, 422, "bank_accounts_missing")
    assert {e["field"] for e in problem["errors"]} == {f"practitioners.{p}.bank_account" for p in lacking}
    for m in missing:
        assert m["name"] in problem["detail"]
    assert await session.scalar(text("SELECT count(*) FROM audit_event")) == before  # nothing recorded
    # Without a reason, or for a role that may not reveal, no list at all.
    assert_problem(await anonymous.get(f"{url}/bank-list.csv", headers=world.clerk), 422, "reason_required", "reason")

    await _give_accounts(anonymous, world, paid[-2:])
    assert (await anonymous.get(f"{url}/bank-list/missing", headers=world.clerk)).json() == []
    response = await anonymous.get(f"{url}/bank-list.csv", params={"reason": "报财务代发"}, headers=world.clerk)
    assert response.status_code == 200, response.text
    assert 'filename="bank-transfer-420000-2026-09-full-ids.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["序号", "户名", "证件号码", "收款账号", "开户银行", "金额", "摘要"]
    assert len(rows) - 1 == len(paid)
    assert all(re.fullmatch(r"\d{17}[\dX]", r[2]) and re.fullmatch(r"62220202\d{11}", r[3]) for r in rows[1:])
    assert sum(Decimal(r[5]) for r in rows[1:]) == Decimal(run["total_amount"])
    assert {r[6] for r in rows[1:]} == {"2026年9月社会工作者职业津贴"}
    event = (
        await session.execute(
            text("SELECT action, detail FROM audit_event WHERE entity_type = 'payroll_run' ORDER BY id DESC LIMIT 1")
        )
    ).one()
    assert event[0] == "reveal" and event[1]["fields"] == ["id_number", "bank_account"]
    assert event[1]["list"] == "bank" and event[1]["reason"] == "报财务代发"

    xlsx = await anonymous.get(f"{url}/bank-list.xlsx", params={"reason": "报财务代发"}, headers=world.clerk)
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content))["代发明细"]
    cells = list(sheet.iter_rows(values_only=True))
    assert cells[0] == tuple(rows[0]) and len(cells) == len(rows)
    assert sheet.cell(row=2, column=3).number_format == "@" and sheet.cell(row=2, column=4).number_format == "@"
    assert [str(c[3]) for c in cells[1:]] == [r[3] for r in rows[1:]]


async def _lines(anonymous: httpx.AsyncClient, w: World, run_id: int) -> list[dict[str, Any]]:
    page = await anonymous.get(f"/api/payroll-runs/{run_id}/lines", params={"limit": 1000}, headers=w.clerk)
    return list(page.json()["items"])


def test_bank_layouts_are_a_small_template(tmp_path: Path) -> None:
    from registry.payroll import bank_list

    shipped = bank_list.load_layouts()
    assert [f for f, _ in shipped["default"].columns] == [
        "seq",
        "name",
        "id_number",
        "account_number",
        "bank_name",
        "amount",
        "memo",
    ]
    custom = tmp_path / "layouts.toml"
    custom.write_text(
        '[default]\ncolumns = [{ field = "name", heading = "姓名" }, { field = "amount", heading = "金额" }]\n'
        '[icbc]\nlabel = "工行"\nmemo = "{month}月津贴"\n'
        'columns = [{ field = "account_number", heading = "账号" }, { field = "name", heading = "户名" },'
        ' { field = "amount", heading = "金额" }, { field = "memo", heading = "用途" }]\n',
        encoding="utf-8",
    )
    layouts = bank_list.load_layouts(custom)
    assert layouts["icbc"].columns == (
        ("account_number", "账号"),
        ("name", "户名"),
        ("amount", "金额"),
        ("memo", "用途"),
    )
    custom.write_text('[default]\ncolumns = [{ field = "salary", heading = "工资" }]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="salary"):
        bank_list.load_layouts(custom)


# --- the run page's export controls ---------------------------------------------------------------------


async def test_run_page_offers_the_exports_and_brings_refusals_back_in_chinese(
    anonymous: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    run = await create(anonymous, world.clerk, "420000", "2026-09")
    await session.execute(
        text("UPDATE payroll_line SET name = '王䶮' WHERE run_id = :run AND seq = 1"), {"run": run["id"]}
    )
    await session.commit()
    page = await anonymous.get(f"/payroll/{run['id']}", headers=world.clerk)
    assert page.status_code == 200
    for marker in ('id="export-xlsx"', 'id="export-csv-form"', 'value="gbk"', 'id="export-full-ids"', 'name="reason"'):
        assert marker in page.text, marker
    card = page.text.split('id="exports"')[1].split("与上一已关闭批次相比")[0]
    assert "批次批准后可导出代发名单" in card and "<script" not in card and " on" + "click" not in card

    download = f"/payroll/{run['id']}/download"
    xlsx = await anonymous.get(download, params={"format": "xlsx"}, headers=world.clerk)
    assert xlsx.status_code == 200 and xlsx.headers["content-type"].startswith(export_type())
    gbk = await anonymous.get(download, params={"format": "csv", "encoding": "gbk"}, headers=world.clerk)
    assert gbk.status_code == 303
    back = await anonymous.get(gbk.headers["location"], headers=world.clerk)
    assert "第 1 行（王䶮）姓名中的“䶮”在 GBK 中没有编码" in back.text and 'id="problem"' in back.text
    no_reason = await anonymous.get(download, params={"format": "csv", "full_ids": "1"}, headers=world.clerk)
    assert no_reason.status_code == 303
    assert "须写明用途" in (await anonymous.get(no_reason.headers["location"], headers=world.clerk)).text
    full = await anonymous.get(
        download, params={"format": "csv", "full_ids": "1", "reason": "报财务代发", "total": "1"}, headers=world.clerk
    )
    assert full.status_code == 200 and "full-ids" in full.headers["content-disposition"]
    assert full.content.decode("utf-8-sig").rstrip("\r\n").rsplit("\r\n", 1)[1].split(",")[1] == "合计"

    await close_run(anonymous, world, run["id"])
    page = await anonymous.get(f"/payroll/{run['id']}", headers=world.clerk)
    assert 'id="missing-accounts"' in page.text and "王䶮" not in page.text.split('id="missing-accounts"')[0][-50:]
    missing = page.text.split('id="missing-accounts"')[1].split("</div>")[0]
    assert missing.count("<li>") == run["line_count"] and 'id="export-bank"' in page.text
    refused = await anonymous.get(
        download, params={"kind": "bank", "format": "xlsx", "reason": "报财务代发"}, headers=world.clerk
    )
    assert refused.status_code == 303
    assert "没有代发银行账户" in (await anonymous.get(refused.headers["location"], headers=world.clerk)).text


def export_type() -> str:
    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
