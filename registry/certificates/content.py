"""What each kind of certificate states, built from the evaluator's decision (pure functions).

A certificate is only issued when the decision is positive; its findings, figures and citations
are printed as the evaluator wrote them, so the paper says what the page and the export say.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from registry.rules import evaluate
from registry.rules.model import Decision, Facts, RuleBook
from registry.schemas import LABELS

KIND_LABELS = {
    "allowance": "职业津贴资格证明",
    "ce": "继续教育达标证明",
    "salary": "薪酬待遇达标证明",
    "award": "奖励证明",
    "registration": "职业水平证书登记证明",
}
KIND_HELP = {
    "allowance": "期间填月份，如 2026-10（该月月末须已过）",
    "ce": "期间填年度，如 2025",
    "salary": "期间填已结束的年度，如 2025",
    "award": "选择已批准的奖励",
    "registration": "期间填日期，如 2026-11-01（默认今天）",
}


@dataclass(frozen=True)
class Content:
    decision: Decision
    statement: str  # follows "兹证明 姓名（公民身份号码 …）"
    facts: list[tuple[str, str]]
    headline: str  # the one line the QR code and the verification page lead with
    valid_until: dt.date


def one_year_from(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1) - dt.timedelta(days=1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def _finding_figure(decision: Decision, name: str) -> str | None:
    return next((f.figures[name] for f in decision.findings if name in f.figures), None)


def allowance(
    facts: Facts, book: RuleBook, year: int, month: int, org_names: dict[int, str], today: dt.date
) -> Content:
    decision = evaluate.allowance(facts, book, year, month)
    cutoff = evaluate.month_end(year, month)
    spell = facts.spell_on(cutoff)
    cert = evaluate.best_valid_cert(facts, cutoff)
    period = cert.registration_on(cutoff) if cert else None
    amount = evaluate.yuan(decision.amount or Decimal(0))
    rows = [
        ("津贴月份", f"{year} 年 {month} 月（截止日 {cutoff}）"),
        ("职业水平", LABELS[cert.level] if cert else "—"),
        ("证书编号", cert.number if cert else "—"),
        ("登记有效期", f"{period.start} 至 {period.end}" if period else "—"),
        ("工作单位", org_names.get(spell.organization_id, "—") if spell else "—"),
        ("岗位", LABELS.get(spell.post_type, spell.post_type) if spell else "—"),
        ("每月津贴标准", f"{amount} 元"),
    ]
    level = LABELS[cert.level].split("（")[0] if cert else ""
    return Content(
        decision,
        f"符合 {year} 年 {month} 月社会工作专业人才职业津贴发放条件，每月津贴标准 {amount} 元。",
        rows,
        f"{year}-{month:02d} 职业津贴 {amount} 元/月（{level}）",
        one_year_from(today),
    )


def continuing_education(facts: Facts, book: RuleBook, year: int, today: dt.date) -> Content:
    decision = evaluate.continuing_education(facts, book, year, today)
    totals = evaluate.ce_totals(facts, year)
    rows = [("年度", f"{year} 年")]
    for category in evaluate.ALL_CATEGORIES:
        if category in totals:
            text = "，".join(f"{evaluate.one_place(h)} {unit}" for unit, h in sorted(totals[category].items()))
            rows.append((f"已核验{evaluate.CATEGORY_LABELS[category]}", text))
    for f in decision.findings:
        if "required" in f.figures:
            got = f.figures.get("hours") or f.figures.get("supervision", "")
            rows.append(
                (f"{f.rule_id} 要求", f"不少于 {f.figures['required']} {f.figures.get('unit', '')}，已计 {got}")
            )
    hours = _finding_figure(decision, "hours")
    unit_name = _finding_figure(decision, "unit") or ""
    return Content(
        decision,
        f"{year} 年度继续教育时数达到所在地区规定的要求。",
        rows,
        f"{year} 年继续教育达标" + (f"（{hours} {unit_name}）" if hours else ""),
        one_year_from(today),
    )


def salary(facts: Facts, book: RuleBook, year: int, today: dt.date) -> Content:
    decision = evaluate.salary(facts, book, year)
    f = decision.findings[0] if decision.findings else None
    figures: dict[str, Any] = dict(f.figures) if f else {}
    rows = [("年度", f"{year} 年")]
    if figures:
        rows += [
            ("年度薪酬", f"{figures['pay']} 元" + ("（月薪 × 12）" if figures.get("pay_period") == "monthly" else "")),
            (
                "对标基数",
                f"{figures['benchmark_year']} 年 {figures['benchmark']} 元（区划 {figures['benchmark_region']}）",
            ),
            ("倍数", str(figures["multiplier"])),
            ("对标线", f"{figures['threshold']} 元"),
        ]
    return Content(
        decision,
        f"{year} 年度薪酬待遇达到所在地区规定的对标水平。",
        rows,
        f"{year} 年薪酬 {figures.get('pay', '')} 元，达到对标线 {figures.get('threshold', '')} 元",
        one_year_from(today),
    )


def award(
    decision: Decision, programme: str, amount: Decimal, status: str, approved_on: dt.date | None, today: dt.date
) -> Content:
    label = evaluate.PROGRAMME_LABELS.get(programme, programme)
    rows = [
        ("奖励项目", label),
        ("奖励金额", f"{evaluate.yuan(amount)} 元"),
        ("批准日期", str(approved_on) if approved_on else "—"),
        ("状态", {"approved": "已批准", "paid": "已发放"}.get(status, status)),
    ]
    return Content(
        decision,
        f"经批准，获得“{label}”奖励，奖励金额 {evaluate.yuan(amount)} 元。",
        rows,
        f"{label} {evaluate.yuan(amount)} 元",
        one_year_from(today),
    )


def registration(facts: Facts, book: RuleBook, day: dt.date, today: dt.date) -> Content:
    decision = evaluate.registration(facts, book, day)
    cert = evaluate.best_valid_cert(facts, day)
    period = cert.registration_on(day) if cert else None
    rows = [("核验日期", str(day))]
    valid_until = one_year_from(today)
    if cert is not None and period is not None:
        rows += [
            ("职业水平", LABELS[cert.level]),
            ("证书编号", cert.number),
            ("登记有效期", f"{period.start} 至 {period.end}"),
            ("核验日期（证书）", str(cert.verified_on) if cert.verified_on else "—"),
        ]
        if period.end is not None:
            valid_until = min(valid_until, period.end)
    level = LABELS[cert.level].split("（")[0] if cert else ""
    return Content(
        decision,
        "持有社会工作者职业水平证书，并在登记有效期内。",
        rows,
        f"{level}证书 {cert.number if cert else ''} 登记有效至 {period.end if period else ''}",
        valid_until,
    )


def decision_json(decision: Decision) -> dict[str, Any]:
    return {
        "question": decision.question,
        "period": decision.period,
        "outcome": decision.outcome,
        "summary": decision.summary,
        "amount": None if decision.amount is None else evaluate.yuan(decision.amount),
        "findings": [
            {
                "rule_id": f.rule_id,
                "version": f.version,
                "rule_ref": f.rule_ref,
                "met": f.met,
                "text": f.text,
                "figures": dict(f.figures),
                "citation": f.citation,
            }
            for f in decision.findings
        ],
    }
