"""What a spreadsheet may hold (kinds, their sheets and column headings) and reading it.

Clerks' own headings are accepted with a few common variants; a heading is compared after
removing spaces, required-markers (``*``, ``（必填）``) and a trailing unit in brackets. A
workbook holds one kind per sheet (人员, 任职, 证书, 继续教育, 薪酬; a sheet with another name is
recognized by its headings); a CSV file holds one kind, recognized by its headings.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Column:
    key: str
    heading: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    note: str = ""
    example: Any = None


@dataclass(frozen=True)
class Kind:
    key: str
    sheet: str
    sheet_aliases: tuple[str, ...]
    columns: tuple[Column, ...]
    note: str

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)


ID = Column(
    "id_number",
    "公民身份号码",
    ("身份证号", "身份证号码", "身份证", "证件号码", "居民身份证号码", "公民身份证号码"),
    True,
    "18 位，末位可为 X；请把该列设为文本格式，否则 Excel 会丢掉后几位",
    "420102199001011236",  # with a valid check digit: the example passes its own check
)
CREDIT = Column(
    "credit_code",
    "工作单位统一社会信用代码",
    ("统一社会信用代码", "单位统一社会信用代码", "信用代码", "单位代码"),
    note="18 位；与“单位名称”二选一，都填时以代码为准",
    example="",
)
ORG_NAME = Column(
    "org_name",
    "单位名称",
    ("工作单位", "工作单位名称", "所在单位"),
    note="须与库中单位名称完全一致",
    example="江岸区社会工作服务中心",
)

KINDS: tuple[Kind, ...] = (
    Kind(
        "organizations",
        "单位",
        ("单位信息", "工作单位", "机构", "单位名录"),
        (
            Column(
                "name",
                "单位名称",
                ("工作单位", "机构名称", "名称"),
                True,
                "与登记证书上的名称一致",
                "江岸区社工服务中心",
            ),
            Column(
                "credit_code",
                "统一社会信用代码",
                ("信用代码", "单位代码", "工作单位统一社会信用代码"),
                note="18 位；有则以代码识别单位，否则以“名称 + 区划”识别",
                example="",
            ),
            Column(
                "org_type",
                "单位类型",
                ("类型", "单位类别"),
                True,
                "社会工作服务机构、基层社会工作服务站、城乡社区、民政服务机构",
                "社会工作服务机构",
            ),
            Column("region_code", "所在区划代码", ("区划代码", "所在地区划代码"), True, "6 位", "420102"),
            Column(
                "founded_on", "成立日期", ("登记日期", "成立（登记）日期", "设立日期"), note="如 2015-04-01", example=""
            ),
            Column("closed_on", "注销日期", ("撤销日期", "关闭日期"), note="仍存续的不填", example=""),
        ),
        "每个单位一行：库中没有的新登记，已有的更新类型和成立、注销日期；本文件“任职”“薪酬”表可引用本表的单位。"
        "只有系统管理员和辖区民政工作人员可以导入。",
    ),
    Kind(
        "practitioners",
        "人员",
        ("人员信息", "社工", "社工信息", "人员名单"),
        (
            Column("name", "姓名", ("人员姓名",), True, "汉字、字母或间隔号“·”", "张三"),
            ID,
            Column(
                "education",
                "学历",
                ("最高学历", "文化程度"),
                True,
                "初中及以下、高中/中专、大专、本科、硕士、博士",
                "本科",
            ),
            Column("sex", "性别", (), note="可不填；填写时须与身份证号一致", example="男"),
            Column("birth_date", "出生日期", (), note="可不填；填写时须与身份证号一致", example=""),
            Column(
                "phone",
                "手机号码",
                ("手机号", "联系电话", "手机", "电话"),
                note="11 位手机号或带区号的固定电话",
                example="13800138000",
            ),
            Column(
                "household_region_code",
                "户籍地区划代码",
                ("户籍地代码", "户籍区划代码", "户籍地行政区划代码"),
                note="6 位行政区划代码",
                example="420102",
            ),
            Column("social_work_major", "社会工作专业", ("是否社会工作专业", "社工专业"), note="是／否", example="是"),
            Column(
                "bank_account_number",
                "银行账号",
                ("代发账号", "收款账号", "工资卡号", "银行卡号"),
                note="津贴代发账户，8–30 位数字，请以文本格式填写；与开户银行同填",
                example="6222020200112233445",
            ),
            Column(
                "bank_name",
                "开户银行",
                ("开户行", "开户银行名称"),
                note="如 中国工商银行武汉江岸支行；与银行账号同填",
                example="中国工商银行武汉江岸支行",
            ),
        ),
        "每人一行，以公民身份号码识别：库中没有的新登记，已有的更新有变化的项；空白的可选项不改动原值。",
    ),
    Kind(
        "employment",
        "任职",
        ("任职信息", "在岗", "在岗记录", "任职记录"),
        (
            ID,
            CREDIT,
            ORG_NAME,
            Column(
                "post_type",
                "岗位类别",
                ("岗位", "岗位类型"),
                True,
                "社区工作者、驻站社工、社工机构专职人员、民政机构工作人员、其他",
                "社工机构专职人员",
            ),
            Column("duty_level", "督导层级", ("驻站层级",), note="驻站社工必填：市级／县级", example=""),
            Column(
                "in_post_from",
                "在岗起始日期",
                ("到岗日期", "入职日期", "在岗开始日期", "起始日期"),
                True,
                "如 2024-03-01",
                "2024-03-01",
            ),
            Column(
                "in_post_to", "离岗日期", ("在岗截止日期", "离职日期", "在岗结束日期"), note="仍在岗的不填", example=""
            ),
        ),
        "每段在岗经历一行，以“人员 + 单位 + 在岗起始日期”识别；同一人的在岗时间不能重叠。",
    ),
    Kind(
        "certifications",
        "证书",
        ("证书信息", "职业水平证书", "证书记录"),
        (
            ID,
            Column(
                "level",
                "证书级别",
                ("级别", "证书等级", "职业水平等级"),
                True,
                "助理社会工作师（初级）、社会工作师（中级）、高级社会工作师（高级）",
                "社会工作师",
            ),
            Column(
                "certificate_number",
                "证书编号",
                ("证书号", "证书号码", "证书管理号", "管理号"),
                True,
                "字母、数字和连字符",
                "2021420100123",
            ),
            Column("exam_year", "考试年度", ("考试年份", "取得年度", "取得年份"), True, "如 2021", 2021),
            Column(
                "registration_valid_from",
                "登记有效期起",
                ("登记日期", "登记起始日期", "登记有效期开始"),
                example="2022-01-10",
            ),
            Column(
                "registration_valid_to",
                "登记有效期止",
                ("登记截止日期", "登记有效期至", "登记有效期结束"),
                note="不填时按三年计算",
                example="",
            ),
            Column(
                "registration_authority",
                "登记机关",
                ("登记单位", "登记部门"),
                note="如 湖北省民政厅",
                example="",
            ),
            Column(
                "verified_on",
                "核验日期",
                ("核验时间", "证书核验日期", "审核日期"),
                note="已核验的证书填写核验通过的日期；只有可在该地区核验证书的民政工作人员导入时采用，否则为待核验",
                example="",
            ),
            Column(
                "verification_evidence",
                "核验依据",
                ("核验说明", "核验记录"),
                note="核验日期早于今天时必填，如“2024-03 纸质核验，档案号 …”",
                example="",
            ),
        ),
        "每张证书一行，以证书编号识别；证书编号在库中属于他人时不能导入。已核验的证书有改动时回到待核验。"
        "再登记、暂停、注销写在“登记记录”表。",
    ),
    Kind(
        "registrations",
        "登记记录",
        ("证书登记", "登记信息", "再登记记录", "登记"),
        (
            ID,
            Column(
                "certificate_number",
                "证书编号",
                ("证书号", "证书号码", "证书管理号", "管理号"),
                True,
                "库中或本文件“证书”表中的证书",
                "2021420100123",
            ),
            Column("kind", "登记类别", ("类别", "登记类型", "事项"), True, "首次登记、再登记、暂停、注销", "再登记"),
            Column(
                "start_date",
                "起始日期",
                ("登记日期", "生效日期", "开始日期", "登记有效期起"),
                True,
                "如 2025-01-10",
                "2025-01-10",
            ),
            Column(
                "end_date",
                "截止日期",
                ("登记有效期止", "结束日期", "截止"),
                note="登记、再登记不填时按三年计算；暂停可不填；注销不填",
                example="",
            ),
            Column("authority", "登记机关", ("登记单位", "登记部门"), note="如 湖北省民政厅", example="湖北省民政厅"),
            Column("note", "说明", ("原因", "备注"), note="暂停、注销须写明原因", example=""),
        ),
        "每次登记、再登记、暂停或注销一行，以“证书编号 + 登记类别 + 起始日期”识别；已有的记录有改动时以更正记录代替，"
        "原记录保留。",
    ),
    Kind(
        "ce",
        "继续教育",
        ("继续教育记录", "继续教育信息"),
        (
            ID,
            Column(
                "activity_date",
                "继续教育日期",
                ("日期", "活动日期", "培训日期", "学习日期"),
                True,
                "如 2025-06-18",
                "2025-06-18",
            ),
            Column(
                "hours",
                "学时",
                ("学时数", "学时/小时", "小时", "小时数", "时长"),
                True,
                "大于 0，至多 24，最多一位小数",
                6,
            ),
            Column(
                "unit",
                "计量单位",
                ("学时单位",),
                note="学时／小时；不填时按列名（“小时”列为小时，否则为学时）",
                example="学时",
            ),
            Column(
                "category", "类别", ("继续教育类别", "形式", "学习形式"), True, "培训、督导、学术交流、其他", "培训"
            ),
            Column("provider", "培训机构", ("举办机构", "主办单位", "培训单位"), True, "", "武汉市社会工作协会"),
            Column("course", "课程", ("课程名称", "培训内容", "内容"), True, "", "社会工作伦理与实务"),
        ),
        "每次学习一行，以“人员 + 日期 + 课程 + 学时”识别；同一人一天合计不超过 24 小时。导入的记录为待核验。",
    ),
    Kind(
        "salaries",
        "薪酬",
        ("薪酬信息", "工资", "薪酬记录"),
        (
            ID,
            Column("year", "年度", ("年份", "薪酬年度"), True, "如 2025", 2025),
            Column(
                "amount", "年薪", ("年度薪酬", "年收入", "税前年薪", "应发年薪"), True, "元，税前，最多两位小数", 72000
            ),
            CREDIT,
            ORG_NAME,
        ),
        "每人每年一行，以“人员 + 年度”识别。已核验的记录有改动时回到待核验。",
    ),
)
KIND_BY_KEY = {k.key: k for k in KINDS}
KIND_LABELS = {
    "organizations": "单位",
    "practitioners": "人员",
    "employment": "任职",
    "certifications": "证书",
    "registrations": "登记记录",
    "ce": "继续教育",
    "salaries": "薪酬",
}
NOTES_SHEET = "说明"


def normalize_heading(value: Any) -> str:
    text = str(value or "").strip()
    text = re.sub(r"\s+", "", text).replace("（", "(").replace("）", ")")
    text = text.replace("*", "").replace("(必填)", "").replace("(选填)", "")
    if "/" not in text:
        text = re.sub(r"\([^)]*\)$", "", text)
    return text


def _lookup(kind: Kind) -> dict[str, str]:
    names: dict[str, str] = {}
    for column in kind.columns:
        for name in (column.heading, *column.aliases):
            names[normalize_heading(name)] = column.key
    return names


_LOOKUPS = {k.key: _lookup(k) for k in KINDS}
_SHEETS = {normalize_heading(name): k.key for k in KINDS for name in (k.sheet, *k.sheet_aliases)}


@dataclass
class SheetData:
    kind: Kind
    name: str
    header_row: int
    headings: dict[str, str]  # column key -> the heading as written in the file
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def heading(self, key: str) -> str:
        return self.headings.get(key) or self.kind.column(key).heading


@dataclass
class FileData:
    sheets: list[SheetData] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return sum(len(s.rows) for s in self.sheets)


def problem(sheet: str, row: int, column: str, code: str, message: str) -> dict[str, Any]:
    return {"sheet": sheet, "row": row, "column": column, "code": code, "message": message}


def _match_headings(cells: tuple[Any, ...], kind_key: str) -> dict[int, str]:
    lookup = _LOOKUPS[kind_key]
    found: dict[int, str] = {}
    for index, cell in enumerate(cells):
        key = lookup.get(normalize_heading(cell))
        if key is not None:
            found[index] = key
    return found


def _complete(kind: Kind, keys: set[str]) -> bool:
    required = {c.key for c in kind.columns if c.required}
    if not required <= keys:
        return False
    return kind.key != "employment" or bool({"credit_code", "org_name"} & keys)


def _guess_kind(cells: tuple[Any, ...]) -> str | None:
    best: tuple[int, str] | None = None
    for kind in KINDS:
        keys = set(_match_headings(cells, kind.key).values())
        if _complete(kind, keys) and (best is None or len(keys) > best[0]):
            best = (len(keys), kind.key)
    return best[1] if best else None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# Limits that keep one upload from exhausting the server's memory.
MAX_ROWS = 500_000
# Measured: 500,000 rows of five columns (the person sheet) unpack to about 130 MB; a 1.7 MB file unpacking to
# 450 MB took 100 s of reading before (scripts/measure_upload_memory.py).
MAX_UNPACKED_BYTES = 256 * 2**20
MAX_SHARED_STRINGS_BYTES = 64 * 2**20


def _read_rows(
    out: FileData,
    sheet_name: str,
    rows: Any,
    kind_key: str | None,
    tick: Callable[[int], None] | None,
) -> None:
    """Find the header row (one of the first five), then collect the non-blank rows."""
    header: tuple[Any, ...] | None = None
    header_row = 0
    sheet: SheetData | None = None
    index_keys: dict[int, str] = {}
    seen_values: list[Any] = []
    for number, cells in enumerate(rows, start=1):
        if sheet is None:
            if number > 5:
                break
            seen_values.extend(cells)
            guessed = kind_key or _guess_kind(tuple(cells))
            if guessed is None or len(_match_headings(tuple(cells), guessed)) < 2:
                continue
            header, header_row = tuple(cells), number
            kind = next(k for k in KINDS if k.key == guessed)
            index_keys = _match_headings(header, guessed)
            sheet = SheetData(kind=kind, name=sheet_name, header_row=header_row, headings={})
            seen: dict[str, int] = {}
            for index, key in index_keys.items():
                if key in seen:
                    out.problems.append(
                        problem(
                            sheet_name,
                            header_row,
                            str(header[index]),
                            "column_repeated",
                            f"“{header[index]}”与第 {seen[key] + 1} 列是同一项，请只保留一列。",
                        )
                    )
                    continue
                seen[key] = index
                sheet.headings[key] = str(header[index]).strip()
            index_keys = {i: k for k, i in seen.items()}
            for column in kind.columns:
                if column.required and column.key not in sheet.headings:
                    out.problems.append(
                        problem(
                            sheet_name, header_row, column.heading, "column_missing", f"缺少必填列“{column.heading}”。"
                        )
                    )
            if kind.key == "employment" and not {"credit_code", "org_name"} & set(sheet.headings):
                out.problems.append(
                    problem(
                        sheet_name,
                        header_row,
                        CREDIT.heading,
                        "column_missing",
                        "缺少“工作单位统一社会信用代码”或“单位名称”列。",
                    )
                )
            continue
        width = len(cells)
        values = {key: (cells[i] if i < width else None) for i, key in index_keys.items()}
        if all(_blank(v) for v in values.values()):
            continue
        if len(sheet.rows) >= MAX_ROWS:
            out.problems.append(
                problem(
                    sheet_name,
                    number,
                    "",
                    "file_too_many_rows",
                    f"一个工作表最多导入 {MAX_ROWS:,} 行，请分成几个文件。",
                )
            )
            break
        sheet.rows.append((number, values))
        if tick is not None and len(sheet.rows) % 2000 == 0:
            tick(2000)
    if sheet is None:
        if kind_key is not None:
            out.problems.append(
                problem(sheet_name, 1, "", "header_missing", "前 5 行中找不到表头（如“姓名”“公民身份号码”）。")
            )
        elif any(not _blank(v) for v in seen_values):
            # A sheet with data the import does not understand is a problem, not a silent skip.
            out.problems.append(
                problem(
                    sheet_name,
                    1,
                    "",
                    "sheet_unrecognized",
                    "无法识别该工作表：请用模板中的表名（人员、任职、证书、继续教育、薪酬）或表头，或删除该表。",
                )
            )
        else:
            out.ignored.append(sheet_name)
        return
    if tick is not None:
        tick(len(sheet.rows) % 2000)
    out.sheets.append(sheet)


# python-calamine (Rust) reads a sheet about ten times faster than openpyxl, but it builds the
# sheet's whole rectangle in memory at 32 bytes a cell, from the first used cell to the last: one
# cell at XFD1048576 in a 6 KB file asks for 32 GB and aborts the process. So the sheets' XML is
# scanned first (every cell reference, C-speed regular expressions over the stream), and a file
# whose used area is larger than this, or whose cells do not all say where they are, is read
# with openpyxl's streaming reader instead (the same values, slower, in bounded memory). So is a
# file with an error cell, which calamine reads as empty (a blank optional cell keeps what is
# stored, where the text "#N/A" is a problem).
MAX_FAST_CELLS = 2_000_000
# ... and the strings it holds are bounded by the file's unpacked size (the rest of a 256 MB file
# goes to openpyxl): with the rectangle at most about 200 MB beside the rows the check keeps.
MAX_FAST_UNPACKED_BYTES = 64 * 2**20
_CELL = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?c(?=[\s/>])(?:[^>]*?\sr="([A-Z]{1,3})([0-9]{1,7})")?')
_SCAN_CHUNK = 4 * 2**20


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def used_area(archive: Any) -> int | None:
    """The largest rectangle (rows × columns, from A1) any worksheet of ``archive`` uses, or None
    when the fast reader must not take the file: a cell without a reference (its place then
    depends on its neighbours) or an error cell."""
    largest = 0
    # Every part, not only xl/worksheets/: the workbook's relationships may put a sheet anywhere.
    for info in archive.infolist():
        if info.filename.endswith(".rels") or info.is_dir():
            continue
        rows = columns = 0
        with archive.open(info) as stream:
            tail = b""
            while True:
                chunk = stream.read(_SCAN_CHUNK)
                text = tail + chunk
                if chunk:
                    # A tag cut at the end of this chunk is read with the next one.
                    cut = text.rfind(b"<")
                    text, tail = (text[:cut], text[cut:]) if cut >= 0 else (text, b"")
                    if len(tail) > 65536:  # no cell's tag is that long
                        return None
                if b't="e"' in text or b"t='e'" in text:
                    return None  # calamine reads an error cell (#N/A, #REF!) as empty; openpyxl as its text
                found = _CELL.findall(text)
                if found:
                    letters = {cell[0] for cell in found}
                    if b"" in letters:
                        return None
                    rows = max(rows, *map(int, (cell[1] for cell in found)))
                    columns = max(columns, *map(_column_number, letters))
                if not chunk:
                    break
        largest = max(largest, rows * columns)
    return largest


def _fast_rows(sheet: Any) -> Any:
    """A calamine sheet's rows as openpyxl gives them: from column A, None for an empty cell."""
    start = sheet.start
    if start is None:  # an empty sheet (calamine's row iterator needs a first cell)
        return
    pad = [None] * start[1]
    for cells in sheet.iter_rows():
        yield [*pad, *(None if c == "" else c for c in cells)]


def read_xlsx(path: Path, tick: Callable[[int], None] | None = None) -> FileData:
    import zipfile

    from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum

    out = FileData()
    try:
        # A small file can unpack into gigabytes: refuse before any reader opens it.
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
            # Both readers hold the whole shared-string table in memory, so it has a bound of its own.
            strings = sum(info.file_size for info in archive.infolist() if info.filename.endswith("sharedStrings.xml"))
            if strings > MAX_SHARED_STRINGS_BYTES:
                out.problems.append(
                    problem(
                        "",
                        0,
                        "",
                        "file_too_large",
                        f"该 Excel 文件中的文字内容解压后超过 {MAX_SHARED_STRINGS_BYTES // 2**20} MB，请分成几个文件导入。",
                    )
                )
                return out
            if unpacked > MAX_UNPACKED_BYTES:
                out.problems.append(
                    problem(
                        "",
                        0,
                        "",
                        "file_too_large",
                        f"该 Excel 文件解压后超过 {MAX_UNPACKED_BYTES // 2**20} MB，请分成几个文件导入。",
                    )
                )
                return out
            area = used_area(archive) if unpacked <= MAX_FAST_UNPACKED_BYTES else None
        if area is None or area > MAX_FAST_CELLS:
            return _read_xlsx_streaming(path, out, tick)
        book = CalamineWorkbook.from_path(str(path))
        sheets = [m.name for m in book.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
        for name in sheets:
            title = str(name).strip()
            if normalize_heading(title) == NOTES_SHEET:
                continue
            sheet = book.get_sheet_by_name(name)
            _read_rows(out, title, _fast_rows(sheet), _SHEETS.get(normalize_heading(title)), tick)
            del sheet
        book.close()
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, EOFError, CalamineError) as exc:
        return _unreadable(exc)
    return out


def _unreadable(exc: Exception) -> FileData:
    out = FileData()
    out.problems.append(
        problem("", 0, "", "file_unreadable", f"无法读取该 Excel 文件（{type(exc).__name__}），请另存为 .xlsx 后重试。")
    )
    return out


def _read_xlsx_streaming(path: Path, out: FileData, tick: Callable[[int], None] | None) -> FileData:
    """openpyxl's row-by-row reader, for the files the fast reader must not take whole."""
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        return _unreadable(exc)
    try:
        for ws in book.worksheets:
            title = str(ws.title).strip()
            if normalize_heading(title) == NOTES_SHEET:
                continue
            # The <dimension> a generator wrote may be wrong: read every row there is.
            ws.reset_dimensions()
            _read_rows(out, title, ws.iter_rows(values_only=True), _SHEETS.get(normalize_heading(title)), tick)
    finally:
        book.close()
    return out


def decode_csv(data: bytes) -> str:
    """Excel and WPS save CSV as UTF-8 with a BOM, or in the local code page (GBK)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


def read_csv(path: Path, sheet_name: str, tick: Callable[[int], None] | None = None) -> FileData:
    out = FileData()
    text = decode_csv(path.read_bytes())
    rows = (tuple(r) for r in csv.reader(io.StringIO(text, newline="")))
    _read_rows(out, sheet_name, rows, None, tick)
    if not out.sheets and not out.problems:
        out.ignored.clear()
        out.problems.append(
            problem(sheet_name, 1, "", "kind_unknown", "无法从表头判断这是哪一类数据，请使用导入模板中的列名。")
        )
    return out


def read_file(path: Path, file_format: str, display_name: str, tick: Callable[[int], None] | None = None) -> FileData:
    data = read_xlsx(path, tick) if file_format == "xlsx" else read_csv(path, display_name, tick)
    if not data.sheets and not data.problems:
        data.problems.append(
            problem("", 0, "", "no_data", "文件中没有可识别的工作表（人员、任职、证书、继续教育、薪酬）。")
        )
    return data
