"""How an audit entry reads to the office: Chinese labels for the keys of its detail, names in
place of the ids it records, labels for enum values, and a name for the object it concerns.

The audit rows themselves keep ids and codes (they are the record); this module only
translates them for 【操作日志】, looking up all the names of one page at once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from tortoise.models import Model

from models.enums import CourseCategory, FilingKind, QuestionCategory, Rating
from models.exam import Attempt, FaceCheck, Question
from models.org import Account, Organisation
from models.period import Enrollment, Evaluation, Period, Result
from models.physician import Filing, Physician, Transfer
from models.training import Course, CreditApplication, Lesson
from rules.evaluations import VETO_LABELS
from rules.organisation_info import FIELDS as ORG_FIELDS
from rules.period_settings import NUMBERS

# Keys of the detail that hold the id of something with a name: (kind of thing, label).
REFERENCES: dict[str, tuple[str, str]] = {
    "institution": ("organisation", "执业机构"),
    "to_institution": ("organisation", "调入执业机构"),
    "from_institution": ("organisation", "原执业机构"),
    "organisation": ("organisation", "机构"),
    "target": ("organisation", "调入执业机构"),
    "assessor": ("organisation", "考核机构"),
    "physician": ("physician", "医师"),
    "account_id": ("account", "新建登录账号"),
    "accounts": ("account", "停用的登录账号"),
    "attempt": ("attempt", "业务水平测评"),
    "period": ("period", "考核周期"),
    "course": ("course", "课程"),
}
LABELS: dict[str, str] = {
    "kind": "类型",
    "username": "登录账号",
    "name": "姓名",
    "title": "名称",
    "category": "类别",
    "minutes": "学习时长（分钟）",
    "hours": "课时",
    "credits": "学分",
    "before": "修改前",
    "after": "修改后",
    "values": "参数",
    "fields": "修改项",
    "previous": "原值",
    "photo_replaced": "更换照片",
    "sessions_ended": "结束的登录会话",
    "registration_resubmitted": "注册重新提交审核",
    "transfers_cancelled": "随之取消的调动申请",
    "work_performance": "工作成绩",
    "ethics": "职业道德",
    "vetoes": "否决项",
    "institution_ratings": "执业机构评定（工作成绩/职业道德）",
    "institution_vetoes": "执业机构所勾否决项",
    "body_changed": "正文已修改",
    "answer_before": "修改前答案",
    "answer_after": "修改后答案",
    "total": "参加考核",
    "qualified": "合格",
    "unqualified": "不合格",
    "incomplete": "未完成",
    "failed_parts": "不合格的部分",
    "missing_parts": "未完成的部分",
    "decision": "结论",
    "count": "数量",
    "filename": "文件名",
    "stage": "环节",
    "export": "导出内容",
    "filters": "筛选条件",
    "path": "页面",
    "rows": "导出行数",
}
# Field names inside before/after/values, as the forms that change them call them.
FIELD_LABELS: dict[str, str] = {
    **{name: spec[0] for section in ORG_FIELDS.values() for name, spec in section.items()},
    **{name: spec[0] for name, spec in NUMBERS.items()},
    "name": "名称",
    "title": "名称",
    "assessor": "所属考核机构",
    "email": "电子邮箱",
    "mobile": "手机号码",
    "licence_number": "医师执业证书编码",
    "practice_category": "执业类别",
    "practice_scope": "执业范围",
    "category": "类别",
    "description": "简介",
    "class_hours": "课时",
    "is_published": "发布",
    "sort": "排序",
    "video_url": "视频地址",
    "minutes": "学习时长（分钟）",
    "category_minimums": "各类课程最低课时",
    "stem": "题干",
    "options": "选项",
    "answer": "答案",
    "explanation": "解析",
    "type": "题型",
    "difficulty": "难度",
    "status": "状态",
}
# What a field of one kind of object means where it differs from the general label.
OBJECT_FIELD_LABELS: dict[str, dict[str, str]] = {"physician": {"title": "职称"}}
OBJECT_KINDS = (
    "physician",
    "organisation",
    "account",
    "filing",
    "transfer",
    "enrollment",
    "evaluation",
    "result",
    "period",
    "course",
    "lesson",
    "question",
    "creditapplication",
    "attempt",
    "facecheck",
)


def _labelled(value: str) -> str:
    for enum in (Rating, FilingKind, CourseCategory, QuestionCategory):
        if value in enum._value2member_map_:
            return enum(value).label
    return value


class Names:
    """The names of the things one page of the log refers to, looked up once per kind."""

    def __init__(self) -> None:
        self.wanted: dict[str, set[int]] = defaultdict(set)
        self.found: dict[str, dict[int, str]] = {}

    def want(self, kind: str, ids: Iterable[Any]) -> None:
        self.wanted[kind].update(i for i in ids if isinstance(i, int))

    def of(self, kind: str, pk: Any) -> str:
        name = self.found.get(kind, {}).get(pk) if isinstance(pk, int) else None
        return f"{name}（#{pk}）" if name else f"#{pk}"

    async def load(self) -> None:
        for kind, ids in self.wanted.items():
            self.found[kind] = await _names(kind, sorted(ids)) if ids else {}


async def _pairs(model: type[Model], ids: list[int], field: str) -> dict[int, str]:
    rows = await model.filter(id__in=ids).values_list("id", field)
    return {pk: str(name) for pk, name in rows}


async def _names(kind: str, ids: list[int]) -> dict[int, str]:
    """Display names by id; things named after their physician show the physician."""
    by_physician: dict[str, type[Model]] = {
        "enrollment": Enrollment,
        "evaluation": Evaluation,
        "result": Result,
        "transfer": Transfer,
        "creditapplication": CreditApplication,
        "facecheck": FaceCheck,
    }
    if kind == "physician":
        return await _pairs(Physician, ids, "name")
    if kind == "organisation":
        return await _pairs(Organisation, ids, "name")
    if kind == "account":
        rows = await Account.filter(id__in=ids).values_list("id", "username", "display_name")
        return {pk: f"{user}（{shown}）" if shown else user for pk, user, shown in rows}
    if kind == "period":
        return await _pairs(Period, ids, "name")
    if kind in ("course", "lesson"):
        return await _pairs(Course if kind == "course" else Lesson, ids, "title")
    if kind == "question":
        rows = await Question.filter(id__in=ids).values_list("id", "stem")
        return {pk: stem[:24] + ("…" if len(stem) > 24 else "") for pk, stem in rows}
    if kind == "attempt":
        return await _pairs(Attempt, ids, "paper__physician__name")
    if kind == "filing":
        found = {}
        for f in await Filing.filter(id__in=ids).select_related("institution", "physician"):
            about = f.physician.name if f.physician else f.institution.name if f.institution else ""
            found[f.id] = f"{f.kind.label}：{about}" if about else f.kind.label
        return found
    if kind in by_physician:
        return await _pairs(by_physician[kind], ids, "physician__name")
    return {}


def want_entry(
    names: Names, object_type: str, object_id: int | None, detail: dict[str, Any]
) -> None:
    if object_type in OBJECT_KINDS and object_id is not None:
        names.want(object_type, [object_id])
    for key, value in (detail or {}).items():
        if key in REFERENCES:
            names.want(REFERENCES[key][0], value if isinstance(value, list) else [value])
        elif isinstance(value, dict) and "assessor" in value:
            names.want("organisation", [value["assessor"]])


def object_text(names: Names, object_type: str, object_id: int | None) -> str:
    if object_id is None:
        return ""
    return names.of(object_type, object_id)


def detail_text(
    names: Names, detail: dict[str, Any] | None, object_type: str = ""
) -> list[tuple[str, str]]:
    """The detail as (label, text) pairs."""
    fields = {**FIELD_LABELS, **OBJECT_FIELD_LABELS.get(object_type, {})}
    labels = {**FIELD_LABELS, **LABELS, **OBJECT_FIELD_LABELS.get(object_type, {})}
    shown = []
    for key, value in (detail or {}).items():
        if key in REFERENCES:
            kind, label = REFERENCES[key]
            items = value if isinstance(value, list) else [value]
            text = "、".join(names.of(kind, i) for i in items if i is not None) or "—"
            shown.append((label, text))
        elif key == "fields" and isinstance(value, list):
            shown.append((labels["fields"], "、".join(fields.get(str(v), str(v)) for v in value)))
        else:
            shown.append((labels.get(key, key), _value(key, value, fields, names)))
    return shown


def _value(key: str, value: Any, fields: dict[str, str], names: Names) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if key in ("vetoes", "institution_vetoes") and isinstance(value, list):
        return "；".join(VETO_LABELS.get(str(v), str(v)) for v in value) or "无"
    if key == "transfers_cancelled" and isinstance(value, list):
        return f"{len(value)} 条" if value else "无"
    if key == "assessor" and isinstance(value, int):  # inside before/after of an institution
        return names.of("organisation", value)
    if isinstance(value, dict):
        parts = [
            f"{fields.get(str(k), str(k))}：{_value(str(k), v, fields, names)}"
            for k, v in value.items()
        ]
        return "；".join(parts) or "—"
    if isinstance(value, list):
        return "、".join(_value(key, v, fields, names) for v in value) or "—"
    if isinstance(value, str):
        return _labelled(value)
    return json.dumps(value, ensure_ascii=False)
