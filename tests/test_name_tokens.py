"""Name search tokens: the cached per-character readings give exactly what pypinyin's reading of
the whole name (with its phrase dictionary) gives, for names with and without such phrases."""

from __future__ import annotations

import itertools

from pypinyin import Style, pinyin

from registry.practitioners import names

NAMES = [
    "王伟",
    "欧阳修",
    "单田芳",  # 单 alone is dan/shan/chan; the phrase dictionary may read a name differently
    "曾国藩",
    "长孙无忌",
    "查良镛",
    "解晓东",
    "朝阳",
    "重庆",
    "乐嘉",
    "覃",
    "阿依古丽·买买提",
    "仇行长",
    "单位",
    "Tom",
    "张三丰",
    "区伟强",
]


def _whole_name(name: str) -> list[str]:
    letters = names._letters(pinyin(name, style=Style.FIRST_LETTER, heteronym=True, errors="ignore"))
    return ["".join(p) for p in itertools.islice(itertools.product(*letters), names._MAX_INITIAL_VARIANTS)]


def test_initials_from_cached_characters_match_pypinyins_reading_of_the_whole_name() -> None:
    phrases = [n for n in NAMES if names._in_phrases(n)]
    assert phrases and len(phrases) < len(NAMES)  # both ways are exercised
    for name in NAMES:
        assert names._initial_variants(name) == _whole_name(name), name
    assert names._initial_variants("单田芳") == _whole_name("单田芳") and len(_whole_name("单田芳")) > 1
    assert {"^^oy", "^oyx", "^yx"} <= set(names.name_tokens("欧阳修"))
