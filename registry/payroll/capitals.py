"""Amounts in Chinese capitals (大写金额), as written on payment sheets and cheques.

The rules of the 支付结算办法: digits 零壹贰叁肆伍陆柒捌玖, units 拾佰仟 within a group of four
and 万 亿 between groups; one 零 for any run of zeros between digits; 元 after the yuan, then
角 and 分; 整 after an amount that ends at 元 or 角, none after 分.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

DIGITS = "零壹贰叁肆伍陆柒捌玖"
UNITS = ("", "拾", "佰", "仟")
GROUPS = ("", "万", "亿", "万亿")


def _group(number: int) -> str:
    """0 < number < 10000, without leading zeros; inner zeros collapse into one 零."""
    out = ""
    zero = False
    for position in range(3, -1, -1):
        digit = number // 10**position % 10
        if digit == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += DIGITS[digit] + UNITS[position]
    return out


def _yuan(number: int) -> str:
    if number == 0:
        return ""
    groups: list[int] = []
    while number:
        groups.append(number % 10000)
        number //= 10000
    if len(groups) > len(GROUPS):
        raise ValueError("amount too large")
    out = ""
    pending_zero = False
    for index in range(len(groups) - 1, -1, -1):
        value = groups[index]
        if value == 0:
            pending_zero = bool(out)
            continue
        if out and (pending_zero or value < 1000):
            out += "零"
        out += _group(value) + GROUPS[index]
        pending_zero = False
    return out


def rmb_capitals(amount: Decimal) -> str:
    """2000 → 贰仟元整; 1234.56 → 壹仟贰佰叁拾肆元伍角陆分; 1000.05 → 壹仟元零伍分; -100 → 负壹佰元整."""
    cents = int((abs(amount) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    sign = "负" if amount < 0 and cents else ""
    yuan, jiao, fen = cents // 100, cents // 10 % 10, cents % 10
    if cents == 0:
        return "零元整"
    out = _yuan(yuan)
    if out:
        out += "元"
    if jiao == 0 and fen == 0:
        return sign + out + "整"
    if jiao:
        out += DIGITS[jiao] + "角"
    elif out:
        out += "零"
    if fen:
        out += DIGITS[fen] + "分"
    else:
        out += "整"
    return sign + out
