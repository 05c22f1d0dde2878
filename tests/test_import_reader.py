"""Reading XLSX uploads: the fast reader (python-calamine) gives the checks the same cells as
openpyxl's streaming reader, and a file it must not take whole (a cell far away, an error cell, a
cell without a reference) is read by openpyxl instead. Real workbooks, written by openpyxl and
xlsxwriter, and one written by hand."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import xlsxwriter

from registry.imports.sheets import FileData, _read_xlsx_streaming, read_file, used_area
from registry.imports.values import cell_text

HEADINGS = ["姓名", "公民身份号码", "学历", "出生日期", "手机号码", "户籍地区划代码"]


def _normal(value: Any) -> Any:
    """What the checks make of a cell: numbers and dates compared by value, not by Python type."""
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _both(path: Path) -> tuple[FileData, FileData]:
    fast = read_file(path, "xlsx", path.name)
    slow = _read_xlsx_streaming(path, FileData(), None)
    return fast, slow


def _rows(data: FileData) -> list[tuple[str, str, int, dict[str, Any]]]:
    return [
        (s.name, s.kind.key, number, {k: _normal(v) for k, v in values.items()})
        for s in data.sheets
        for number, values in s.rows
    ]


def test_the_fast_reader_gives_the_checks_what_openpyxl_gives(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "人员"
    # A title row, the headings on row 3 from column B, blank rows between the data.
    ws["B1"] = "2026 年社工名册"
    for index, heading in enumerate(HEADINGS):
        ws.cell(row=3, column=2 + index, value=heading)
    rows = [
        ["张三", "42010219900101123X", "本科", dt.date(1990, 1, 1), "13800138000", "420102"],  # ID ending in X
        ["李四", 420102199001011236, "硕士", dt.datetime(1990, 1, 1, 0, 0), 13800138000, 420102],  # as numbers
        ["王五", "0042010219900101", "大专", "1990/1/1", "013800138000", "042010"],  # leading zeros kept
        ["赵六", "420102199001011236", "博士", dt.datetime(1990, 1, 1, 12, 30), 1.5e10, True],
    ]
    for offset, row in ((4, rows[0]), (5, rows[1]), (8, rows[2]), (9, rows[3])):
        for index, value in enumerate(row):
            ws.cell(row=offset, column=2 + index, value=value)
    ws.merge_cells("B10:C10")
    ws["B10"] = "合并的单元格"
    notes = book.create_sheet("说明")
    notes["A1"] = "本表不导入"
    book.create_sheet("空表")
    path = tmp_path / "人员.xlsx"
    book.save(path)

    with zipfile.ZipFile(path) as archive:
        assert used_area(archive) == 10 * 7  # the fast reader takes it
    fast, slow = _both(path)
    assert _rows(fast) == _rows(slow)
    assert fast.problems == slow.problems == []
    assert fast.ignored == slow.ignored == ["空表"]
    person = {number: values for _, _, number, values in _rows(fast)}
    assert sorted(person) == [4, 5, 8, 9, 10]  # sheet row numbers, blank rows skipped
    assert person[4]["id_number"] == "42010219900101123X"
    assert person[4]["birth_date"] == dt.date(1990, 1, 1)
    assert isinstance(person[5]["id_number"], int) and person[5]["id_number"] > 10**15  # the check says digits are lost
    assert person[8]["id_number"] == "0042010219900101" and person[8]["phone"] == "013800138000"
    assert person[8]["household_region_code"] == "042010"
    assert person[9]["birth_date"] == dt.datetime(1990, 1, 1, 12, 30)
    assert cell_text(fast.sheets[0].rows[3][1]["phone"]) == "15000000000"
    assert person[10] == {"name": "合并的单元格", **dict.fromkeys(HEADINGS_KEYS[1:])}


HEADINGS_KEYS = ["name", "id_number", "education", "birth_date", "phone", "household_region_code"]


def test_a_large_sheet_from_xlsxwriter_reads_the_same(tmp_path: Path) -> None:
    path = tmp_path / "大.xlsx"
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = book.add_worksheet("人员")
    ws.write_row(0, 0, HEADINGS)
    for n in range(1, 3001):
        ws.write_row(n, 0, [f"某{n}", f"4201021990{n:08d}", "本科", dt.date(1990, 1, 1) + dt.timedelta(n), n, "420102"])
    book.close()
    fast, slow = _both(path)
    assert fast.row_count == 3000
    assert _rows(fast) == _rows(slow)


def _hand_written(cells: str) -> bytes:
    """A minimal workbook whose one sheet holds ``cells`` (the <sheetData> content) as written."""
    files = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="人员" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        + cells
        + "</sheetData></worksheet>",
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


def _inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


HEADER = (
    '<row r="1">'
    + "".join(_inline(f"{c}1", h) for c, h in zip("ABC", ["姓名", "公民身份号码", "学历"], strict=True))
    + "</row>"
)
PERSON = '<row r="2">' + "".join(
    _inline(f"{c}2", v) for c, v in zip("ABC", ["张三", "42010219900101123X", "本科"], strict=True)
)


def test_a_cell_far_away_is_read_without_taking_the_whole_rectangle(tmp_path: Path) -> None:
    # One value at XFD1048576 would make the fast reader ask for 32 GB and abort the process:
    # the scan sends the file to openpyxl, which reads it row by row (in a child process, so
    # that a regression fails this test instead of ending the test run).
    path = tmp_path / "远.xlsx"
    path.write_bytes(
        _hand_written(HEADER + PERSON + "</row>" + '<row r="1048576">' + _inline("XFD1048576", "x") + "</row>")
    )
    with zipfile.ZipFile(path) as archive:
        assert used_area(archive) == 1048576 * 16384
    script = (
        "import sys; from pathlib import Path; from registry.imports.sheets import read_file;"
        f"d = read_file(Path({str(path)!r}), 'xlsx', 'x'); print(d.row_count, [s.rows[0][1]['id_number'] for s in d.sheets])"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[0] == "1 ['42010219900101123X']"


def test_an_error_cell_is_a_problem_not_a_blank(tmp_path: Path) -> None:
    # calamine reads #N/A as an empty cell, which for an optional column would keep the stored
    # value silently; openpyxl gives its text, which the check reports.
    path = tmp_path / "错.xlsx"
    path.write_bytes(
        _hand_written(
            HEADER.replace("</row>", _inline("D1", "手机号码") + "</row>")
            + PERSON
            + '<c r="D2" t="e"><v>#N/A</v></c></row>'
        )
    )
    with zipfile.ZipFile(path) as archive:
        assert used_area(archive) is None
    data = read_file(path, "xlsx", path.name)
    assert data.sheets[0].rows == [
        (2, {"name": "张三", "id_number": "42010219900101123X", "education": "本科", "phone": "#N/A"})
    ]


def test_cells_without_references_are_read_in_place(tmp_path: Path) -> None:
    # Without r="A1" a cell's place follows from its neighbours: not scanned, read by openpyxl.
    path = tmp_path / "无引用.xlsx"
    plain = "".join(f'<c t="inlineStr"><is><t>{v}</t></is></c>' for v in ["张三", "42010219900101123X", "本科"])
    path.write_bytes(_hand_written(HEADER + f"<row>{plain}</row>"))
    with zipfile.ZipFile(path) as archive:
        assert used_area(archive) is None
    data = read_file(path, "xlsx", path.name)
    assert [values for _, values in data.sheets[0].rows] == [
        {"name": "张三", "id_number": "42010219900101123X", "education": "本科"}
    ]


def test_an_empty_workbook_and_a_broken_one(tmp_path: Path) -> None:
    empty = tmp_path / "空.xlsx"
    empty.write_bytes(_hand_written(""))
    fast, slow = _both(empty)
    assert [p["code"] for p in fast.problems] == [p["code"] for p in slow.problems] == ["header_missing"]
    broken = tmp_path / "坏.xlsx"
    broken.write_bytes(_hand_written(HEADER + '<row r="2"><c r="A2" t="inlineStr"><is><t>张三</row>'))
    assert [p["code"] for p in read_file(broken, "xlsx", "坏.xlsx").problems] == ["file_unreadable"]
