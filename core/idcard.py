"""The 18-digit resident ID number (GB 11643-1999): check digit, birth date, region."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from core.errors import DomainError
from models.enums import Sex
from models.geo_data import PROVINCE_CODES

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$")


class IdNumberError(ValueError):
    """The number is not a valid ID number; ``str(exc)`` is the Chinese reason."""


@dataclass(frozen=True)
class IdNumber:
    number: str
    birth_date: date
    sex: Sex
    province: str


def check_digit(first17: str) -> str:
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def parse_id_number(raw: str, today: date | None = None) -> IdNumber:
    number = raw.strip().upper()
    if not number:
        raise IdNumberError("请填写身份证号码")
    if not _SHAPE.match(number):
        raise IdNumberError("身份证号码应为18位，前17位为数字，最后一位为数字或X")
    province = PROVINCE_CODES.get(number[:2])
    if province is None or number[2:6] == "0000":
        raise IdNumberError("身份证号码的地区码无效")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise IdNumberError("身份证号码中的出生日期无效") from None
    if birth.year < 1900 or birth > (today or date.today()):
        raise IdNumberError("身份证号码中的出生日期无效")
    if check_digit(number[:17]) != number[17]:
        raise IdNumberError("身份证号码校验位不正确，请核对")
    sex = Sex.MALE if int(number[16]) % 2 else Sex.FEMALE
    return IdNumber(number=number, birth_date=birth, sex=sex, province=province)


def make_id_number(region: str, birth: date, sequence: int) -> str:
    """A valid number for demo data and tests: ``sequence`` is 0–999 (odd: male)."""
    first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_digit(first17)


def id_number_field(raw: str, field: str = "id_number") -> str:
    """The normalised number typed into a form field, or DomainError for that field."""
    try:
        return parse_id_number(raw).number
    except IdNumberError as exc:
        raise DomainError(str(exc), field=field) from None
