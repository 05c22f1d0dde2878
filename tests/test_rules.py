"""Pure tests of the policy evaluator: every individual rule at its boundaries, rule resolution and
versions, properties of the outcomes, and citations. Most tests use the shipped catalogue; the
resolution tests add hand-built rules. No database."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.rules import evaluate
from registry.rules.catalogue import shipped_rules
from registry.rules.evaluate import (
    allowance,
    award,
    award_programmes,
    continuing_education,
    decisions,
    qualification,
    salary,
)
from registry.rules.model import (
    AwardHeld,
    Benchmark,
    CeRecord,
    Cert,
    Decision,
    Facts,
    Finding,
    Pay,
    PolicyRule,
    RuleBook,
    Spell,
)

D = dt.date
SHIPPED = shipped_rules()
BOOK = RuleBook(SHIPPED)

HUBEI, WUHAN, JIANGAN, HUANGSHI = "420000", "420100", "420102", "420200"
HUNAN, ZHUZHOU, ZHUZHOU_COUNTY = "430000", "430200", "430202"
GANSU, CHENGGUAN = "620000", "620102"
XIAMEN, SIMING = "350200", "350203"

ASW = "average_social_wage"
URBAN = "urban_nonprivate_inpost_avg_wage"


# --- factories --------------------------------------------------------------------------------------


def spell(
    region: str = JIANGAN,
    post: str = "community_worker",
    start: dt.date = D(2015, 1, 1),
    end: dt.date | None = None,
    duty: str | None = None,
    org: int = 1,
) -> Spell:
    return Spell(organization_id=org, region_code=region, post_type=post, duty_level=duty, start=start, end=end)


def cert(
    level: str = "intermediate",
    status: str = "verified",
    reg_from: dt.date | None = D(2019, 1, 1),
    reg_to: dt.date | None = D(2029, 12, 31),
    cid: int = 1,
) -> Cert:
    return Cert(
        id=cid,
        level=level,
        number=f"Z{cid:08d}",
        status=status,
        registration_from=reg_from,
        registration_to=reg_to,
    )


def ce(day: dt.date, hours: str | Decimal, unit: str = "小时", category: str = "training", status: str = "verified"):
    return CeRecord(day=day, hours=Decimal(hours), unit=unit, category=category, status=status)


def pay(year: int, amount: str | Decimal, period: str = "annual", status: str = "verified") -> Pay:
    return Pay(year=year, amount=Decimal(amount), period=period, status=status)


def bench(region: str, year: int, amount: str | Decimal, basis: str = ASW) -> Benchmark:
    return Benchmark(region_code=region, year=year, basis=basis, amount=Decimal(amount), source="统计公报")


def person(
    *spells: Spell,
    certs: Iterable[Cert] = (),
    ce: Iterable[CeRecord] = (),
    pay: Iterable[Pay] = (),
    benchmarks: Iterable[Benchmark] = (),
    awards: Iterable[AwardHeld] = (),
    birth: dt.date = D(1985, 6, 15),
    education: str = "bachelor",
    region: str | None = None,
) -> Facts:
    return Facts(
        practitioner_id=1,
        birth_date=birth,
        education=education,
        region_code=region if region is not None else (spells[0].region_code if spells else None),
        spells=tuple(spells),
        certs=tuple(certs),
        ce=tuple(ce),
        pay={p.year: p for p in pay},
        benchmarks=tuple(benchmarks),
        awards=tuple(awards),
    )


def rule(
    rule_id: str,
    kind: str,
    region: str | None,
    start: dt.date,
    end: dt.date | None = None,
    version: int = 1,
    **params: Any,
) -> PolicyRule:
    return PolicyRule(
        id=rule_id,
        version=version,
        kind=kind,
        title=f"测试规则 {rule_id}",
        region_code=region,
        effective_from=start,
        effective_to=end,
        params=params,
        issuer="测试民政局",
        document_title="测试文件",
        document_number=f"测民〔2022〕{version}号",
        clause="一（一）",
        source="test",
        trust="official",
    )


def alw(
    rule_id: str,
    region: str,
    amounts: Mapping[str, object],
    start: dt.date = D(2021, 1, 1),
    end: dt.date | None = None,
    floor: bool = True,
    version: int = 1,
    **extra: Any,
) -> PolicyRule:
    return rule(
        rule_id,
        "allowance",
        region,
        start,
        end,
        version,
        post_types=["community_worker"],
        amounts={k: str(v) for k, v in amounts.items()},
        floor=floor,
        **extra,
    )


def book_with(*extra: PolicyRule) -> RuleBook:
    return RuleBook([*SHIPPED, *extra])


def found(decision: Decision, rule_id: str) -> list[Finding]:
    return [f for f in decision.findings if f.rule_id == rule_id]


def one(decision: Decision, rule_id: str) -> Finding:
    matches = found(decision, rule_id)
    assert len(matches) == 1, (rule_id, decision)
    return matches[0]


def amount_finding(decision: Decision) -> Finding:
    matches = [f for f in decision.findings if f.rule_id != "MCA-REG-3Y" and "amount" in f.figures]
    assert len(matches) == 1, decision
    return matches[0]


def shipped(rule_id: str, version: int = 1) -> PolicyRule:
    r = BOOK.find(rule_id, version)
    assert r is not None, rule_id
    return r


def hubei_worker(level: str = "intermediate", **kw: Any) -> Facts:
    return person(spell(JIANGAN), certs=[cert(level)], **kw)


# --- the shipped catalogue holds every individual rule ------------------------------------------------


def test_catalogue_holds_every_individual_rule_with_document_and_clause() -> None:
    ids = {r.id for r in SHIPPED}
    for rule_id in (
        "HB-ALW-100-200",
        "MCA-REG-3Y",
        "MCA-CE-CYCLE",
        "XM-CE-80",
        "HN-SUP-TRN",
        "GS-TRN-120",
        "HN-SAL-1.2",
        "XM-SAL-AVG",
        "XM-LT-AWARD",
        "ZZ-AWARD",
        "HN-HIRE",
        "GS-POST-LEVEL",
    ):
        assert rule_id in ids
    for r in SHIPPED:
        assert r.document_number and r.clause and r.source
    v1, v2 = shipped("HB-ALW-100-200", 1), shipped("HB-ALW-100-200", 2)
    assert (v1.effective_from, v1.effective_to) == (D(2019, 11, 1), D(2020, 12, 31))
    assert (v2.effective_from, v2.effective_to, v2.alias) == (D(2021, 1, 1), None, "HB-ALW-SENIOR")


# --- HB-ALW-100-200 v1 (2019-11-01 .. 2020-12-31) -----------------------------------------------------


@pytest.mark.parametrize(("level", "amount"), [("assistant", 100), ("intermediate", 200)])
def test_hb_alw_v1_assistant_100_intermediate_200(level: str, amount: int) -> None:
    d = allowance(hubei_worker(level), BOOK, 2020, 6)
    assert d.outcome is True
    assert d.amount == Decimal(amount)
    f = amount_finding(d)
    assert (f.rule_id, f.version, f.met) == ("HB-ALW-100-200", 1, True)
    assert f.figures["amount"] == f"{amount}.00"
    assert f.figures["amount_level"] == level
    assert "按中级标准" not in f.text
    assert f.rule_ref == "HB-ALW-100-200 v1"


def test_hb_alw_v1_senior_is_paid_the_intermediate_amount_with_a_note() -> None:
    d = allowance(hubei_worker("senior"), BOOK, 2020, 12)
    assert d.outcome is True
    assert d.amount == Decimal(200)
    f = amount_finding(d)
    assert f.version == 1
    assert f.figures["level"] == "senior"
    assert f.figures["amount_level"] == "intermediate"
    assert "按中级标准发放" in f.text
    assert "200.00" in d.summary


def test_hb_alw_v1_starts_on_2019_11_01() -> None:
    facts = hubei_worker("assistant")
    before = allowance(facts, BOOK, 2019, 10)
    assert before.outcome is None
    assert before.findings == ()
    assert before.amount is None
    first = allowance(facts, BOOK, 2019, 11)
    assert first.outcome is True and first.amount == Decimal(100)


# --- HB-ALW-100-200 v2 (HB-ALW-SENIOR, from 2021-01-01) ----------------------------------------------


@pytest.mark.parametrize(("level", "amount"), [("assistant", 100), ("intermediate", 200), ("senior", 300)])
def test_hb_alw_v2_pays_100_200_300_from_2021_01(level: str, amount: int) -> None:
    d = allowance(hubei_worker(level), BOOK, 2021, 1)
    assert d.outcome is True
    assert d.amount == Decimal(amount)
    f = amount_finding(d)
    assert (f.version, f.met, f.figures["amount_level"]) == (2, True, level)
    assert f.rule_ref.startswith("HB-ALW-100-200")
    assert "HB-ALW-SENIOR" in f.rule_ref
    assert "按中级标准" not in f.text


def test_hb_alw_senior_gets_200_for_2020_12_and_300_for_2021_01() -> None:
    facts = hubei_worker("senior")
    dec, jan = allowance(facts, BOOK, 2020, 12), allowance(facts, BOOK, 2021, 1)
    assert (dec.amount, amount_finding(dec).version) == (Decimal(200), 1)
    assert (jan.amount, amount_finding(jan).version) == (Decimal(300), 2)
    # Re-evaluating the past month later gives the same answer.
    assert allowance(facts, BOOK, 2020, 12) == dec


# --- allowance eligibility on the cut-off day (last day of the month) ----------------------------------


@pytest.mark.parametrize("post", ["station_social_worker", "service_org_staff", "civil_affairs_staff", "other"])
def test_hb_alw_only_community_workers_are_eligible(post: str) -> None:
    d = allowance(person(spell(JIANGAN, post=post), certs=[cert()]), BOOK, 2021, 3)
    assert d.outcome is False
    assert d.amount == 0
    in_post = next(f for f in found(d, "HB-ALW-100-200") if "post_type" in f.figures)
    assert in_post.met is False
    assert "津贴对象为社区工作者" in in_post.text
    assert "不符合职业津贴发放条件" in d.summary


def test_hb_alw_spell_ending_the_day_before_the_cutoff_is_not_in_post() -> None:
    d = allowance(person(spell(JIANGAN, end=D(2021, 3, 30)), certs=[cert()]), BOOK, 2021, 3)
    assert d.outcome is False
    assert d.amount == 0
    f = next(f for f in found(d, "HB-ALW-100-200") if "cutoff" in f.figures)
    assert f.met is False
    assert "2021-03-31（当月截止日）不在岗" in f.text


def test_hb_alw_spell_ending_on_the_cutoff_is_in_post() -> None:
    d = allowance(person(spell(JIANGAN, end=D(2021, 3, 31)), certs=[cert()]), BOOK, 2021, 3)
    assert d.outcome is True
    assert d.amount == Decimal(200)
    # ... and the next month they are out.
    assert allowance(person(spell(JIANGAN, end=D(2021, 3, 31)), certs=[cert()]), BOOK, 2021, 4).outcome is False


def test_hb_alw_mid_month_start_counts_from_that_months_cutoff_only_if_in_post_on_it() -> None:
    on_cutoff = person(spell(JIANGAN, start=D(2021, 3, 31)), certs=[cert()])
    assert allowance(on_cutoff, BOOK, 2021, 3).outcome is True
    after_cutoff = person(spell(JIANGAN, start=D(2021, 4, 1)), certs=[cert()])
    assert allowance(after_cutoff, BOOK, 2021, 3).outcome is False
    assert allowance(after_cutoff, BOOK, 2021, 4).outcome is True


def test_hb_alw_post_type_on_the_cutoff_decides_after_a_mid_month_change() -> None:
    facts = person(
        spell(JIANGAN, post="community_worker", start=D(2018, 1, 1), end=D(2021, 3, 15)),
        spell(JIANGAN, post="service_org_staff", start=D(2021, 3, 16), org=2),
        certs=[cert()],
    )
    assert allowance(facts, BOOK, 2021, 2).outcome is True
    assert allowance(facts, BOOK, 2021, 3).outcome is False


# --- MCA-REG-3Y: registration validity on the cut-off day --------------------------------------------


def test_mca_reg_registration_lapsed_the_day_before_the_cutoff_is_not_valid() -> None:
    facts = person(spell(JIANGAN), certs=[cert(reg_from=D(2018, 3, 31), reg_to=D(2021, 3, 30))])
    d = allowance(facts, BOOK, 2021, 3)
    assert d.outcome is False
    assert d.amount == 0
    reg = one(d, "MCA-REG-3Y")
    assert reg.met is False
    assert "2021-03-30" in reg.text and "届满" in reg.text and "再登记" in reg.text
    # No amount finding without a valid certificate.
    assert not [f for f in d.findings if "amount" in f.figures]


def test_mca_reg_registration_ending_on_the_cutoff_is_still_valid() -> None:
    facts = person(spell(JIANGAN), certs=[cert(reg_from=D(2018, 4, 1), reg_to=D(2021, 3, 31))])
    d = allowance(facts, BOOK, 2021, 3)
    assert d.outcome is True
    assert d.amount == Decimal(200)
    reg = one(d, "MCA-REG-3Y")
    assert reg.met is True
    assert reg.figures["registration_to"] == "2021-03-31"
    assert "在有效期内" in reg.text


def test_mca_reg_registration_beginning_on_the_cutoff_is_valid_after_it_is_not() -> None:
    starts_on_cutoff = person(spell(JIANGAN), certs=[cert(reg_from=D(2021, 3, 31), reg_to=D(2024, 3, 30))])
    assert allowance(starts_on_cutoff, BOOK, 2021, 3).outcome is True
    starts_after = person(spell(JIANGAN), certs=[cert(reg_from=D(2021, 4, 1), reg_to=D(2024, 3, 31))])
    d = allowance(starts_after, BOOK, 2021, 3)
    assert d.outcome is False
    assert "尚未生效" in one(d, "MCA-REG-3Y").text


@pytest.mark.parametrize("status", ["pending", "rejected"])
def test_mca_reg_pending_or_rejected_certificate_does_not_count(status: str) -> None:
    d = allowance(person(spell(JIANGAN), certs=[cert(status=status)]), BOOK, 2021, 3)
    assert d.outcome is False
    assert d.amount == 0
    reg = one(d, "MCA-REG-3Y")
    assert reg.met is False
    assert "尚未核验" in reg.text


def test_mca_reg_unregistered_or_missing_certificate() -> None:
    unregistered = allowance(person(spell(JIANGAN), certs=[cert(reg_from=None, reg_to=None)]), BOOK, 2021, 3)
    assert unregistered.outcome is False
    assert "未办理登记" in one(unregistered, "MCA-REG-3Y").text
    none = allowance(person(spell(JIANGAN)), BOOK, 2021, 3)
    assert none.outcome is False
    assert "没有登记职业水平证书" in one(none, "MCA-REG-3Y").text


def test_hb_alw_pending_higher_certificate_does_not_raise_the_amount() -> None:
    facts = person(spell(JIANGAN), certs=[cert("assistant", cid=1), cert("senior", status="pending", cid=2)])
    d = allowance(facts, BOOK, 2021, 3)
    assert d.outcome is True
    assert d.amount == Decimal(100)
    assert amount_finding(d).figures["level"] == "assistant"


def test_hb_alw_highest_valid_certificate_sets_the_amount() -> None:
    both = person(spell(JIANGAN), certs=[cert("assistant", cid=1), cert("intermediate", cid=2)])
    assert allowance(both, BOOK, 2021, 3).amount == Decimal(200)
    lapsed_higher = person(
        spell(JIANGAN),
        certs=[cert("assistant", cid=1), cert("intermediate", reg_from=D(2017, 1, 1), reg_to=D(2020, 12, 31), cid=2)],
    )
    d = allowance(lapsed_higher, BOOK, 2021, 3)
    assert d.outcome is True
    assert d.amount == Decimal(100)


@pytest.mark.parametrize("region", [ZHUZHOU_COUNTY, CHENGGUAN, SIMING])
def test_hb_alw_does_not_apply_outside_hubei(region: str) -> None:
    d = allowance(person(spell(region), certs=[cert()]), BOOK, 2021, 3)
    assert d.outcome is None
    assert d.findings == ()
    assert "没有职业津贴规定" in d.summary


# --- resolution of allowance rules across the region tree --------------------------------------------


def test_resolution_city_rule_with_higher_amounts_wins_over_the_province() -> None:
    book = book_with(alw("WH-ALW", WUHAN, {"assistant": 150, "intermediate": 250, "senior": 350}))
    for level, amount in (("assistant", 150), ("intermediate", 250), ("senior", 350)):
        d = allowance(hubei_worker(level), book, 2022, 1)
        assert d.amount == Decimal(amount)
        f = amount_finding(d)
        assert f.rule_id == "WH-ALW"
        assert "下限" not in f.text


def test_resolution_county_rule_beats_city_rule() -> None:
    book = book_with(
        alw("WH-ALW", WUHAN, {"assistant": 150, "intermediate": 250, "senior": 350}),
        alw("JA-ALW", JIANGAN, {"assistant": 160, "intermediate": 260, "senior": 360}),
    )
    d = allowance(hubei_worker(), book, 2022, 1)
    assert d.amount == Decimal(260)
    assert amount_finding(d).rule_id == "JA-ALW"
    # A county of the same city without its own rule gets the city's.
    other_county = person(spell("420103"), certs=[cert()])
    assert allowance(other_county, book, 2022, 1).amount == Decimal(250)
    # Another city of the province gets the province's.
    other_city = person(spell(HUANGSHI), certs=[cert()])
    assert allowance(other_city, book, 2022, 1).amount == Decimal(200)


def test_resolution_city_floor_lower_than_the_province_is_raised_to_the_province_floor() -> None:
    book = book_with(alw("WH-ALW", WUHAN, {"assistant": 80, "intermediate": 150, "senior": 250}))
    for level, amount in (("assistant", 100), ("intermediate", 200), ("senior", 300)):
        d = allowance(hubei_worker(level), book, 2022, 1)
        assert d.outcome is True
        assert d.amount == Decimal(amount)
        f = amount_finding(d)
        assert f.rule_id == "WH-ALW"
        assert f.figures["amount"] == f"{amount}.00"
        assert "本地标准低于上级规定" in f.text
        assert "《关于加强城市社区工作者队伍建设的意见》" in f.text and "下限" in f.text
        assert f.figures["floor_rule"] == "HB-ALW-100-200 v2（HB-ALW-SENIOR）"  # the id for staff


def test_resolution_higher_amounts_are_kept_lower_ones_raised_level_by_level() -> None:
    book = book_with(alw("WH-ALW", WUHAN, {"assistant": 150, "intermediate": 150, "senior": 400}))
    got = {level: allowance(hubei_worker(level), book, 2022, 1) for level in ("assistant", "intermediate", "senior")}
    assert {k: d.amount for k, d in got.items()} == {
        "assistant": Decimal(150),
        "intermediate": Decimal(200),
        "senior": Decimal(400),
    }
    assert "下限" not in amount_finding(got["assistant"]).text
    assert "下限" in amount_finding(got["intermediate"]).text
    assert "下限" not in amount_finding(got["senior"]).text


def test_resolution_ancestor_that_is_not_a_floor_does_not_raise() -> None:
    book = RuleBook(
        [
            alw("P-ALW", HUBEI, {"assistant": 100, "intermediate": 200, "senior": 300}, floor=False),
            alw("C-ALW", WUHAN, {"assistant": 50, "intermediate": 150, "senior": 250}),
        ]
    )
    assert allowance(hubei_worker(), book, 2022, 1).amount == Decimal(150)


def test_resolution_county_floor_applies_through_a_city_rule_too() -> None:
    book = book_with(
        alw("WH-ALW", WUHAN, {"assistant": 150, "intermediate": 250, "senior": 350}),
        alw("JA-ALW", JIANGAN, {"assistant": 120, "intermediate": 180, "senior": 320}),
    )
    got = {level: allowance(hubei_worker(level), book, 2022, 1).amount for level in ("assistant", "intermediate")}
    assert got == {"assistant": Decimal(150), "intermediate": Decimal(250)}


def test_resolution_city_rule_outside_its_effective_dates_is_ignored() -> None:
    book = book_with(
        alw("WH-ALW", WUHAN, {"assistant": 500, "intermediate": 500, "senior": 500}, D(2021, 1, 1), D(2021, 6, 30)),
        alw("WH-ALW", WUHAN, {"assistant": 600, "intermediate": 600, "senior": 600}, D(2022, 1, 1), version=2),
    )
    facts = hubei_worker()
    assert allowance(facts, book, 2021, 6).amount == Decimal(500)  # effective_to is inclusive
    july = allowance(facts, book, 2021, 7)
    assert july.amount == Decimal(200)
    assert amount_finding(july).rule_id == "HB-ALW-100-200"
    assert allowance(facts, book, 2021, 12).amount == Decimal(200)  # not yet in force
    assert allowance(facts, book, 2022, 1).amount == Decimal(600)


def test_resolution_a_rule_of_another_province_never_applies() -> None:
    book = book_with(
        alw("HN-ALW-X", HUNAN, {"assistant": 900, "intermediate": 900, "senior": 900}),
        alw("ZZ-ALW-X", ZHUZHOU, {"assistant": 10, "intermediate": 10, "senior": 10}),
    )
    hubei = allowance(hubei_worker(), book, 2022, 1)
    assert hubei.amount == Decimal(200)
    assert {f.rule_id for f in hubei.findings} == {"HB-ALW-100-200", "MCA-REG-3Y"}
    hunan = allowance(person(spell(ZHUZHOU_COUNTY), certs=[cert()]), book, 2022, 1)
    assert hunan.amount == Decimal(900)  # Zhuzhou's lower amount is raised to Hunan's floor
    assert "HB-ALW-100-200" not in {f.rule_id for f in hunan.findings}
    gansu = allowance(person(spell(CHENGGUAN), certs=[cert()]), book, 2022, 1)
    assert gansu.outcome is None and gansu.findings == ()


def test_resolution_city_rule_without_a_senior_amount_still_pays_the_province_senior_floor() -> None:
    # Hubei's v2 floor for a senior holder is 300; a Wuhan rule that only lists assistant and
    # intermediate pays its senior holders the intermediate amount, which must not fall below 300.
    book = book_with(alw("WH-ALW", WUHAN, {"assistant": 150, "intermediate": 250}))
    d = allowance(hubei_worker("senior"), book, 2022, 1)
    assert d.outcome is True
    assert d.amount == Decimal(300)
    assert "下限" in amount_finding(d).text


def test_resolution_city_senior_amount_is_raised_to_a_province_senior_default_from_intermediate() -> None:
    # A province rule that, like the original Hubei text, names only assistant and intermediate
    # pays seniors the intermediate amount (200): a city's explicit senior 150 is below that floor.
    book = RuleBook(
        [
            alw("P-ALW", HUBEI, {"assistant": 100, "intermediate": 200}),
            alw("C-ALW", WUHAN, {"assistant": 100, "intermediate": 200, "senior": 150}),
        ]
    )
    d = allowance(hubei_worker("senior"), book, 2022, 1)
    assert d.amount == Decimal(200)


# --- a rule's new version takes effect; past months keep their answers --------------------------------


def test_new_version_takes_effect_from_its_date_and_the_month_before_keeps_the_old_answer() -> None:
    v3 = alw(
        "HB-ALW-100-200",
        HUBEI,
        {"assistant": 150, "intermediate": 250, "senior": 400},
        start=D(2024, 3, 15),
        version=3,
    )
    book = book_with(v3)
    facts = hubei_worker()
    feb = allowance(facts, book, 2024, 2)
    assert feb.amount == Decimal(200)
    assert amount_finding(feb).version == 2
    assert feb == allowance(facts, BOOK, 2024, 2)  # same answer as before the new version existed
    march = allowance(facts, book, 2024, 3)  # cut-off 2024-03-31 is after 2024-03-15
    assert march.amount == Decimal(250)
    assert amount_finding(march).version == 3
    assert amount_finding(march).rule_ref == "HB-ALW-100-200 v3"
    # Older months still answer from their own versions.
    assert amount_finding(allowance(facts, book, 2020, 12)).version == 1


def test_new_version_effective_mid_month_after_the_cutoff_waits_for_the_next_month() -> None:
    v3 = alw("HB-ALW-100-200", HUBEI, {"assistant": 1, "intermediate": 999, "senior": 999}, D(2024, 4, 1), version=3)
    book = book_with(v3)
    assert allowance(hubei_worker(), book, 2024, 3).amount == Decimal(200)
    assert allowance(hubei_worker(), book, 2024, 4).amount == Decimal(999)


# --- XM-CE-80 ------------------------------------------------------------------------------------------


def xiamen(records: Iterable[CeRecord], post: str = "service_org_staff", **kw: Any) -> Facts:
    return person(spell(SIMING, post=post), ce=records, **kw)


@pytest.mark.parametrize(("hours", "met"), [("79.9", False), ("80.0", True), ("80.1", True)])
def test_xm_ce_80_class_hours_boundary_at_year_end(hours: str, met: bool) -> None:
    d = continuing_education(xiamen([ce(D(2022, 5, 1), hours, "学时")]), BOOK, 2022, D(2022, 12, 31))
    f = one(d, "XM-CE-80")
    assert f.met is met
    assert d.outcome is met
    assert f.figures["hours"] == hours
    assert f.figures["required"] == "80"
    assert f.figures["unit"] == "学时"
    assert ("已达标" in f.text) is met
    if not met:
        assert "尚差 0.1" in f.text
        assert d.summary == "2022 年继续教育未达标。"


@pytest.mark.parametrize(("hours", "shown", "met"), [("60", "80.0", True), ("59.9", "79.9", False)])
def test_xm_ce_80_hours_recorded_in_xiaoshi_convert_at_45_minutes(hours: str, shown: str, met: bool) -> None:
    d = continuing_education(xiamen([ce(D(2022, 5, 1), hours, "小时")]), BOOK, 2022, D(2022, 12, 31))
    f = one(d, "XM-CE-80")
    assert f.met is met
    assert f.figures["hours"] == shown


def test_xm_ce_80_mixed_units_and_all_categories_add_up() -> None:
    records = [
        ce(D(2022, 1, 10), "20", "学时", "training"),
        ce(D(2022, 2, 10), "15", "小时", "supervision"),  # 20 学时
        ce(D(2022, 3, 10), "20", "学时", "academic"),
        ce(D(2022, 4, 10), "19.9", "学时", "other"),
    ]
    f = one(continuing_education(xiamen(records), BOOK, 2022, D(2022, 12, 31)), "XM-CE-80")
    assert (f.met, f.figures["hours"]) == (False, "79.9")
    f = one(
        continuing_education(xiamen([*records, ce(D(2022, 12, 31), "0.1", "学时")]), BOOK, 2022, D(2022, 12, 31)),
        "XM-CE-80",
    )
    assert (f.met, f.figures["hours"]) == (True, "80.0")


def test_xm_ce_80_only_verified_records_of_the_calendar_year_count() -> None:
    records = [
        ce(D(2022, 6, 1), "79.9", "学时"),
        ce(D(2022, 6, 2), "10", "学时", status="pending"),
        ce(D(2022, 6, 3), "10", "学时", status="rejected"),
        ce(D(2021, 12, 31), "10", "学时"),
        ce(D(2023, 1, 1), "10", "学时"),
    ]
    f = one(continuing_education(xiamen(records), BOOK, 2022, D(2023, 3, 1)), "XM-CE-80")
    assert (f.met, f.figures["hours"]) == (False, "79.9")


def test_xm_ce_80_is_in_progress_during_the_year() -> None:
    short = continuing_education(xiamen([ce(D(2022, 3, 1), "40", "学时")]), BOOK, 2022, D(2022, 12, 30))
    assert one(short, "XM-CE-80").met is None
    assert short.outcome is None
    assert "进行中" in short.summary
    done = continuing_education(xiamen([ce(D(2022, 3, 1), "80", "学时")]), BOOK, 2022, D(2022, 6, 30))
    assert one(done, "XM-CE-80").met is True
    assert done.outcome is True


def test_xm_ce_80_only_in_xiamen_and_from_2021_08_12() -> None:
    records = [ce(D(2021, 3, 1), "100", "学时")]
    assert found(continuing_education(xiamen(records), BOOK, 2021, D(2021, 8, 11)), "XM-CE-80") == []
    assert one(continuing_education(xiamen(records), BOOK, 2021, D(2021, 8, 12)), "XM-CE-80").met is True
    hubei = continuing_education(person(spell(JIANGAN), ce=records), BOOK, 2021, D(2021, 12, 31))
    assert hubei.outcome is None
    assert hubei.findings == ()


# --- HN-SUP-TRN ----------------------------------------------------------------------------------------


def station(duty: str | None, records: Iterable[CeRecord], region: str = ZHUZHOU_COUNTY, **kw: Any) -> Facts:
    return person(spell(region, post="station_social_worker", start=D(2021, 9, 1), duty=duty), ce=records, **kw)


@pytest.mark.parametrize(
    ("duty", "sup", "trn", "met"),
    [
        ("city", "12", "20", True),
        ("city", "11.9", "20", False),
        ("city", "12", "19.9", False),
        ("county", "24", "40", True),
        ("county", "23.9", "40", False),
        ("county", "24", "39.9", False),
        ("county", "12", "20", False),
    ],
)
def test_hn_sup_trn_boundaries_by_duty_level(duty: str, sup: str, trn: str, met: bool) -> None:
    records = [ce(D(2022, 4, 1), sup, category="supervision"), ce(D(2022, 5, 1), trn, category="training")]
    d = continuing_education(station(duty, records), BOOK, 2022, D(2022, 12, 31))
    f = one(d, "HN-SUP-TRN")
    assert f.met is met
    assert d.outcome is met
    assert f.figures["duty_level"] == duty
    assert (f.figures["supervision_required"], f.figures["training_required"]) == (
        ("12", "20") if duty == "city" else ("24", "40")
    )
    assert Decimal(f.figures["supervision"]) == Decimal(sup)
    assert Decimal(f.figures["training"]) == Decimal(trn)
    assert ("已达标" in f.text) is met
    assert ("市级" if duty == "city" else "县级") in f.text


def test_hn_sup_trn_class_hours_convert_and_other_categories_do_not_count() -> None:
    records = [
        ce(D(2022, 4, 1), "16", "学时", "supervision"),  # 12 小时
        ce(D(2022, 5, 1), "20", "小时", "training"),
        ce(D(2022, 6, 1), "50", "小时", "academic"),
        ce(D(2022, 6, 1), "50", "小时", "other"),
    ]
    f = one(continuing_education(station("city", records), BOOK, 2022, D(2022, 12, 31)), "HN-SUP-TRN")
    assert (f.met, f.figures["supervision"], f.figures["training"]) == (True, "12.0", "20.0")
    f = one(
        continuing_education(station("city", records[1:]), BOOK, 2022, D(2022, 12, 31)),
        "HN-SUP-TRN",
    )
    assert (f.met, f.figures["supervision"]) == (False, "0.0")


def test_hn_sup_trn_in_progress_during_the_year_and_only_for_station_social_workers() -> None:
    records = [ce(D(2022, 4, 1), "1", category="supervision")]
    assert one(continuing_education(station("city", records), BOOK, 2022, D(2022, 7, 1)), "HN-SUP-TRN").met is None
    worker = person(spell(ZHUZHOU_COUNTY, post="community_worker", duty="city"), ce=records)
    assert found(continuing_education(worker, BOOK, 2022, D(2022, 12, 31)), "HN-SUP-TRN") == []
    elsewhere = station("city", records, region=SIMING)
    assert found(continuing_education(elsewhere, BOOK, 2022, D(2022, 12, 31)), "HN-SUP-TRN") == []


# --- GS-TRN-120 ----------------------------------------------------------------------------------------


def gansu(records: Iterable[CeRecord], post: str = "community_worker") -> Facts:
    return person(spell(CHENGGUAN, post=post, start=D(2018, 1, 1)), ce=records)


@pytest.mark.parametrize(("second", "met"), [("59.9", None), ("60.0", True)])
def test_gs_trn_120_cumulative_training_across_years_boundary(second: str, met: bool | None) -> None:
    records = [ce(D(2020, 6, 1), "60"), ce(D(2022, 6, 1), second)]
    d = continuing_education(gansu(records), BOOK, 2022, D(2022, 12, 31))
    f = one(d, "GS-TRN-120")
    assert f.met is met
    assert f.figures["hours"] == ("119.9" if met is None else "120.0")
    assert f.figures["required"] == "120"
    if met:
        assert "已达标" in f.text
        assert d.outcome is True
    else:
        assert "尚差 0.1 小时" in f.text
        assert d.outcome is None


def test_gs_trn_120_counts_only_up_to_the_year_end_and_only_training() -> None:
    records = [
        ce(D(2021, 6, 1), "60"),
        ce(D(2022, 12, 31), "59.9"),
        ce(D(2022, 7, 1), "10", category="supervision"),
        ce(D(2022, 7, 2), "10", status="pending"),
        ce(D(2023, 1, 1), "0.1"),
    ]
    f2021 = one(continuing_education(gansu(records), BOOK, 2021, D(2021, 12, 31)), "GS-TRN-120")
    assert f2021.figures["hours"] == "60.0"
    f2022 = one(continuing_education(gansu(records), BOOK, 2022, D(2022, 12, 31)), "GS-TRN-120")
    assert (f2022.met, f2022.figures["hours"]) == (None, "119.9")
    f2023 = one(continuing_education(gansu(records), BOOK, 2023, D(2023, 12, 31)), "GS-TRN-120")
    assert (f2023.met, f2023.figures["hours"]) == (True, "120.0")


def test_gs_trn_120_class_hours_convert_and_other_posts_are_out_of_scope() -> None:
    f = one(continuing_education(gansu([ce(D(2022, 1, 1), "160", "学时")]), BOOK, 2022, D(2022, 12, 31)), "GS-TRN-120")
    assert (f.met, f.figures["hours"]) == (True, "120.0")
    other = continuing_education(gansu([ce(D(2022, 1, 1), "10")], post="other"), BOOK, 2022, D(2022, 12, 31))
    assert found(other, "GS-TRN-120") == []


# --- MCA-CE-CYCLE --------------------------------------------------------------------------------------

PERIOD = (D(2020, 1, 1), D(2022, 12, 31))


def cycle_person(level: str, records: Iterable[CeRecord], region: str = JIANGAN) -> Facts:
    return person(spell(region), certs=[cert(level, reg_from=PERIOD[0], reg_to=PERIOD[1])], ce=records)


@pytest.mark.parametrize(("level", "need"), [("assistant", 72), ("intermediate", 90), ("senior", 90)])
def test_mca_ce_cycle_reached_is_met_short_is_pending_while_the_period_runs(level: str, need: int) -> None:
    reached = [ce(D(2020, 5, 1), str(need - 30), category="academic"), ce(D(2021, 5, 1), "30", category="other")]
    d = continuing_education(cycle_person(level, reached), BOOK, 2021, D(2021, 12, 31))
    f = one(d, "MCA-CE-CYCLE")
    assert f.met is True
    assert f.figures["required"] == str(need)
    assert (f.figures["period_from"], f.figures["period_to"]) == ("2020-01-01", "2022-12-31")
    assert "已满足再登记要求" in f.text
    assert d.outcome is True

    short = [ce(D(2020, 5, 1), str(need - 30)), ce(D(2021, 5, 1), "29.9")]
    d = continuing_education(cycle_person(level, short), BOOK, 2022, D(2022, 12, 30))
    f = one(d, "MCA-CE-CYCLE")
    assert f.met is None
    assert f.figures["hours"] == f"{need - 1}.9"
    assert "尚差 0.1 小时" in f.text
    assert d.outcome is None


@pytest.mark.parametrize(("level", "need"), [("assistant", 72), ("intermediate", 90)])
def test_mca_ce_cycle_ended_without_reaching_is_not_met(level: str, need: int) -> None:
    short = [ce(D(2020, 5, 1), f"{need - 1}.9")]
    d = continuing_education(cycle_person(level, short), BOOK, 2022, D(2023, 1, 15))
    f = one(d, "MCA-CE-CYCLE")
    assert f.met is False
    assert "未满足" in f.text
    assert d.outcome is False
    enough = [ce(D(2020, 5, 1), str(need))]
    assert one(continuing_education(cycle_person(level, enough), BOOK, 2022, D(2023, 1, 15)), "MCA-CE-CYCLE").met


def test_mca_ce_cycle_period_that_ended_earlier_in_the_year_without_reaching_is_not_met() -> None:
    facts = person(
        spell(JIANGAN),
        certs=[cert("assistant", reg_from=D(2019, 7, 1), reg_to=D(2022, 6, 30))],
        ce=[ce(D(2020, 1, 1), "71.9")],
    )
    running = continuing_education(facts, BOOK, 2022, D(2022, 6, 29))
    assert one(running, "MCA-CE-CYCLE").met is None
    # The day after the period ended short, the shortfall is still reported (not "no rule applies").
    d = continuing_education(facts, BOOK, 2022, D(2022, 7, 1))
    f = one(d, "MCA-CE-CYCLE")
    assert f.met is False
    assert f.figures["period_to"] == "2022-06-30"
    assert d.outcome is False


def test_mca_ce_cycle_counts_only_verified_records_inside_the_registration_period() -> None:
    records = [
        ce(D(2019, 12, 31), "50"),
        ce(D(2023, 1, 1), "50"),
        ce(D(2020, 1, 1), "40"),
        ce(D(2022, 12, 31), "31.9"),
        ce(D(2021, 1, 1), "50", status="pending"),
    ]
    f = one(continuing_education(cycle_person("assistant", records), BOOK, 2022, D(2023, 6, 1)), "MCA-CE-CYCLE")
    assert (f.met, f.figures["hours"]) == (False, "71.9")


def test_mca_ce_cycle_class_hours_convert_at_45_minutes() -> None:
    f = one(
        continuing_education(cycle_person("assistant", [ce(D(2021, 1, 1), "96", "学时")]), BOOK, 2021, D(2021, 6, 1)),
        "MCA-CE-CYCLE",
    )
    assert (f.met, f.figures["hours"], f.figures["unit"]) == (True, "72.0", "小时")


def test_mca_ce_cycle_and_xm_ce_80_together_in_xiamen() -> None:
    facts = person(
        spell(SIMING, post="service_org_staff"),
        certs=[cert("intermediate", reg_from=D(2021, 1, 1), reg_to=D(2023, 12, 31))],
        ce=[ce(D(2022, 3, 1), "80", "学时")],  # 60 小时 towards the cycle
    )
    d = continuing_education(facts, BOOK, 2022, D(2022, 12, 31))
    assert one(d, "XM-CE-80").met is True
    assert one(d, "MCA-CE-CYCLE").met is None
    assert d.outcome is None  # the year's rule is met, the registration period still runs


# --- HN-SAL-1.2 ----------------------------------------------------------------------------------------


def hn_station(pays: Iterable[Pay], benchmarks: Iterable[Benchmark], region: str = ZHUZHOU_COUNTY) -> Facts:
    return person(
        spell(region, post="station_social_worker", start=D(2021, 9, 1), duty="county"), pay=pays, benchmarks=benchmarks
    )


@pytest.mark.parametrize(("amount", "met"), [("84000.00", True), ("83999.99", False), ("84000.01", True)])
def test_hn_sal_pay_against_1_2_times_previous_years_benchmark(amount: str, met: bool) -> None:
    facts = hn_station([pay(2022, amount)], [bench(ZHUZHOU_COUNTY, 2021, "70000"), bench(ZHUZHOU_COUNTY, 2022, "1")])
    d = salary(facts, BOOK, 2022)
    assert d.outcome is met
    f = one(d, "HN-SAL-1.2")
    assert f.met is met
    assert f.figures["threshold"] == "84,000.00"
    assert f.figures["benchmark_year"] == "2021"
    assert f.figures["multiplier"] == "1.2"
    assert f.figures["benchmark_region"] == ZHUZHOU_COUNTY
    assert "× 1.2" in f.text
    if met:
        assert "已达标" in f.text and f.figures["gap"] == "0.00"
    else:
        assert "低于对标线 0.01 元" in f.text and f.figures["gap"] == "0.01"


def test_hn_sal_county_without_a_figure_falls_back_to_the_city_then_the_province() -> None:
    city = hn_station([pay(2022, "72000")], [bench(ZHUZHOU, 2021, "60000"), bench(HUNAN, 2021, "50000")])
    f = one(salary(city, BOOK, 2022), "HN-SAL-1.2")
    assert (f.met, f.figures["benchmark_region"], f.figures["threshold"]) == (True, ZHUZHOU, "72,000.00")
    province = hn_station([pay(2022, "59999.99")], [bench(HUNAN, 2021, "50000"), bench(ZHUZHOU, 2020, "1")])
    f = one(salary(province, BOOK, 2022), "HN-SAL-1.2")
    assert (f.met, f.figures["benchmark_region"], f.figures["threshold"]) == (False, HUNAN, "60,000.00")
    # Another county's figure is never used.
    sibling = hn_station([pay(2022, "1")], [bench("430203", 2021, "1")])
    d = salary(sibling, BOOK, 2022)
    assert d.outcome is None
    assert "无法对标" in one(d, "HN-SAL-1.2").text


def test_hn_sal_monthly_pay_is_multiplied_by_12() -> None:
    facts = hn_station([pay(2022, "7000", "monthly")], [bench(ZHUZHOU_COUNTY, 2021, "70000")])
    f = one(salary(facts, BOOK, 2022), "HN-SAL-1.2")
    assert (f.met, f.figures["pay"], f.figures["pay_period"]) == (True, "84,000.00", "monthly")
    assert "按月薪 × 12 计" in f.text
    short = hn_station([pay(2022, "6999.99", "monthly")], [bench(ZHUZHOU_COUNTY, 2021, "70000")])
    f = one(salary(short, BOOK, 2022), "HN-SAL-1.2")
    assert (f.met, f.figures["pay"], f.figures["gap"]) == (False, "83,999.88", "0.12")


def test_hn_sal_threshold_with_a_fraction_of_a_cent_is_not_rounded_down() -> None:
    # 1.2 × 70000.01 = 84000.012: pay of 84000.01 is lower than that, 84000.02 is not.
    facts = hn_station([pay(2022, "84000.01")], [bench(ZHUZHOU_COUNTY, 2021, "70000.01")])
    assert salary(facts, BOOK, 2022).outcome is False
    facts = hn_station([pay(2022, "84000.02")], [bench(ZHUZHOU_COUNTY, 2021, "70000.01")])
    assert salary(facts, BOOK, 2022).outcome is True


@pytest.mark.parametrize("status", ["pending", "rejected"])
def test_hn_sal_unverified_pay_is_not_judged(status: str) -> None:
    facts = hn_station([pay(2022, "99999", status=status)], [bench(ZHUZHOU_COUNTY, 2021, "70000")])
    d = salary(facts, BOOK, 2022)
    assert d.outcome is None
    f = one(d, "HN-SAL-1.2")
    assert f.met is None and "尚未核验" in f.text and f.figures["threshold"] == "84,000.00"
    missing = salary(hn_station([], [bench(ZHUZHOU_COUNTY, 2021, "70000")]), BOOK, 2022)
    assert missing.outcome is None and "尚未登记" in missing.summary


def test_hn_sal_only_station_social_workers_and_only_from_2021() -> None:
    worker = person(spell(ZHUZHOU_COUNTY), pay=[pay(2022, "1")], benchmarks=[bench(ZHUZHOU_COUNTY, 2021, "70000")])
    d = salary(worker, BOOK, 2022)
    assert d.outcome is None
    assert one(d, "HN-SAL-1.2").met is None
    assert "不在该规定适用范围内" in one(d, "HN-SAL-1.2").text
    early = hn_station([pay(2020, "1")], [bench(ZHUZHOU_COUNTY, 2019, "70000")])
    d = salary(early, BOOK, 2020)
    assert d.outcome is None and d.findings == ()


# --- XM-SAL-AVG ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("amount", "met"), [("120000", True), ("119999.99", False)])
def test_xm_sal_avg_multiplier_one_against_the_urban_nonprivate_wage(amount: str, met: bool) -> None:
    facts = person(
        spell(SIMING, post="service_org_staff"),
        pay=[pay(2023, amount)],
        benchmarks=[bench(XIAMEN, 2022, "120000", URBAN), bench(XIAMEN, 2022, "1", ASW), bench(XIAMEN, 2023, "9e9")],
    )
    d = salary(facts, BOOK, 2023)
    assert d.outcome is met
    f = one(d, "XM-SAL-AVG")
    assert (f.met, f.figures["multiplier"], f.figures["threshold"]) == (met, "1", "120,000.00")
    assert f.figures["benchmark_region"] == XIAMEN  # Siming falls back to the city's figure
    assert "城镇非私营单位在岗职工平均工资" in f.text
    assert "×" not in f.text


def test_xm_sal_avg_does_not_cover_civil_affairs_staff() -> None:
    facts = person(
        spell(SIMING, post="civil_affairs_staff"), pay=[pay(2023, "1")], benchmarks=[bench(XIAMEN, 2022, "1", URBAN)]
    )
    d = salary(facts, BOOK, 2023)
    assert d.outcome is None
    f = one(d, "XM-SAL-AVG")
    assert f.met is None
    assert "民政机构工作人员" in f.text and "不在该规定适用范围内" in f.text


def test_xm_sal_avg_ignores_a_figure_of_another_basis() -> None:
    facts = person(spell(SIMING, post="other"), pay=[pay(2023, "1")], benchmarks=[bench(XIAMEN, 2022, "1", ASW)])
    d = salary(facts, BOOK, 2023)
    assert d.outcome is None
    assert "无法对标" in one(d, "XM-SAL-AVG").text


# --- XM-LT-AWARD ---------------------------------------------------------------------------------------

DAY = D(2024, 5, 1)


def xm_awardee(*held: AwardHeld) -> Facts:
    return person(spell(SIMING, post="service_org_staff"), awards=held)


@pytest.mark.parametrize(
    ("programme", "amount"), [("national_leading_talent", 100000), ("municipal_leading_talent", 50000)]
)
def test_xm_lt_award_amounts_come_from_the_catalogue(programme: str, amount: int) -> None:
    assert Decimal(shipped("XM-LT-AWARD").params["programmes"][programme]) == amount
    d = award(xm_awardee(), BOOK, programme, DAY)
    assert d.outcome is True
    assert d.amount == Decimal(amount)
    assert d.subject == programme
    f = one(d, "XM-LT-AWARD")
    assert f.met is True
    assert f.figures["amount"] == f"{amount:,}.00"


@pytest.mark.parametrize("status", ["nominated", "approved", "paid"])
def test_xm_lt_award_same_programme_cannot_be_awarded_twice(status: str) -> None:
    d = award(xm_awardee(AwardHeld("national_leading_talent", status, 2022)), BOOK, "national_leading_talent", DAY)
    assert d.outcome is False
    assert d.amount is None
    f = one(d, "XM-LT-AWARD")
    assert f.met is False and "不能重复奖励" in f.text


@pytest.mark.parametrize(
    ("held", "wanted"),
    [
        ("national_leading_talent", "municipal_leading_talent"),
        ("municipal_leading_talent", "national_leading_talent"),
    ],
)
def test_xm_lt_award_national_and_municipal_exclude_each_other(held: str, wanted: str) -> None:
    d = award(xm_awardee(AwardHeld(held, "paid", 2022)), BOOK, wanted, DAY)
    assert d.outcome is False
    assert d.amount is None
    f = one(d, "XM-LT-AWARD")
    assert f.met is False and "不重复奖励" in f.text


def test_xm_lt_award_rejected_earlier_nomination_does_not_block() -> None:
    facts = xm_awardee(AwardHeld("national_leading_talent", "rejected", 2022))
    assert award(facts, BOOK, "national_leading_talent", DAY).amount == Decimal(100000)
    assert award(facts, BOOK, "municipal_leading_talent", DAY).amount == Decimal(50000)


def test_xm_lt_award_only_in_xiamen_and_only_from_2021_08_12() -> None:
    d = award(person(spell(JIANGAN)), BOOK, "national_leading_talent", DAY)
    assert d.outcome is False and d.amount is None and d.findings == ()
    assert "没有" in d.summary
    assert award(xm_awardee(), BOOK, "national_leading_talent", D(2021, 8, 11)).outcome is False
    assert award(xm_awardee(), BOOK, "national_leading_talent", D(2021, 8, 12)).outcome is True
    assert set(award_programmes(BOOK, SIMING, DAY)) == {"national_leading_talent", "municipal_leading_talent"}


def test_xm_lt_award_amount_follows_a_new_catalogue_version() -> None:
    v2 = rule(
        "XM-LT-AWARD",
        "award",
        XIAMEN,
        D(2025, 1, 1),
        version=2,
        programmes={"national_leading_talent": "200000", "municipal_leading_talent": "80000"},
        excludes=[["national_leading_talent", "municipal_leading_talent"]],
    )
    book = book_with(v2)
    assert award(xm_awardee(), book, "national_leading_talent", D(2024, 12, 31)).amount == Decimal(100000)
    later = award(xm_awardee(), book, "national_leading_talent", D(2025, 1, 1))
    assert later.amount == Decimal(200000)
    assert one(later, "XM-LT-AWARD").version == 2


# --- ZZ-AWARD ------------------------------------------------------------------------------------------


def test_zz_award_is_repeatable_with_amount_zero() -> None:
    held = [
        AwardHeld("outstanding_social_worker", "paid", 2022),
        AwardHeld("outstanding_social_worker", "approved", 2023),
    ]
    facts = person(spell(ZHUZHOU_COUNTY, post="service_org_staff"), awards=held)
    d = award(facts, BOOK, "outstanding_social_worker", DAY)
    assert d.outcome is True
    assert d.amount == Decimal(0)
    f = one(d, "ZZ-AWARD")
    assert f.met is True and f.figures["amount"] == "0.00"
    assert "优秀社工" in d.summary


def test_zz_award_only_in_zhuzhou_from_2018_06_06() -> None:
    facts = person(spell(ZHUZHOU_COUNTY))
    assert award(facts, BOOK, "outstanding_social_worker", D(2018, 6, 5)).outcome is False
    assert award(facts, BOOK, "outstanding_social_worker", D(2018, 6, 6)).outcome is True
    other_city = person(spell("430102"))
    assert award(other_city, BOOK, "outstanding_social_worker", DAY).outcome is False
    assert award_programmes(BOOK, ZHUZHOU_COUNTY, DAY).keys() == {"outstanding_social_worker"}
    assert "outstanding_social_worker" not in award_programmes(BOOK, SIMING, DAY)


# --- HN-HIRE -------------------------------------------------------------------------------------------


def hire(start: dt.date, birth: dt.date = D(1985, 6, 15), education: str = "associate", **kw: Any) -> Facts:
    return person(
        spell(ZHUZHOU_COUNTY, post="station_social_worker", start=start, duty="county"),
        birth=birth,
        education=education,
        **kw,
    )


@pytest.mark.parametrize(
    ("start", "age", "met"),
    [
        (D(2025, 6, 14), 39, True),  # 39 years 364 days
        (D(2025, 6, 15), 40, False),  # the 40th birthday
    ],
)
def test_hn_hire_under_40_on_the_start_day(start: dt.date, age: int, met: bool) -> None:
    d = qualification(hire(start), BOOK, D(2025, 7, 1))
    f = one(d, "HN-HIRE")
    assert f.met is met
    assert d.outcome is met
    assert f.figures["age"] == str(age)
    assert f.figures["hired"] == str(start)
    assert ("符合招聘条件" in f.text) is met
    assert ("不符合 40 周岁以下的要求" in f.text) is not met


@pytest.mark.parametrize(
    ("education", "met"),
    [("secondary", False), ("associate", True), ("bachelor", True), ("doctor", True), ("below_secondary", False)],
)
def test_hn_hire_associate_degree_or_above(education: str, met: bool) -> None:
    d = qualification(hire(D(2022, 3, 1), education=education), BOOK, D(2022, 3, 1))
    f = one(d, "HN-HIRE")
    assert f.met is met
    assert ("要求大专及以上" in f.text) is not met


def test_hn_hire_applies_to_hires_from_2021_08_18() -> None:
    old = D(1970, 1, 1)
    before = qualification(hire(D(2021, 8, 17), birth=old), BOOK, D(2022, 1, 1))
    assert found(before, "HN-HIRE") == []
    on = qualification(hire(D(2021, 8, 18), birth=old), BOOK, D(2022, 1, 1))
    assert one(on, "HN-HIRE").met is False
    other_post = person(spell(ZHUZHOU_COUNTY, start=D(2022, 1, 1)), birth=old, education="secondary")
    assert qualification(other_post, BOOK, D(2022, 1, 1)).outcome is None


def test_hn_hire_does_not_judge_a_station_hire_outside_hunan() -> None:
    # Hired at 37 by a Hunan station (meets HN-HIRE); earlier a 40-year-old hire by a Xiamen
    # station that Hunan's rule has no say over.
    facts = person(
        spell(SIMING, post="station_social_worker", start=D(2025, 7, 1), end=D(2025, 12, 31), duty="city", org=2),
        spell(ZHUZHOU_COUNTY, post="station_social_worker", start=D(2023, 1, 1), duty="county"),
        birth=D(1985, 6, 15),
        region=ZHUZHOU_COUNTY,
    )
    d = qualification(facts, BOOK, D(2026, 3, 1))
    assert [f.figures["hired"] for f in found(d, "HN-HIRE")] == ["2023-01-01"]
    assert d.outcome is True


# --- GS-POST-LEVEL -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("certs", "post"),
    [
        ([cert("assistant")], "初级专业技术岗位"),
        ([cert("assistant", cid=1), cert("intermediate", cid=2)], "中级专业技术岗位"),
        ([cert("senior", cid=3), cert("assistant", cid=1)], "高级专业技术岗位"),
        ([cert("assistant", cid=1), cert("senior", status="pending", cid=2)], "初级专业技术岗位"),
        ([cert("intermediate", cid=1), cert("senior", status="rejected", cid=2)], "中级专业技术岗位"),
    ],
)
def test_gs_post_level_highest_verified_certificate_gives_the_post(certs: list[Cert], post: str) -> None:
    d = qualification(person(spell(CHENGGUAN), certs=certs), BOOK, D(2022, 1, 1))
    f = one(d, "GS-POST-LEVEL")
    assert f.met is True
    assert post in f.text
    assert d.outcome is True


def test_gs_post_level_without_a_verified_certificate_is_not_met() -> None:
    d = qualification(person(spell(CHENGGUAN), certs=[cert("senior", status="pending")]), BOOK, D(2022, 1, 1))
    f = one(d, "GS-POST-LEVEL")
    assert f.met is False
    assert "没有已核验的职业水平证书" in f.text
    assert d.outcome is False


def test_gs_post_level_only_in_gansu_from_2021() -> None:
    facts = person(spell(CHENGGUAN), certs=[cert()])
    assert qualification(facts, BOOK, D(2020, 12, 31)).outcome is None
    assert qualification(person(spell(JIANGAN), certs=[cert()]), BOOK, D(2022, 1, 1)).findings == ()


# --- citations on every finding ------------------------------------------------------------------------


def sample_people() -> list[Facts]:
    return [
        person(
            spell(JIANGAN),
            certs=[cert("senior", reg_from=D(2019, 1, 1), reg_to=D(2021, 12, 31))],
            ce=[ce(D(2020, 1, 1), "30")],
        ),
        person(spell(JIANGAN, end=D(2020, 1, 1)), certs=[cert("assistant", status="pending")]),
        person(
            spell(SIMING, post="service_org_staff"),
            certs=[cert("intermediate", reg_from=D(2021, 1, 1), reg_to=D(2023, 12, 31))],
            ce=[ce(D(2022, 2, 1), "40", "学时"), ce(D(2023, 2, 1), "100", "学时")],
            pay=[pay(2022, "10000", "monthly"), pay(2023, "90000")],
            benchmarks=[bench(XIAMEN, 2021, "110000", URBAN), bench(XIAMEN, 2022, "115000", URBAN)],
            awards=[AwardHeld("municipal_leading_talent", "paid", 2022)],
        ),
        person(
            spell(ZHUZHOU_COUNTY, post="station_social_worker", start=D(2021, 9, 1), duty="city"),
            certs=[cert("assistant")],
            ce=[ce(D(2022, 1, 1), "12", category="supervision"), ce(D(2022, 2, 1), "25")],
            pay=[pay(2021, "80000"), pay(2022, "70000")],
            benchmarks=[bench(ZHUZHOU, 2020, "60000"), bench(HUNAN, 2021, "65000")],
            birth=D(1990, 1, 1),
            education="associate",
        ),
        person(
            spell(CHENGGUAN, post="civil_affairs_staff", start=D(2018, 1, 1)),
            certs=[cert("intermediate")],
            ce=[ce(D(2021, 5, 1), "80"), ce(D(2022, 5, 1), "50")],
        ),
    ]


def test_every_finding_cites_the_rules_document_number_and_clause() -> None:
    seen: set[str] = set()
    count = 0
    for facts in sample_people():
        for as_of in (D(2020, 12, 31), D(2021, 1, 31), D(2022, 12, 31), D(2023, 6, 30), D(2024, 1, 15)):
            ds = [
                *decisions(facts, BOOK, as_of),
                continuing_education(facts, BOOK, as_of.year - 1, as_of),
                salary(facts, BOOK, as_of.year),
            ]
            for d in ds:
                for f in d.findings:
                    r = BOOK.find(f.rule_id, f.version)
                    assert r is not None, f
                    assert r.document_number in f.citation, f
                    assert r.clause in f.citation, f
                    assert f.citation == r.citation
                    assert f.rule_ref.startswith(f.rule_id), f
                    assert f.rule_ref.startswith(f"{f.rule_id} v{f.version}"), f
                    assert f.text
                    seen.add(f.rule_id)
                    count += 1
    assert count > 40
    assert seen >= {
        "HB-ALW-100-200",
        "MCA-REG-3Y",
        "MCA-CE-CYCLE",
        "XM-CE-80",
        "HN-SUP-TRN",
        "GS-TRN-120",
        "HN-SAL-1.2",
        "XM-SAL-AVG",
        "XM-LT-AWARD",
        "ZZ-AWARD",
        "HN-HIRE",
        "GS-POST-LEVEL",
    }


def test_citation_of_a_shipped_rule_names_issuer_title_number_and_clause() -> None:
    f = one(allowance(hubei_worker(), BOOK, 2020, 6), "MCA-REG-3Y")
    assert f.citation == "民政部《社会工作者职业水平证书登记办法》（民发〔2009〕44号）第四条至第七条"
    assert f.rule_ref == "MCA-REG-3Y v1"
    g = one(continuing_education(gansu([ce(D(2022, 1, 1), "1")]), BOOK, 2022, D(2022, 12, 31)), "GS-TRN-120")
    assert "甘民发〔2021〕97号" in g.citation and "二（五）" in g.citation


# --- properties ----------------------------------------------------------------------------------------

tenths = st.integers(min_value=0, max_value=900).map(lambda n: Decimal(n).scaleb(-1))
units = st.sampled_from(["学时", "小时"])
categories = st.sampled_from(["training", "supervision", "academic", "other"])


def ce_records(year: int, statuses: list[str]) -> st.SearchStrategy[CeRecord]:
    """Records around the judged year (most of them in it), so that every rule is met or missed."""
    return st.builds(
        CeRecord,
        day=st.dates(min_value=D(year - 2, 1, 1), max_value=D(year + 1, 3, 31)),
        hours=tenths,
        unit=units,
        category=categories,
        status=st.sampled_from(statuses),
    )


@st.composite
def ce_case(draw: st.DrawFn) -> tuple[Facts, int, dt.date, list[CeRecord]]:
    year = draw(st.integers(min_value=2021, max_value=2024))
    as_of = D(year, 1, 1) + dt.timedelta(days=draw(st.integers(min_value=150, max_value=540)))
    region, post = draw(
        st.sampled_from(
            [
                (SIMING, "service_org_staff"),
                (ZHUZHOU_COUNTY, "station_social_worker"),
                (CHENGGUAN, "community_worker"),
                (JIANGAN, "community_worker"),
                (draw(st.sampled_from([SIMING, ZHUZHOU_COUNTY, CHENGGUAN])), "other"),
            ]
        )
    )
    duty = draw(st.sampled_from(["city", "county", "county", None]))
    reg_from = draw(st.dates(min_value=D(year - 3, 1, 1), max_value=D(year, 6, 30)))
    certs = draw(
        st.lists(
            st.builds(
                cert,
                level=st.sampled_from(["assistant", "intermediate", "senior"]),
                status=st.sampled_from(["verified", "verified", "pending"]),
                reg_from=st.just(reg_from),
                reg_to=st.just(reg_from + dt.timedelta(days=3 * 365)),
            ),
            max_size=2,
        )
    )
    # One record per category in the year and an earlier training record, with hours drawn around
    # the thresholds, and a few more anywhere near the year.
    in_year = [
        CeRecord(
            day=draw(st.dates(min_value=D(year, 1, 1), max_value=D(year, 12, 31))),
            hours=draw(tenths),
            unit=draw(units),
            category=category,
            status=draw(st.sampled_from(["verified", "verified", "verified", "pending"])),
        )
        for category in ("training", "supervision", "academic", "other", "training")
    ]
    earlier_hours = draw(st.integers(min_value=0, max_value=1300).map(lambda n: Decimal(n).scaleb(-1)))
    earlier = CeRecord(day=D(year - 1, 6, 1), hours=earlier_hours, unit="小时", category="training")
    scattered = draw(st.lists(ce_records(year, ["verified", "pending", "rejected"]), max_size=4))
    facts = person(
        spell(region, post=post, start=D(2018, 1, 1), duty=duty),
        certs=certs,
        ce=[*in_year, earlier, *scattered],
    )
    more = draw(st.lists(ce_records(year, ["verified"]), min_size=1, max_size=5))
    return facts, year, as_of, more


@settings(max_examples=200, deadline=None)
@given(case=ce_case())
def test_property_more_verified_ce_hours_never_undo_compliance(
    case: tuple[Facts, int, dt.date, list[CeRecord]],
) -> None:
    facts, year, as_of, more = case
    before = continuing_education(facts, BOOK, year, as_of)
    after = continuing_education(replace(facts, ce=facts.ce + tuple(more)), BOOK, year, as_of)
    if before.outcome is True:
        assert after.outcome is True
    assert [f.rule_id for f in after.findings] == [f.rule_id for f in before.findings]
    for b, a in zip(before.findings, after.findings, strict=True):
        if b.met is True:
            assert a.met is True, (b, a)
        for key in ("hours", "supervision", "training"):
            assert Decimal(a.figures.get(key, "0")) >= Decimal(b.figures.get(key, "0"))


LEVELS = ("assistant", "intermediate", "senior")
money = st.integers(min_value=0, max_value=500)


@st.composite
def amount_table(draw: st.DrawFn) -> dict[str, object]:
    table: dict[str, object] = {"assistant": draw(money), "intermediate": draw(money)}
    if draw(st.booleans()):
        table["senior"] = draw(money)
    return table


def floor_for(r: PolicyRule, level: str) -> Decimal:
    """What a floor rule guarantees a holder of ``level``: its own amount, a senior holder the
    intermediate amount where the rule names no senior amount or says so."""
    amounts = r.params["amounts"]
    if level == "senior" and ("senior" not in amounts or r.params.get("senior_from_intermediate")):
        level = "intermediate"
    return Decimal(str(amounts[level]))


@settings(max_examples=200, deadline=None)
@given(
    level=st.sampled_from(LEVELS),
    province=amount_table(),
    province_senior_from_int=st.booleans(),
    city=st.none() | amount_table(),
    city_floor=st.booleans(),
    county=st.none() | amount_table(),
)
def test_property_allowance_never_below_any_ancestor_floor(
    level: str,
    province: dict[str, object],
    province_senior_from_int: bool,
    city: dict[str, object] | None,
    city_floor: bool,
    county: dict[str, object] | None,
) -> None:
    extra = {"senior_from_intermediate": True} if province_senior_from_int else {}
    rules = [alw("P-ALW", HUBEI, province, **extra)]
    if city is not None:
        rules.append(alw("C-ALW", WUHAN, city, floor=city_floor))
    if county is not None:
        rules.append(alw("K-ALW", JIANGAN, county))
    d = allowance(hubei_worker(level), RuleBook(rules), 2022, 1)
    assert d.outcome is True
    assert d.amount is not None
    ancestors = [r for r in rules[:-1] if r.params["floor"]]
    for r in ancestors:
        assert d.amount >= floor_for(r, level), (r.id, d)
    # With no more specific rule, the province's own amount is paid.
    if len(rules) == 1:
        assert d.amount == floor_for(rules[0], level)


cents = st.integers(min_value=1_000_000, max_value=30_000_000).map(lambda n: Decimal(n).scaleb(-2))


@settings(max_examples=200, deadline=None)
@given(
    setup=st.sampled_from(
        [
            (ZHUZHOU_COUNTY, "station_social_worker", ASW, (ZHUZHOU_COUNTY, ZHUZHOU, HUNAN)),
            (SIMING, "service_org_staff", URBAN, (XIAMEN, SIMING)),
        ]
    ),
    where=st.integers(min_value=0, max_value=2),
    benchmark=cents,
    base=cents,
    raise_by=st.integers(min_value=0, max_value=5_000_000).map(lambda n: Decimal(n).scaleb(-2)),
    period=st.sampled_from(["annual", "monthly"]),
)
def test_property_more_pay_never_turns_a_met_salary_finding_unmet(
    setup: tuple[str, str, str, tuple[str, ...]],
    where: int,
    benchmark: Decimal,
    base: Decimal,
    raise_by: Decimal,
    period: str,
) -> None:
    region, post, basis, bench_regions = setup
    bench_region = bench_regions[where % len(bench_regions)]
    if period == "monthly":
        base, raise_by = (base / 12).quantize(Decimal("0.01")), (raise_by / 12).quantize(Decimal("0.01"))

    def facts(amount: Decimal) -> Facts:
        return person(
            spell(region, post=post, start=D(2021, 9, 1), duty="city"),
            pay=[pay(2023, amount, period)],
            benchmarks=[bench(bench_region, 2022, benchmark, basis)],
        )

    before = salary(facts(base), BOOK, 2023)
    after = salary(facts(base + raise_by), BOOK, 2023)
    assert before.outcome is not None and after.outcome is not None
    if before.outcome:
        assert after.outcome is True
        assert after.findings[0].met is True


# One book judges a whole payroll run and keeps the findings that depend only on a rule and a few
# values (the post, the employer, the level, the cut-off day): judged by one shared book, in any
# order, each person's decision is the one a fresh book gives.
@settings(max_examples=100, deadline=None)
@given(
    people=st.lists(
        st.tuples(
            st.sampled_from(["community_worker", "service_org_staff"]),
            st.integers(min_value=1, max_value=3),  # employer
            st.sampled_from(["assistant", "intermediate", "senior"]),
            st.sampled_from(["verified", "pending"]),
            st.sampled_from([None, D(2021, 2, 28), D(2021, 6, 30)]),  # the spell's end
            st.sampled_from([D(2019, 1, 1), D(2021, 4, 1)]),  # the registration's start
            st.integers(min_value=1, max_value=6),  # the month judged, 2021
        ),
        min_size=1,
        max_size=12,
    )
)
def test_property_a_shared_book_judges_each_person_as_a_fresh_book(
    people: list[tuple[str, int, str, str, dt.date | None, dt.date, int]],
) -> None:
    rules = [alw("P-ALW", HUBEI, {"assistant": 100, "intermediate": 200}), alw("C-ALW", WUHAN, {"assistant": 150})]
    shared = RuleBook(rules)
    for post, org, level, status, end, reg_from, month in people:
        facts = person(
            spell(JIANGAN, post=post, org=org, end=end), certs=[cert(level, status=status, reg_from=reg_from)]
        )
        assert allowance(facts, shared, 2021, month) == allowance(facts, RuleBook(rules), 2021, month)


def test_a_books_kept_findings_stay_bounded() -> None:
    book = RuleBook(SHIPPED)
    made = [evaluate.kept(book, ("test", n), lambda n=n: n) for n in range(evaluate.MEMO_LIMIT + 10)]
    assert made == list(range(evaluate.MEMO_LIMIT + 10))
    assert len(book.memo) <= evaluate.MEMO_LIMIT
    assert evaluate.kept(book, ("test", evaluate.MEMO_LIMIT + 9), lambda: -1) == evaluate.MEMO_LIMIT + 9
