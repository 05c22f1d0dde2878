"""The audit trail in words for a record's page: who (their display name), what, which record
by what it is, and when in China's time. The API keeps the raw events."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from registry import clock
from registry.audit.schemas import AuditEventRead
from registry.schemas import LABELS

ACTIONS = {
    "create": "登记",
    "update": "修改",
    "verify": "核验通过",
    "reject": "驳回",
    "issue": "出具",
    "reissue": "补办",
    "supersede": "替代",
    "revoke": "撤销",
    "reveal": "查看完整身份号码",
    "export": "导出",
    "delete": "删除",
    "compute": "计算",
    "submit": "提交",
    "approve": "批准",
    "close": "关闭",
    "return": "退回",
}

ENTITIES = {
    "practitioner": "档案",
    "ce_record": "继续教育记录",
    "certification": "职业水平证书",
    "certificate": "资格证明",
    "employment": "在岗经历",
    "salary_record": "薪酬记录",
    "award": "表彰奖励",
    "payroll_line": "津贴发放明细",
    "payroll_run": "津贴发放批次",
}


@dataclass(frozen=True)
class TrailRow:
    at: str
    who: str
    what: str
    which: str


def _which(entity_type: str, data: dict[str, Any]) -> str:
    label = ENTITIES.get(entity_type, "记录")
    if entity_type == "ce_record" and data.get("course"):
        unit = data.get("unit") or "学时"
        return f"{label}（{data.get('activity_date', '')} {data['course']} {data.get('hours', '')} {unit}）"
    if entity_type == "certification" and data.get("certificate_number"):
        return f"{LABELS.get(str(data.get('level')), '')}证书 {data['certificate_number']}"
    if entity_type == "certificate" and data.get("serial"):
        return f"{label} {data['serial']}"
    if entity_type == "practitioner" and data.get("name"):
        return f"{data['name']}的档案"
    if entity_type == "employment" and data.get("in_post_from"):
        post = LABELS.get(str(data.get("post_type")), "")
        return f"{label}（{post}，{data['in_post_from']} 起）"
    if entity_type == "salary_record" and data.get("year"):
        return f"{data['year']} 年{label}"
    return label


def describe(events: list[AuditEventRead], names: dict[int, str]) -> list[TrailRow]:
    rows = []
    for e in events:
        data = {**(e.detail or {}), **(e.before or {}), **(e.after or {})}
        at = e.at if e.at.tzinfo else e.at.replace(tzinfo=dt.UTC)
        rows.append(
            TrailRow(
                at=at.astimezone(clock.CHINA).strftime("%Y-%m-%d %H:%M"),
                who=names.get(e.actor_user_id or 0, e.actor_name),
                what=ACTIONS.get(e.action, "操作") + ENTITIES.get(e.entity_type, "记录"),
                which=_which(e.entity_type, data),
            )
        )
    return rows
