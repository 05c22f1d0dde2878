"""The import template: one sheet per kind with its headings and an example row, and a notes
sheet explaining each column. Written with xlsxwriter; ID-number and code columns are text.

The example rows are made for the user who downloads the template: they name a region and an
existing organisation of that user's scope, so that the template uploaded as it is passes its
own dry run (and shows what a filled row looks like in that user's own terms)."""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor, organization_scope
from registry.imports.sheets import KINDS, NOTES_SHEET
from registry.models import Organization, Region

# Per sheet (kind key), the example cells that depend on who imports; a sheet mapped to None
# gets no example row (the user may not import that kind).
Examples = dict[str, dict[str, Any] | None]

TEXT_COLUMNS = {
    "id_number",
    "credit_code",
    "certificate_number",
    "household_region_code",
    "phone",
    "bank_account_number",
}


async def scope_examples(session: AsyncSession, actor: Actor) -> Examples:
    """Example cells in the importer's scope: their region, and an open organisation of theirs
    whose name is unique in the registry (so the name alone finds it)."""
    unique_names = select(Organization.name).group_by(Organization.name).having(func.count() == 1)
    org = (
        await session.execute(
            select(Organization.name, Organization.region_code)
            .where(
                organization_scope(actor, "write"),
                Organization.closed_on.is_(None),
                Organization.name.in_(unique_names),
            )
            .order_by(Organization.region_code, Organization.name)
            .limit(1)
        )
    ).first()
    roots = actor.region_roots("write")
    region_code = org.region_code if org else (roots[0] if roots else None)
    region = await session.get(Region, region_code) if region_code else None
    if region is None or region.level != 3:
        # A province or city clerk: their first county, which is where people and units are placed.
        prefix = "" if region is None else region.code[: 2 * region.level]
        region = await session.scalar(
            select(Region).where(Region.active, Region.level == 3, Region.code.startswith(prefix)).order_by(Region.code)
        )
    if region is None:
        return {}
    province = await session.get(Region, region.code[:2] + "0000")
    authority = f"{province.name}民政厅" if province else "省级民政部门"
    new_org = f"{region.name}社工服务中心"
    # Clerks may register units; the organisation's HR may not (the 单位 sheet stays empty).
    may_register_units = roots is None or bool(roots)
    org_name = org.name if org else new_org
    return {
        "organizations": {"name": new_org, "region_code": region.code} if may_register_units else None,
        "practitioners": {"household_region_code": region.code},
        "employment": {"org_name": org_name},
        "certifications": {},
        "registrations": {"authority": authority},
        "ce": {"provider": f"{region.name}社会工作协会"},
        "salaries": {"org_name": org_name},
    }


def template_xlsx(examples: Examples | None = None) -> bytes:
    import xlsxwriter

    examples = examples or {}

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
        with_example = kind.key not in examples or examples[kind.key] is not None
        own = examples.get(kind.key) or {}
        for index, column in enumerate(kind.columns):
            sheet.write_string(0, index, column.heading, required if column.required else optional)
            cell_format = as_text if column.key in TEXT_COLUMNS else example
            value = own.get(column.key, column.example)
            if with_example and isinstance(value, int):
                sheet.write_number(1, index, value, example)
            elif with_example:
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
