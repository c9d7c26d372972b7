"""Checks on the static geography of Xinjiang and on the demo seed data built on it."""

from __future__ import annotations

import re

from models.geo_data import PREFECTURES, PROVINCE_CODES, prefecture_by_code
from tools.demo.data import (
    ASSESSORS,
    ETHNICITIES,
    GIVEN_NAMES_HAN,
    INSTITUTIONS,
    KAZAKH_NAMES,
    SURNAMES_HAN,
    UYGHUR_NAMES,
)

SIX_DIGITS = re.compile(r"^\d{6}$")
SEXES = {"male", "female"}


def _county_codes(prefecture_code: str) -> set[str]:
    prefecture = prefecture_by_code(prefecture_code)
    assert prefecture is not None
    return {c.code for c in prefecture.counties}


def test_fourteen_prefectures_in_official_order() -> None:
    assert [p.code for p in PREFECTURES] == [
        "650100",
        "650200",
        "650400",
        "650500",
        "652300",
        "652700",
        "652800",
        "652900",
        "653000",
        "653100",
        "653200",
        "654000",
        "654200",
        "654300",
    ]


def test_prefecture_fields() -> None:
    kinds = {"city", "autonomous_prefecture", "prefecture"}
    for p in PREFECTURES:
        assert SIX_DIGITS.match(p.code)
        assert p.code.endswith("00")
        assert p.kind in kinds
        assert p.short_name and p.short_name in p.name
        assert p.counties
    assert prefecture_by_code("653100").name == "喀什地区"  # type: ignore[union-attr]
    assert prefecture_by_code("659001") is None
    assert prefecture_by_code("") is None


def test_codes_and_names_unique_and_well_formed() -> None:
    codes = [p.code for p in PREFECTURES]
    codes += [c.code for p in PREFECTURES for c in p.counties]
    assert len(codes) == len(set(codes))
    for code in codes:
        assert SIX_DIGITS.match(code), code
        assert code.startswith("65"), code
    names = [c.name for p in PREFECTURES for c in p.counties]
    assert len(names) == len(set(names))
    for name in names:
        assert name.endswith(("区", "县", "市")), name


def test_county_codes_share_prefecture_prefix() -> None:
    # In Xinjiang every county-level code under a prefecture shares its first 4 digits,
    # county-level cities included (e.g. 沙湾市 654203, 阿勒泰市 654301).
    for p in PREFECTURES:
        for c in p.counties:
            assert c.code[:4] == p.code[:4], (p.name, c.name, c.code)
            assert c.code != p.code


def test_no_xpcc_cities() -> None:
    for p in PREFECTURES:
        for c in p.counties:
            assert not c.code.startswith("6590"), c
    names = {c.name for p in PREFECTURES for c in p.counties}
    assert not names & {"石河子市", "阿拉尔市", "图木舒克市", "五家渠市", "北屯市"}


def test_spot_checks() -> None:
    expected = {
        "653100": {"653121": "疏附县", "653101": "喀什市", "653131": "塔什库尔干塔吉克自治县"},
        "650100": {"650109": "米东区", "650102": "天山区", "650121": "乌鲁木齐县"},
        "654000": {"654022": "察布查尔锡伯自治县", "654004": "霍尔果斯市", "654003": "奎屯市"},
        "654200": {"654203": "沙湾市", "654226": "和布克赛尔蒙古自治县"},
        "652900": {"652902": "库车市"},
        "650500": {"650502": "伊州区", "650521": "巴里坤哈萨克自治县"},
        "650400": {"650402": "高昌区"},
        "650200": {"650202": "独山子区", "650205": "乌尔禾区"},
        "652300": {"652301": "昌吉市", "652302": "阜康市"},
    }
    for prefecture_code, counties in expected.items():
        prefecture = prefecture_by_code(prefecture_code)
        assert prefecture is not None
        by_code = {c.code: c.name for c in prefecture.counties}
        for code, name in counties.items():
            assert by_code.get(code) == name, (prefecture.name, code)
    ili = prefecture_by_code("654000")
    assert ili is not None and len(ili.counties) == 11
    assert "654223" not in _county_codes("654200")  # 沙湾县 before 2021


def test_county_total_is_sane() -> None:
    total = sum(len(p.counties) for p in PREFECTURES)
    assert 90 <= total <= 100, total


def test_institutions_reference_real_counties() -> None:
    assert set(INSTITUTIONS) == {p.code for p in PREFECTURES}
    all_names: list[str] = []
    for prefecture_code, institutions in INSTITUTIONS.items():
        assert len(institutions) >= 5, prefecture_code
        county_codes = _county_codes(prefecture_code)
        for county_code, name in institutions:
            assert county_code in county_codes, (prefecture_code, county_code, name)
            assert name
            all_names.append(name)
    assert len(all_names) >= 70
    assert len(all_names) == len(set(all_names))
    assert "新疆医科大学第一附属医院" in all_names
    assert "喀什地区第一人民医院" in all_names


def test_every_prefecture_has_assessors() -> None:
    assert set(ASSESSORS) == {p.code for p in PREFECTURES}
    for prefecture_code, bodies in ASSESSORS.items():
        assert 1 <= len(bodies) <= 2, prefecture_code
        assert all(bodies)


def test_names() -> None:
    assert len(SURNAMES_HAN) >= 40
    assert len(set(SURNAMES_HAN)) == len(SURNAMES_HAN)
    for names, minimum in ((GIVEN_NAMES_HAN, 40), (UYGHUR_NAMES, 60), (KAZAKH_NAMES, 25)):
        assert len(names) >= minimum
        assert len({n for n, _ in names}) == len(names)
        assert {sex for _, sex in names} == SEXES
        assert all("·" not in n for n, _ in names)


def test_ethnicities() -> None:
    assert len(ETHNICITIES) == 13
    assert ETHNICITIES[0] == "汉族"
    assert {"维吾尔族", "哈萨克族", "锡伯族", "塔塔尔族"} <= set(ETHNICITIES)


def test_province_codes() -> None:
    assert PROVINCE_CODES["65"] == "新疆维吾尔自治区"
    assert PROVINCE_CODES["11"] == "北京市"
    assert len(PROVINCE_CODES) == 34
    assert "83" not in PROVINCE_CODES
    assert all(re.match(r"^\d{2}$", code) for code in PROVINCE_CODES)
    assert len(set(PROVINCE_CODES.values())) == 34
