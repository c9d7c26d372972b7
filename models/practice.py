"""The national lists of practice categories and scopes (执业类别 / 执业范围) and titles."""

from __future__ import annotations

PRACTICE_SCOPES: dict[str, tuple[str, ...]] = {
    "临床": (
        "内科专业",
        "外科专业",
        "妇产科专业",
        "儿科专业",
        "眼耳鼻咽喉科专业",
        "皮肤病与性病专业",
        "精神卫生专业",
        "职业病专业",
        "医学影像和放射治疗专业",
        "医学检验、病理专业",
        "全科医学专业",
        "急救医学专业",
        "康复医学专业",
        "预防保健专业",
        "特种医学与军事医学专业",
        "计划生育技术服务专业",
        "重症医学科专业",
        "麻醉科专业",
    ),
    "口腔": ("口腔专业", "全科医学专业"),
    "公共卫生": ("公共卫生类别专业",),
    "中医": (
        "中医专业",
        "中西医结合专业",
        "维医专业",
        "哈萨克医专业",
        "蒙医专业",
        "藏医专业",
        "傣医专业",
        "全科医学专业",
    ),
}

TITLES: tuple[str, ...] = ("主任医师", "副主任医师", "主治医师", "医师", "医士", "无")


def valid_scope(category: str, scope: str) -> bool:
    return scope in PRACTICE_SCOPES.get(category, ())
