"""Pure functions: ID numbers, masks, name tokens, region codes and the division dataset."""

from __future__ import annotations

import datetime as dt

from stdnum.cn import ric

from registry.errors import FieldError
from registry.identity import IdFacts, mask_id_number, mask_phone, parse_id_number, validate_credit_code
from registry.practitioners.names import name_tokens, query_tokens
from registry.regions.codes import in_subtree, level_of, subtree_bounds
from registry.regions.dataset import load_rows


def make_id(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


def test_valid_id_gives_birth_date_and_sex() -> None:
    facts = parse_id_number(make_id("42010219900307122"))
    assert isinstance(facts, IdFacts)
    assert facts.birth_date == dt.date(1990, 3, 7)
    assert facts.sex == "F"  # 17th digit 2 is even
    assert parse_id_number(make_id("42010219900307121")).sex == "M"  # type: ignore[union-attr]


def test_lowercase_x_and_spaces_are_normalised() -> None:
    candidates = (make_id(f"420102199003071{d:02d}") for d in range(100))
    number = next(n for n in candidates if n.endswith("X"))
    facts = parse_id_number(" " + number.lower() + " ")
    assert isinstance(facts, IdFacts) and facts.number == number


def test_wrong_check_digit_is_refused() -> None:
    good = make_id("42010219900307123")
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    result = parse_id_number(bad)
    assert isinstance(result, FieldError) and result.code == "id_number_check_digit"


def test_impossible_birth_date_and_unknown_place_are_refused() -> None:
    assert parse_id_number(make_id("42010219900230123")).code == "id_number_birth_date"  # type: ignore[union-attr]
    future = parse_id_number(make_id("42010220990101123"), today=dt.date(2026, 11, 22))
    assert isinstance(future, FieldError) and future.code == "id_number_birth_date"
    assert parse_id_number(make_id("99999919900101123")).code == "id_number_region"  # type: ignore[union-attr]
    assert parse_id_number("12345").code == "id_number_format"  # type: ignore[union-attr]


def test_abolished_code_of_birth_is_accepted() -> None:
    # 420103 江汉区 dates from 1983, so someone born in 1975 carries a code newer than their
    # birth; python-stdnum's own place check would refuse this real-world number.
    assert isinstance(parse_id_number(make_id("42010319750101123")), IdFacts)


def test_masks() -> None:
    assert mask_id_number("42010219900307123X") == "4201**********123X"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone(None) is None


def test_credit_code() -> None:
    assert validate_credit_code("91110000600037341L") == "91110000600037341L"
    bad = validate_credit_code("91110000600037341X")
    assert isinstance(bad, FieldError) and bad.code == "credit_code_invalid"


def test_name_tokens_cover_characters_pairs_and_initials() -> None:
    tokens = set(name_tokens("张三丰"))
    assert {"张", "三", "丰", "张三", "三丰", "^zs", "^sf", "^zsf", "^^z", "^^zs"} <= tokens
    assert "张丰" not in tokens  # pairs are adjacent only
    # Heteronyms: 单 reads shan (surname) or dan.
    assert {"^s", "^d"} <= set(name_tokens("单喆"))


def test_query_tokens() -> None:
    assert query_tokens("明") == (["明"], False)
    assert query_tokens("小明") == (["小明"], False)
    assert query_tokens("王小明") == (["小明", "王小"], True)
    assert query_tokens("ZS") == (["^zs"], False)
    assert query_tokens("zs", prefix=True) == (["^^zs"], False)


def test_region_codes() -> None:
    assert [level_of(c) for c in ("420000", "420100", "420102")] == [1, 2, 3]
    assert subtree_bounds("420000") == ("420000", "429999")
    assert subtree_bounds("420100") == ("420100", "420199")
    assert in_subtree("429004", "420000") and not in_subtree("430202", "420000")


def test_division_dataset_has_the_seed_provinces_to_county_level() -> None:
    rows = {r.code: r for r in load_rows()}
    for code, name in [("420000", "湖北省"), ("430200", "株洲市"), ("620000", "甘肃省"), ("350200", "厦门市")]:
        assert rows[code].name == name and rows[code].active
    assert rows["420102"].full_name == "湖北省武汉市江岸区" and rows["420102"].parent_code == "420100"
    # Hubei's county-level cities directly under the province (仙桃).
    assert rows["429004"].name == "仙桃市" and rows["429004"].active
    # Renamed: 石灰窑区 became 西塞山区 in 2001; abolished codes stay, inactive.
    assert rows["420203"].name == "西塞山区"
    assert not rows["420120"].active
    counties = [r for r in rows.values() if r.active and r.level == 3]
    for prefix, at_least in [("42", 100), ("43", 120), ("62", 80), ("35", 80)]:
        assert sum(r.code.startswith(prefix) for r in counties) >= at_least
