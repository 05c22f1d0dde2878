"""Name search tokens.

Chinese given names are often two characters, which trigram indexes cannot serve (a
two-character ``%xy%`` over 2 M rows is a 100-650 ms scan). Instead each name stores an array
of tokens under a GIN index, and a query becomes an array containment (``@>``):

* every character (一字查询: ``王``),
* every adjacent pair (``小明`` matches 王小明; a longer query needs all its pairs and is
  rechecked with LIKE),
* every substring of the pinyin initials, prefixed with ``^`` (``^zs`` finds 张三 and 张三丰),
  and every prefix of them, prefixed with ``^^`` (for "starts with"); heteronyms are
  expanded (单 gives ``d`` and ``s``), a few variants at most.
"""

from __future__ import annotations

import functools
import itertools
import re

from pypinyin import Style, pinyin
from pypinyin.constants import PHRASES_DICT

_MAX_INITIAL_VARIANTS = 4
_MAX_INITIALS_LEN = 8
PINYIN_QUERY = re.compile(r"^[a-z]{1,8}$")


def normalize_name(name: str) -> str:
    # Full-width middle dots and spaces are common in minority names typed on Chinese IMEs.
    return re.sub(r"\s+", "", name).replace("•", "·").replace("．", "·")


def _letters(items: list[list[str]]) -> list[list[str]]:
    letters: list[list[str]] = []
    for syllables in items:
        options = sorted({s[0].lower() for s in syllables if s and s[0].isalpha()})
        if options:
            letters.append(options)
    return letters


@functools.lru_cache(maxsize=32_768)
def _char_letters(char: str) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(o) for o in _letters(pinyin(char, style=Style.FIRST_LETTER, heteronym=True, errors="ignore")))


def _in_phrases(name: str) -> bool:
    n = len(name)
    return any(name[i:j] in PHRASES_DICT for i in range(n) for j in range(i + 1, n + 1))


def _initial_variants(name: str) -> list[str]:
    # pypinyin reads a name as words of its phrase dictionary where it can (单 in 单位 is dan,
    # in a surname often shan) and otherwise character by character. A name with no word of
    # that dictionary in it gets exactly the characters' readings, which are cached: ten times
    # faster than segmenting every name (tests/test_names.py compares both ways).
    if _in_phrases(name):
        letters = _letters(pinyin(name, style=Style.FIRST_LETTER, heteronym=True, errors="ignore"))
    else:
        letters = [list(options) for char in name for options in _char_letters(char)]
    variants = ["".join(p) for p in itertools.islice(itertools.product(*letters), _MAX_INITIAL_VARIANTS)]
    return variants or []


def name_tokens(name: str) -> list[str]:
    name = normalize_name(name)
    tokens: set[str] = set(name)
    tokens.update(name[i : i + 2] for i in range(len(name) - 1))
    for initials in _initial_variants(name):
        n = len(initials)
        tokens.update("^^" + initials[:j] for j in range(1, min(n, _MAX_INITIALS_LEN) + 1))
        for i in range(n):
            for j in range(i + 1, min(n, i + _MAX_INITIALS_LEN) + 1):
                tokens.add("^" + initials[i:j])
    return sorted(tokens)


def query_tokens(query: str, *, prefix: bool = False) -> tuple[list[str], bool]:
    """Tokens a name must contain to match ``query``, and whether a LIKE recheck is needed.

    For a Chinese prefix query the caller adds ``name LIKE 'q%'`` itself.
    """
    query = normalize_name(query)
    lowered = query.lower()
    if PINYIN_QUERY.match(lowered):
        return [("^^" if prefix else "^") + lowered], False
    if len(query) == 1:
        return [query], False
    pairs = sorted({query[i : i + 2] for i in range(len(query) - 1)})
    return pairs, len(query) > 2
