"""Administrative geography of the Xinjiang Uyghur Autonomous Region (GB/T 2260).

Pure data, no database access. It lists the 14 prefecture-level divisions of the
region and every county-level division under them (市辖区, 县, 自治县, 县级市) as in
the Ministry of Civil Affairs code table of 2023/2024.

Deliberately left out:

* the county-level cities administered directly by the XPCC (兵团, codes ``6590xx``):
  they are not part of this platform;
* 和安县 and 和康县 (和田地区, set up in December 2024): their GB/T 2260 codes had not
  been published in a table this module could be checked against, so rather than
  guess a code they are absent. Add them here once the official codes are known.

``PROVINCE_CODES`` maps the two leading digits of an 18-digit resident ID number to
the province-level division they stand for.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CountyData:
    """One county-level division."""

    code: str  # 6-digit GB/T 2260 code
    name: str  # full name, e.g. "疏附县"


@dataclass(frozen=True)
class PrefectureData:
    """One prefecture-level division with its county-level divisions, in official order."""

    code: str  # 6-digit code, e.g. "653100"
    name: str  # full name, e.g. "喀什地区"
    short_name: str  # e.g. "喀什"
    kind: str  # "city" | "autonomous_prefecture" | "prefecture" (models.enums.PrefectureKind)
    counties: tuple[CountyData, ...]


def _counties(*pairs: tuple[str, str]) -> tuple[CountyData, ...]:
    return tuple(CountyData(code=code, name=name) for code, name in pairs)


PREFECTURES: tuple[PrefectureData, ...] = (
    PrefectureData(
        code="650100",
        name="乌鲁木齐市",
        short_name="乌鲁木齐",
        kind="city",
        counties=_counties(
            ("650102", "天山区"),
            ("650103", "沙依巴克区"),
            ("650104", "新市区"),
            ("650105", "水磨沟区"),
            ("650106", "头屯河区"),
            ("650107", "达坂城区"),
            ("650109", "米东区"),
            ("650121", "乌鲁木齐县"),
        ),
    ),
    PrefectureData(
        code="650200",
        name="克拉玛依市",
        short_name="克拉玛依",
        kind="city",
        counties=_counties(
            ("650202", "独山子区"),
            ("650203", "克拉玛依区"),
            ("650204", "白碱滩区"),
            ("650205", "乌尔禾区"),
        ),
    ),
    PrefectureData(
        code="650400",
        name="吐鲁番市",
        short_name="吐鲁番",
        kind="city",
        counties=_counties(
            ("650402", "高昌区"),
            ("650421", "鄯善县"),
            ("650422", "托克逊县"),
        ),
    ),
    PrefectureData(
        code="650500",
        name="哈密市",
        short_name="哈密",
        kind="city",
        counties=_counties(
            ("650502", "伊州区"),
            ("650521", "巴里坤哈萨克自治县"),
            ("650522", "伊吾县"),
        ),
    ),
    PrefectureData(
        code="652300",
        name="昌吉回族自治州",
        short_name="昌吉",
        kind="autonomous_prefecture",
        counties=_counties(
            ("652301", "昌吉市"),
            ("652302", "阜康市"),
            ("652323", "呼图壁县"),
            ("652324", "玛纳斯县"),
            ("652325", "奇台县"),
            ("652327", "吉木萨尔县"),
            ("652328", "木垒哈萨克自治县"),
        ),
    ),
    PrefectureData(
        code="652700",
        name="博尔塔拉蒙古自治州",
        short_name="博尔塔拉",
        kind="autonomous_prefecture",
        counties=_counties(
            ("652701", "博乐市"),
            ("652702", "阿拉山口市"),
            ("652722", "精河县"),
            ("652723", "温泉县"),
        ),
    ),
    PrefectureData(
        code="652800",
        name="巴音郭楞蒙古自治州",
        short_name="巴音郭楞",
        kind="autonomous_prefecture",
        counties=_counties(
            ("652801", "库尔勒市"),
            ("652822", "轮台县"),
            ("652823", "尉犁县"),
            ("652824", "若羌县"),
            ("652825", "且末县"),
            ("652826", "焉耆回族自治县"),
            ("652827", "和静县"),
            ("652828", "和硕县"),
            ("652829", "博湖县"),
        ),
    ),
    PrefectureData(
        code="652900",
        name="阿克苏地区",
        short_name="阿克苏",
        kind="prefecture",
        counties=_counties(
            ("652901", "阿克苏市"),
            ("652902", "库车市"),
            ("652922", "温宿县"),
            ("652924", "沙雅县"),
            ("652925", "新和县"),
            ("652926", "拜城县"),
            ("652927", "乌什县"),
            ("652928", "阿瓦提县"),
            ("652929", "柯坪县"),
        ),
    ),
    PrefectureData(
        code="653000",
        name="克孜勒苏柯尔克孜自治州",
        short_name="克孜勒苏",
        kind="autonomous_prefecture",
        counties=_counties(
            ("653001", "阿图什市"),
            ("653022", "阿克陶县"),
            ("653023", "阿合奇县"),
            ("653024", "乌恰县"),
        ),
    ),
    PrefectureData(
        code="653100",
        name="喀什地区",
        short_name="喀什",
        kind="prefecture",
        counties=_counties(
            ("653101", "喀什市"),
            ("653121", "疏附县"),
            ("653122", "疏勒县"),
            ("653123", "英吉沙县"),
            ("653124", "泽普县"),
            ("653125", "莎车县"),
            ("653126", "叶城县"),
            ("653127", "麦盖提县"),
            ("653128", "岳普湖县"),
            ("653129", "伽师县"),
            ("653130", "巴楚县"),
            ("653131", "塔什库尔干塔吉克自治县"),
        ),
    ),
    PrefectureData(
        code="653200",
        name="和田地区",
        short_name="和田",
        kind="prefecture",
        counties=_counties(
            ("653201", "和田市"),
            ("653221", "和田县"),
            ("653222", "墨玉县"),
            ("653223", "皮山县"),
            ("653224", "洛浦县"),
            ("653225", "策勒县"),
            ("653226", "于田县"),
            ("653227", "民丰县"),
        ),
    ),
    PrefectureData(
        # Only the part the prefecture governs directly; 塔城地区 and 阿勒泰地区 are
        # listed as prefectures of their own below.
        code="654000",
        name="伊犁哈萨克自治州",
        short_name="伊犁",
        kind="autonomous_prefecture",
        counties=_counties(
            ("654002", "伊宁市"),
            ("654003", "奎屯市"),
            ("654004", "霍尔果斯市"),
            ("654021", "伊宁县"),
            ("654022", "察布查尔锡伯自治县"),
            ("654023", "霍城县"),
            ("654024", "巩留县"),
            ("654025", "新源县"),
            ("654026", "昭苏县"),
            ("654027", "特克斯县"),
            ("654028", "尼勒克县"),
        ),
    ),
    PrefectureData(
        code="654200",
        name="塔城地区",
        short_name="塔城",
        kind="prefecture",
        counties=_counties(
            ("654201", "塔城市"),
            ("654202", "乌苏市"),
            # Formerly 沙湾县 654223; a county-level city with a new code since 2021.
            ("654203", "沙湾市"),
            ("654221", "额敏县"),
            ("654224", "托里县"),
            ("654225", "裕民县"),
            ("654226", "和布克赛尔蒙古自治县"),
        ),
    ),
    PrefectureData(
        code="654300",
        name="阿勒泰地区",
        short_name="阿勒泰",
        kind="prefecture",
        counties=_counties(
            ("654301", "阿勒泰市"),
            ("654321", "布尔津县"),
            ("654322", "富蕴县"),
            ("654323", "福海县"),
            ("654324", "哈巴河县"),
            ("654325", "青河县"),
            ("654326", "吉木乃县"),
        ),
    ),
)

_BY_CODE: dict[str, PrefectureData] = {p.code: p for p in PREFECTURES}


def prefecture_by_code(code: str) -> PrefectureData | None:
    """The prefecture with this 6-digit code, or None."""
    return _BY_CODE.get(code)


# Two-digit province-level codes as they lead an 18-digit resident ID number.
# 83 (residence permits of Taiwan residents) is not a province and is left out.
PROVINCE_CODES: dict[str, str] = {
    "11": "北京市",
    "12": "天津市",
    "13": "河北省",
    "14": "山西省",
    "15": "内蒙古自治区",
    "21": "辽宁省",
    "22": "吉林省",
    "23": "黑龙江省",
    "31": "上海市",
    "32": "江苏省",
    "33": "浙江省",
    "34": "安徽省",
    "35": "福建省",
    "36": "江西省",
    "37": "山东省",
    "41": "河南省",
    "42": "湖北省",
    "43": "湖南省",
    "44": "广东省",
    "45": "广西壮族自治区",
    "46": "海南省",
    "50": "重庆市",
    "51": "四川省",
    "52": "贵州省",
    "53": "云南省",
    "54": "西藏自治区",
    "61": "陕西省",
    "62": "甘肃省",
    "63": "青海省",
    "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区",
    "71": "台湾省",
    "81": "香港特别行政区",
    "82": "澳门特别行政区",
}
