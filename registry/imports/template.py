"""The import template: one sheet per kind with its headings and an example row, and a notes
sheet explaining each column. Written with xlsxwriter; ID-number and code columns are text."""

from __future__ import annotations

import io

from registry.imports.sheets import KINDS, NOTES_SHEET

TEXT_COLUMNS = {
    "id_number",
    "credit_code",
    "certificate_number",
    "household_region_code",
    "phone",
    "bank_account_number",
}


def template_xlsx() -> bytes:
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    book.set_properties({"title": "社会工作人才库导入模板", "author": "社会工作人才库"})
    required = book.add_format({"bold": True, "bg_color": "#FCE4D6", "border": 1, "text_wrap": True})
    optional = book.add_format({"bold": True, "bg_color": "#EDEDED", "border": 1, "text_wrap": True})
    as_text = book.add_format({"num_format": "@", "font_color": "#7F7F7F", "italic": True})
    example = book.add_format({"font_color": "#7F7F7F", "italic": True})
    text_body = book.add_format({"num_format": "@"})
    for kind in KINDS:
        sheet = book.add_worksheet(kind.sheet)
        for index, column in enumerate(kind.columns):
            sheet.write_string(0, index, column.heading, required if column.required else optional)
            cell_format = as_text if column.key in TEXT_COLUMNS else example
            value = column.example
            if isinstance(value, int):
                sheet.write_number(1, index, value, example)
            else:
                sheet.write_string(1, index, str(value or ""), cell_format)
            # Whole column as text, so that Excel keeps all 18 digits of an ID number.
            sheet.set_column(
                index, index, max(12, len(column.heading) * 2 + 4), text_body if column.key in TEXT_COLUMNS else None
            )
            if column.note:
                sheet.write_comment(0, index, column.note)
        sheet.freeze_panes(1, 0)
    notes = book.add_worksheet(NOTES_SHEET)
    bold = book.add_format({"bold": True})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    notes.set_column(0, 0, 16)
    notes.set_column(1, 1, 28)
    notes.set_column(2, 2, 8)
    notes.set_column(3, 3, 70)
    lines = [
        "使用说明：每类数据一个工作表（人员、任职、证书、继续教育、薪酬），不用的表可以删除；第 1 行是列名，请勿修改。",
        "第 2 行是示例（灰色斜体），导入前请删除示例行。人员以公民身份号码识别；同一文件重复导入不会重复登记。",
        "先上传做“检查”（不写入），列出每一处问题（工作表、行号、列名）；无问题后再“提交”，全部写入或全部不写入。",
    ]
    for row, line in enumerate(lines):
        notes.write_string(row, 0, line)
    row = len(lines) + 1
    for index, heading in enumerate(("工作表", "列名", "必填", "说明")):
        notes.write_string(row, index, heading, bold)
    for kind in KINDS:
        row += 1
        notes.write_string(row, 0, kind.sheet, bold)
        notes.write_string(row, 3, kind.note, wrap)
        for column in kind.columns:
            row += 1
            aliases = f"（也可写作：{'、'.join(column.aliases[:3])}）" if column.aliases else ""
            notes.write_string(row, 1, column.heading)
            notes.write_string(row, 2, "是" if column.required else "")
            notes.write_string(row, 3, column.note + aliases, wrap)
    book.close()
    return out.getvalue()
