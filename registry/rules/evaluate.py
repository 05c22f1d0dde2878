"""The evaluator: pure functions from a person's facts and the rules in force to decisions.

No I/O and no clock: every function takes the day or period it judges. Pages, exports and
certificates print the findings these return, so the explanation is the same everywhere.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import TypeVar

from registry.rules.model import (
    EDUCATION_RANK,
    LEVEL_RANK,
    Cert,
    Decision,
    Facts,
    Finding,
    PolicyRule,
    RuleBook,
    Spell,
)
from registry.schemas import LABELS

T = TypeVar("T")

ZERO = Decimal(0)
CATEGORY_LABELS = {"training": "培训", "supervision": "督导", "academic": "学术活动", "other": "其他"}


def yuan(amount: Decimal) -> str:
    return f"{amount.quantize(Decimal('0.01'), ROUND_HALF_UP):,}"


def one_place(hours: Decimal) -> str:
    return str(hours.quantize(Decimal("0.1"), ROUND_HALF_UP))


@functools.lru_cache(maxsize=1024)
def month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def kept(book: RuleBook, key: tuple[object, ...], make: Callable[[], T]) -> T:
    """What ``make`` returns for ``key``, made once per rule book: a finding that depends only on
    the rule (by its id in the book, which keeps it alive) and the values in the key. A payroll
    run judges 100,000 people with a few thousand distinct ones (one per employer and post). At
    most ``MEMO_LIMIT`` are kept (emptied when full): the dashboard's full refresh judges the
    whole country with one book, 80,000 employers and more."""
    memo = book.memo
    found = memo.get(key, _MISSING)
    if found is _MISSING:
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        found = memo[key] = make()
    return found  # type: ignore[no-any-return]


_MISSING = object()
MEMO_LIMIT = 20_000  # about 20 MB of findings at most


def best_valid_cert(facts: Facts, day: dt.date, *, entitled: bool = False) -> Cert | None:
    """The highest certificate valid on the day; ``entitled``: judged as a late verification
    establishes it (verified now, whenever that was), not as it was known on the day."""
    valid = [c for c in facts.certs if (c.entitled_on(day) if entitled else c.valid_on(day))]
    return max(valid, key=lambda c: (LEVEL_RANK[c.level], c.id)) if valid else None


def _why_not_valid(cert: Cert, day: dt.date) -> str:
    """Why a verified certificate is not a valid one on the day, leading with the condition that
    decides: a cancellation, a suspension, a lapsed or not yet running registration, and only
    then a verification established after the day."""
    name = f"{LABELS[cert.level]}证书（{cert.number}）"
    hold = cert.hold_on(day)
    if hold is not None and hold.kind == "cancellation":
        return f"{name}已于 {hold.start} 注销" + (f"（{hold.note}）" if hold.note else "") + "。"
    if hold is not None:
        until = f"至 {hold.end}" if hold.end else "起"
        return f"{name}登记 {hold.start} {until}暂停" + (f"（{hold.note}）" if hold.note else "") + "。"
    if cert.registration_on(day) is None:
        if not cert.registrations:
            return f"{name}未办理登记。"
        lapsed = cert.last_registration_before(day)
        if lapsed is not None:
            return f"{name}的登记有效期已于 {lapsed.end} 届满，须办理再登记后方为有效证书。"
        return f"{name}的登记有效期自 {cert.registrations[0].start} 起，{day} 尚未生效。"
    return f"{name}于 {cert.verified_on} 核验通过，晚于 {day}，{day} 时尚不是已核验的有效证书。"


def _registration_finding(
    rule: PolicyRule | None, facts: Facts, day: dt.date, *, entitled: bool = False
) -> tuple[Cert | None, Finding | None]:
    cert = best_valid_cert(facts, day, entitled=entitled)
    if rule is None:
        return cert, None
    if cert is not None:
        period = cert.registration_on(day)
        assert period is not None
        renewal = "（再登记）" if period.kind == "renewal" else ""
        late = (
            f"证书于 {cert.verified_on} 核验确认，登记在先，应发自登记有效之月起。"
            if entitled and cert.verified_on is not None and cert.verified_on > day
            else ""
        )
        return cert, Finding.of(
            rule,
            True,
            f"持有已核验的{LABELS[cert.level]}证书（{cert.number}），登记有效期{renewal} {period.start} 至 "
            f"{period.end}，{day} 在有效期内。{late}",
            level=cert.level,
            certificate_number=cert.number,
            registration_from=period.start,
            registration_to=period.end,
            day=day,
        )
    verified = [c for c in facts.certs if c.status == "verified"]
    if not facts.certs:
        text = "没有登记职业水平证书。"
    elif not verified:
        text = "证书尚未核验通过（待核验或已驳回）。"
    else:
        # The certificate nearest to being valid on the day speaks: one registered then (so only
        # a hold or the verification day failed), else the one registered most recently.
        def rank(c: Cert) -> tuple[int, dt.date, int]:
            latest = c.registrations[-1].end if c.registrations else None
            return (c.registration_on(day) is not None, latest or dt.date.min, LEVEL_RANK[c.level])

        text = _why_not_valid(max(verified, key=rank), day)
    return None, Finding.of(rule, False, text, day=day)


def registration(facts: Facts, book: RuleBook, day: dt.date) -> Decision:
    """Does the person hold a verified certificate whose registration period runs on ``day``
    (MCA-REG-3Y)? What a 职业水平证书登记证明 states."""
    rule = book.resolve("registration", facts.region_on(day), day)
    if rule is None:
        return Decision("registration", str(day), None, "没有适用的证书登记规定。", ())
    cert, finding = _registration_finding(rule, facts, day)
    assert finding is not None  # a rule was given
    if cert is None:
        return Decision("registration", str(day), False, f"{day} 没有有效登记的职业水平证书。", (finding,))
    summary = f"{day} 持有有效登记的{LABELS[cert.level]}证书。"
    return Decision("registration", str(day), True, summary, (finding,), subject=cert.number)


# --- the monthly allowance ------------------------------------------------------------------------


def allowance(facts: Facts, book: RuleBook, year: int, month: int, *, entitled: bool = False) -> Decision:
    """HB-ALW-100-200 (all versions): judged on the month's cut-off day (its last day), with the
    facts that held that day; ``entitled``: with the verification known now (back pay)."""
    cutoff = month_end(year, month)
    period = f"{year}-{month:02d}"
    spell = facts.spell_on(cutoff)
    region = spell.region_code if spell else facts.region_on(cutoff)
    chain = book.chain("allowance", region, cutoff)
    if not chain:
        return Decision("allowance", period, None, "所在地区在该月没有职业津贴规定。", ())
    rule = chain[0]
    findings: list[Finding] = []
    in_post = spell is not None and spell.post_type in rule.params.get("post_types", ())
    if spell is None:
        findings.append(kept(book, ("off post", id(rule), cutoff), lambda: _off_post_finding(rule, cutoff)))
    else:
        key = ("in post", id(rule), cutoff, spell.post_type, spell.organization_id)
        findings.append(kept(book, key, lambda: _post_finding(rule, cutoff, spell)))
    cert, reg = _registration_finding(book.resolve("registration", region, cutoff), facts, cutoff, entitled=entitled)
    if reg is not None:
        findings.append(reg)
    eligible = in_post and cert is not None
    amount = ZERO
    if cert is not None:
        level = cert.level
        amount, finding = kept(
            book,
            ("amount", *map(id, chain), level, eligible),
            lambda: _amount_finding(rule, chain, level, eligible),
        )
        findings.append(finding)
    if eligible:
        summary = kept(
            book,
            ("paid", period, amount, cert.level),  # type: ignore[union-attr]
            lambda: f"{period} 符合职业津贴发放条件，每月 {yuan(amount)} 元（{LABELS[cert.level]}）。",  # type: ignore[union-attr]
        )
    else:
        summary = (
            f"{period} 不符合职业津贴发放条件："
            + "；".join(f.text.rstrip("。") for f in findings if f.met is False)
            + "。"
        )
        amount = ZERO
    return Decision("allowance", period, eligible, summary, tuple(findings), amount=amount, cert=cert)


def _off_post_finding(rule: PolicyRule, cutoff: dt.date) -> Finding:
    return Finding.of(rule, False, f"{cutoff}（当月截止日）不在岗。", cutoff=cutoff)


def _post_finding(rule: PolicyRule, cutoff: dt.date, spell: Spell) -> Finding:
    post_types = tuple(rule.params.get("post_types", ()))
    in_post = spell.post_type in post_types
    wanted = "、".join(LABELS.get(p, p) for p in post_types)
    return Finding.of(
        rule,
        in_post,
        f"{cutoff}（当月截止日）在岗，岗位为{LABELS.get(spell.post_type, spell.post_type)}"
        + ("。" if in_post else f"，津贴对象为{wanted}。"),
        cutoff=cutoff,
        post_type=spell.post_type,
        organization_id=spell.organization_id,
    )


def _amount_finding(rule: PolicyRule, chain: list[PolicyRule], level: str, eligible: bool) -> tuple[Decimal, Finding]:
    amount, text, figures = _allowance_amount(rule, chain, level)
    # The amount is a consequence, not a condition: unjudged when not eligible, and then worded
    # so that it does not read like an entitlement.
    if not eligible:
        text = "如符合发放条件，" + text
    return amount, Finding.of(rule, True if eligible else None, text, **figures)


def _amount_for(rule: PolicyRule, level: str) -> tuple[Decimal, str]:
    """The rule's amount for a holder of ``level`` and the level whose amount it is: a rule that
    names no senior amount (or says so) pays a senior holder its intermediate amount."""
    amounts = rule.params.get("amounts", {})
    used = level
    if level == "senior" and ("senior" not in amounts or rule.params.get("senior_from_intermediate")):
        used = "intermediate"
    return Decimal(str(amounts.get(used, "0"))), used


def _allowance_amount(rule: PolicyRule, chain: list[PolicyRule], level: str) -> tuple[Decimal, str, dict[str, object]]:
    amount, used_level = _amount_for(rule, level)
    note = "（文件未单列高级标准，按中级标准发放）" if used_level != level else ""
    floor_from = None
    # A more specific region may raise an amount but never go below an ancestor's floor for
    # the same holder (each ancestor's own amount for that level).
    for ancestor in chain[1:]:
        if not ancestor.params.get("floor"):
            continue
        floor, _ = _amount_for(ancestor, level)
        if floor > amount:
            amount, floor_from = floor, ancestor
    text = f"按{LABELS[level]}标准每月不低于 {yuan(amount)} 元{note if floor_from is None else ''}。"
    if floor_from is not None:
        text += f"（本地标准低于上级规定，按{floor_from.issuer}《{floor_from.document_title}》的下限执行。）"
    figures: dict[str, object] = {"level": level, "amount_level": used_level, "amount": yuan(amount), "unit": "元/月"}
    if floor_from is not None:
        figures["floor_rule"] = floor_from.ref  # the id for staff and the API; the text names the document
    return amount, text, figures


# --- continuing education --------------------------------------------------------------------------


def _in_unit(hours: Decimal, unit: str, target: str, class_hour_minutes: int) -> Decimal:
    """Hours recorded in ``unit`` expressed in ``target``; the catalogue names how long a class
    hour (学时) is for that rule, so the two units are never silently taken as equal."""
    if unit == target:
        return hours
    minutes = Decimal(class_hour_minutes)
    if unit == "学时" and target == "小时":
        return hours * minutes / 60
    return hours * 60 / minutes


def _sum(
    facts: Facts,
    rule: PolicyRule,
    first: dt.date,
    last: dt.date,
    categories: tuple[str, ...],
) -> Decimal:
    unit = str(rule.params.get("unit", "小时"))
    minutes = int(rule.params.get("class_hour_minutes", 45))
    return sum(
        (
            _in_unit(r.hours, r.unit, unit, minutes)
            for r in facts.ce
            if r.status == "verified" and first <= r.day <= last and r.category in categories
        ),
        ZERO,
    )


def ce_totals(facts: Facts, year: int) -> dict[str, dict[str, Decimal]]:
    """Verified hours of the year by category, in each unit as recorded."""
    totals: dict[str, dict[str, Decimal]] = {}
    for r in facts.ce:
        if r.status == "verified" and r.day.year == year:
            by_unit = totals.setdefault(r.category, {})
            by_unit[r.unit] = by_unit.get(r.unit, ZERO) + r.hours
    return totals


ALL_CATEGORIES = ("training", "supervision", "academic", "other")


def continuing_education(facts: Facts, book: RuleBook, year: int, as_of: dt.date) -> Decision:
    """CE compliance for a calendar year against every CE rule of the person's jurisdiction."""
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    day = min(last, as_of)
    region = facts.region_on(day)
    findings: list[Finding] = []

    rule = book.resolve("ce_annual", region, day)
    if rule is not None:
        need = Decimal(str(rule.params["min_hours"]))
        got = _sum(facts, rule, first, last, tuple(rule.params.get("categories", ALL_CATEGORIES)))
        met = got >= need
        findings.append(
            Finding.of(
                rule,
                met if met or day == last else None,
                f"{year} 年已核验继续教育 {one_place(got)} {rule.params['unit']}，要求不少于 {need} {rule.params['unit']}"
                + ("，已达标。" if met else f"，尚差 {one_place(need - got)}。"),
                hours=one_place(got),
                required=need,
                unit=rule.params["unit"],
            )
        )

    rule = book.resolve("ce_supervision_training", region, day)
    if rule is not None:
        spells = [
            s
            for s in facts.spells
            if s.post_type in rule.params.get("post_types", ()) and s.overlaps(first, last) and s.duty_level
        ]
        if spells:
            duty = max(spells, key=lambda s: s.start).duty_level or "county"
            need_sup = Decimal(str(rule.params[duty]["supervision"]))
            need_trn = Decimal(str(rule.params[duty]["training"]))
            sup = _sum(facts, rule, first, last, ("supervision",))
            trn = _sum(facts, rule, first, last, ("training",))
            met = sup >= need_sup and trn >= need_trn
            findings.append(
                Finding.of(
                    rule,
                    met if met or day == last else None,
                    f"{LABELS[duty]}驻站社工：{year} 年专业督导 {one_place(sup)} 小时（要求 {need_sup}），"
                    f"专业培训 {one_place(trn)} 小时（要求 {need_trn}）" + ("，已达标。" if met else "，未达标。"),
                    duty_level=duty,
                    supervision=one_place(sup),
                    supervision_required=need_sup,
                    training=one_place(trn),
                    training_required=need_trn,
                    unit="小时",
                )
            )

    rule = book.resolve("ce_cumulative", region, day)
    if rule is not None:
        spell = facts.spell_on(day)
        if spell is not None and spell.post_type in rule.params.get("post_types", ()):
            need = Decimal(str(rule.params["min_hours"]))
            got = _sum(facts, rule, dt.date.min, last, tuple(rule.params.get("categories", ("training",))))
            met = got >= need
            findings.append(
                Finding.of(
                    rule,
                    met if met else None,
                    f"截至 {year} 年底累计社会工作专业培训 {one_place(got)} 小时，要求累计不少于 {need} 小时"
                    + ("，已达标。" if met else f"，尚差 {one_place(need - got)} 小时。"),
                    hours=one_place(got),
                    required=need,
                    unit="小时",
                )
            )

    rule = book.resolve("ce_cycle", region, day)
    if rule is not None:
        cert = best_valid_cert(facts, day)
        period = cert.registration_on(day) if cert else None
        if cert is None:
            # No period running on the day: judge the one that ended within the year, if any.
            ended_in_year = [
                (p, c)
                for c in facts.certs
                if c.status == "verified"
                for p in c.registrations
                if p.end is not None and first <= p.end <= day
            ]
            if ended_in_year:
                period, cert = max(ended_in_year, key=lambda pc: (pc[0].end or first, LEVEL_RANK[pc[1].level]))
        if cert is not None and period is not None and period.end is not None:
            need = Decimal(str(rule.params["hours"][cert.level]))
            got = _sum(facts, rule, period.start, period.end, ALL_CATEGORIES)
            met = got >= need
            ended = period.end <= as_of
            findings.append(
                Finding.of(
                    rule,
                    True if met else (False if ended else None),
                    f"登记期（{period.start} 至 {period.end}）已核验继续教育 {one_place(got)} 小时，"
                    f"{LABELS[cert.level]}要求不少于 {need} 小时"
                    + (
                        "，已满足再登记要求。"
                        if met
                        else ("，未满足。" if ended else f"，尚差 {one_place(need - got)} 小时。")
                    ),
                    hours=one_place(got),
                    required=need,
                    period_from=period.start,
                    period_to=period.end,
                    unit="小时",
                )
            )

    judged = [f.met for f in findings if f.met is not None]
    pending = any(f.met is None for f in findings)
    if not findings:
        return Decision("ce", str(year), None, f"{year} 年所在地区没有适用的继续教育时数规定。", ())
    outcome: bool | None = all(judged) if judged else None
    if outcome is True and pending:
        outcome = None
    summary = {
        True: f"{year} 年继续教育达标。",
        False: f"{year} 年继续教育未达标。",
        None: f"{year} 年继续教育进行中。",
    }[outcome]
    return Decision("ce", str(year), outcome, summary, tuple(findings))


# --- salary against the benchmark ------------------------------------------------------------------


def _benchmark(facts: Facts, basis: str, year: int, region: str) -> tuple[Decimal, str, str, str] | None:
    """The figure of the region, else of its city, else of its province (with the region's name)."""
    for code in (region, region[:4] + "00", region[:2] + "0000"):
        for b in facts.benchmarks:
            if b.region_code == code and b.year == year and b.basis == basis:
                return b.amount, code, b.source, b.region_name
    return None


BASIS_LABELS = {
    "average_social_wage": "社会平均工资",
    "urban_nonprivate_inpost_avg_wage": "城镇非私营单位在岗职工平均工资",
}


def salary(facts: Facts, book: RuleBook, year: int) -> Decision:
    """Pay of ``year`` against the benchmark published for the year before (HN-SAL-1.2, XM-SAL-AVG)."""
    last = dt.date(year, 12, 31)
    spells = [s for s in facts.spells if s.overlaps(dt.date(year, 1, 1), last)]
    spell = max(spells, key=lambda s: s.start) if spells else None
    region = spell.region_code if spell else facts.region_on(last)
    rule = book.resolve("salary", region, last)
    if rule is None or region is None:
        return Decision("salary", str(year), None, f"{year} 年所在地区没有薪酬对标规定。", ())
    if spell is None or spell.post_type not in rule.params.get("post_types", ()):
        post = LABELS.get(spell.post_type, spell.post_type) if spell else "不在岗"
        finding = Finding.of(rule, None, f"{year} 年岗位为{post}，不在该规定适用范围内。")
        return Decision("salary", str(year), None, f"{year} 年薪酬对标规定不适用。", (finding,))
    basis = str(rule.params["basis"])
    multiplier = Decimal(str(rule.params["multiplier"]))
    pay = facts.pay.get(year)
    bench = _benchmark(facts, basis, year - 1, spell.region_code)
    if bench is None:
        finding = Finding.of(
            rule,
            None,
            f"尚未登记 {year - 1} 年{BASIS_LABELS[basis]}（{spell.region_code} 及上级地区均无数据），无法对标。",
        )
        return Decision("salary", str(year), None, f"{year} 年薪酬暂无法对标。", (finding,))
    benchmark, bench_region, source, bench_name = bench
    where = f"{bench_name}（{bench_region}）" if bench_name else bench_region
    if bench_region != spell.region_code:
        where += "，所在区划未公布，取上级区划数据"
    exact = benchmark * multiplier
    # Compared exactly; shown rounded up to the cent, so that pay at or above the figure shown
    # is always compliant and pay below it never is.
    threshold = exact.quantize(Decimal("0.01"), ROUND_CEILING)
    if pay is None or pay.status != "verified":
        status = "尚未登记" if pay is None else "尚未核验"
        finding = Finding.of(
            rule, None, f"{year} 年薪酬{status}；对标线为 {yuan(threshold)} 元。", threshold=yuan(threshold)
        )
        return Decision("salary", str(year), None, f"{year} 年薪酬{status}。", (finding,))
    annual = pay.annual
    met = annual >= exact
    basis_text = f"{year - 1} 年{BASIS_LABELS[basis]} {yuan(benchmark)} 元（{where}）"
    times = "" if multiplier == 1 else f" × {multiplier}"
    monthly = "（按月薪 × 12 计）" if pay.period == "monthly" else ""
    text = f"{year} 年薪酬 {yuan(annual)} 元{monthly}，对标线 {basis_text}{times} = {yuan(threshold)} 元，" + (
        "已达标。" if met else f"低于对标线 {yuan(threshold - annual)} 元。"
    )
    finding = Finding.of(
        rule,
        met,
        text,
        pay=yuan(annual),
        pay_period=pay.period,
        benchmark=yuan(benchmark),
        benchmark_year=year - 1,
        benchmark_region=bench_region,
        benchmark_region_name=bench_name,
        benchmark_source=source,
        multiplier=multiplier,
        threshold=yuan(threshold),
        gap=yuan(max(ZERO, exact - annual).quantize(Decimal("0.01"), ROUND_CEILING)),
    )
    summary = f"{year} 年薪酬" + ("达到对标线。" if met else f"低于对标线 {yuan(threshold - annual)} 元。")
    return Decision("salary", str(year), met, summary, (finding,))


# --- awards ----------------------------------------------------------------------------------------


def award_programmes(book: RuleBook, region: str | None, day: dt.date) -> dict[str, tuple[PolicyRule, Decimal]]:
    """Programmes open in the region on the day, with the rule and the amount it fixes."""
    found: dict[str, tuple[PolicyRule, Decimal]] = {}
    for rule in book.chain("award", region, day):
        for programme, amount in rule.params.get("programmes", {}).items():
            found.setdefault(programme, (rule, Decimal(str(amount))))
    return found


PROGRAMME_LABELS = {
    "national_leading_talent": "全国专业社会工作领军人才",
    "municipal_leading_talent": "厦门市专业社会工作领军人才",
    "outstanding_social_worker": "优秀社工",
}


def award(facts: Facts, book: RuleBook, programme: str, day: dt.date) -> Decision:
    """May this person receive this award now? Amount from the catalogue only."""
    region = facts.region_on(day)
    programmes = award_programmes(book, region, day)
    label = PROGRAMME_LABELS.get(programme, programme)
    if programme not in programmes:
        return Decision("award", str(day), False, f"所在地区当日没有“{label}”奖励项目。", (), subject=programme)
    rule, amount = programmes[programme]
    findings = []
    held = [a for a in facts.awards if a.status != "rejected"]
    repeatable = bool(rule.params.get("repeatable"))
    same = [a for a in held if a.programme == programme]
    if same and not repeatable:
        findings.append(
            Finding.of(rule, False, f"已获得（或已提名）“{label}”奖励，不能重复奖励。", programme=programme)
        )
    for group in rule.params.get("excludes", []):
        if programme in group:
            clash = [a for a in held if a.programme in group and a.programme != programme]
            if clash:
                other = PROGRAMME_LABELS.get(clash[0].programme, clash[0].programme)
                findings.append(
                    Finding.of(
                        rule, False, f"已获得（或已提名）“{other}”奖励，与“{label}”不重复奖励。", programme=programme
                    )
                )
    ok = not findings
    if ok:
        findings.append(
            Finding.of(rule, True, f"“{label}”奖励标准为 {yuan(amount)} 元。", programme=programme, amount=yuan(amount))
        )
    summary = f"可以给予“{label}”奖励 {yuan(amount)} 元。" if ok else f"不能给予“{label}”奖励。"
    return Decision("award", str(day), ok, summary, tuple(findings), amount=amount if ok else None, subject=programme)


# --- qualifications --------------------------------------------------------------------------------


def _age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def qualification(facts: Facts, book: RuleBook, day: dt.date) -> Decision:
    """HN-HIRE for station social workers hired under it; GS-POST-LEVEL for post levels."""
    region = facts.region_on(day)
    findings: list[Finding] = []
    for spell in facts.spells:
        # Each hire is judged by the hiring rule of the employer's region on the day of hire.
        rule = book.resolve("hiring", spell.region_code, spell.start)
        if rule is None or spell.post_type not in rule.params.get("post_types", ()) or spell.start > day:
            continue
        age = _age_on(facts.birth_date, spell.start)
        limit = int(rule.params["max_age_exclusive"])
        edu_ok = EDUCATION_RANK[facts.education] >= EDUCATION_RANK[str(rule.params["min_education"])]
        met = age < limit and edu_ok
        problems = []
        if age >= limit:
            problems.append(f"到岗时 {age} 周岁，不符合 {limit} 周岁以下的要求")
        if not edu_ok:
            problems.append(f"学历为{LABELS[facts.education]}，要求大专及以上")
        findings.append(
            Finding.of(
                rule,
                met,
                f"{spell.start} 新聘驻站社工：到岗时 {age} 周岁、{LABELS[facts.education]}"
                + ("，符合招聘条件。" if met else "；" + "；".join(problems) + "。"),
                hired=spell.start,
                age=age,
                education=facts.education,
            )
        )
    rule = book.resolve("post_level", region, day)
    if rule is not None:
        verified = (
            c for c in facts.certs if c.status == "verified" and (c.verified_on is None or c.verified_on <= day)
        )
        cert = max(verified, key=lambda c: LEVEL_RANK[c.level], default=None)
        posts = rule.params.get("posts", {})
        if cert is None:
            findings.append(Finding.of(rule, False, "没有已核验的职业水平证书，不具备社会工作专业技术岗位聘用条件。"))
        else:
            findings.append(
                Finding.of(
                    rule,
                    True,
                    f"持{LABELS[cert.level]}证书，可聘用到{posts.get(cert.level, cert.level)}（及以下）。",
                    level=cert.level,
                )
            )
    if not findings:
        return Decision("qualification", str(day), None, "所在地区没有适用的任职条件规定。", ())
    outcome = all(f.met for f in findings if f.met is not None)
    summary = "符合任职条件。" if outcome else "有不符合的任职条件。"
    return Decision("qualification", str(day), outcome, summary, tuple(findings))


def decisions(facts: Facts, book: RuleBook, as_of: dt.date) -> list[Decision]:
    """Everything the registry can say about the person on a day: the allowance of that month,
    CE of that year, pay of the previous year (the last complete one), awards and qualifications."""
    out = [
        allowance(facts, book, as_of.year, as_of.month),
        continuing_education(facts, book, as_of.year, as_of),
        salary(facts, book, as_of.year - 1),
        qualification(facts, book, as_of),
    ]
    for programme in award_programmes(book, facts.region_on(as_of), as_of):
        out.append(award(facts, book, programme, as_of))
    return out
