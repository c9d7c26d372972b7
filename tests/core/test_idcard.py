from __future__ import annotations

from datetime import date

import pytest

from core.idcard import IdNumberError, make_id_number, parse_id_number
from models.enums import Sex


def test_known_valid_number() -> None:
    # The GB 11643 worked example.
    parsed = parse_id_number("11010519491231002X")
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sex == Sex.FEMALE
    assert parsed.province == "北京市"


def test_lowercase_x_and_spaces_are_normalised() -> None:
    assert parse_id_number(" 11010519491231002x ").number == "11010519491231002X"


def test_xinjiang_number_gives_sex_and_birth_date() -> None:
    number = make_id_number("653121", date(1985, 6, 15), 123)
    parsed = parse_id_number(number)
    assert parsed.province == "新疆维吾尔自治区"
    assert parsed.birth_date == date(1985, 6, 15)
    assert parsed.sex == Sex.MALE


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("", "请填写"),
        ("65312119850615123", "18位"),
        ("6531211985061512345", "18位"),
        ("65312119850615A234", "18位"),
        ("11010519491231002Y", "18位"),
        ("110105194912310021", "校验位"),
        ("991234198506151234", "地区码"),
        ("650000198506151234", "地区码"),
        ("653121198502301234", "出生日期"),
        ("653121185006151234", "出生日期"),
    ],
)
def test_invalid_numbers_say_why(number: str, reason: str) -> None:
    with pytest.raises(IdNumberError, match=reason):
        parse_id_number(number)


def test_birth_date_in_the_future_is_refused() -> None:
    number = make_id_number("653121", date(2030, 1, 1), 1)
    with pytest.raises(IdNumberError, match="出生日期"):
        parse_id_number(number, today=date(2026, 11, 26))
