"""Identity numbers: the resident ID (GB 11643) and the unified social credit code (GB 32100).

Check digits come from python-stdnum. We do not use its place-of-birth check as is: it
requires the code to have existed in the birth year, but IDs first issued in the 1980s
carry the code of the place of registration at issue time, so real numbers fail it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from stdnum import numdb
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from registry.bounds import digits
from registry.errors import FieldError


@dataclass(frozen=True)
class IdFacts:
    number: str
    birth_date: dt.date
    sex: str  # "M" or "F": the 17th digit is odd for men
    birth_region_code: str


def parse_id_number(raw: str, field: str = "id_number", today: dt.date | None = None) -> IdFacts | FieldError:
    number = ric.compact(raw or "")
    if len(number) != 18 or not digits(number[:17]) or not (digits(number[17]) or number[17] == "X"):
        return FieldError(field, "id_number_format", "身份证号应为 18 位：前 17 位为数字，最后一位为数字或 X。")
    if number[17] != ric.calc_check_digit(number):
        return FieldError(field, "id_number_check_digit", "身份证号校验位不正确，请核对号码是否抄错。")
    try:
        birth = ric.get_birth_date(number)
    except ValidationError:
        return FieldError(field, "id_number_birth_date", "身份证号中的出生日期不是有效日期。")
    today = today or dt.date.today()
    if birth > today or birth.year < 1900:
        return FieldError(field, "id_number_birth_date", "身份证号中的出生日期不合理。")
    if not _known_place(number[:6]):
        return FieldError(field, "id_number_region", "身份证号前 6 位不是有效的行政区划代码。")
    return IdFacts(
        number=number,
        birth_date=birth,
        sex="M" if int(number[16]) % 2 == 1 else "F",
        birth_region_code=number[:6],
    )


def _known_place(code: str) -> bool:
    parts = numdb.get("cn/loc").info(code)
    return len(parts) == 2 and bool(parts[1][1])


def validate_credit_code(raw: str, field: str = "credit_code") -> str | FieldError:
    number = uscc.compact(raw or "")
    try:
        return str(uscc.validate(number))
    except ValidationError:
        return FieldError(field, "credit_code_invalid", "统一社会信用代码无效（18 位，含校验位），请核对。")


def mask_id_number(number: str) -> str:
    """``4201**********123X``: enough to tell two people apart on a list, not enough to misuse."""
    if len(number) < 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_name(name: str) -> str:
    """张*、李*明、欧阳**娜: the first and (for three or more characters) the last stay."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
