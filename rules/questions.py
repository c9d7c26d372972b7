"""The question bank's one representation and the one check of a question.

One representation for every question type, so the exam hall can shuffle option order and
remap option ids per physician without knowing the type:

* ``Question.options``: a list of ``{"key": "A", "text": "..."}``, keys ``A``, ``B``, … in
  order, contiguous from ``A``. A 判断题 always has exactly
  ``[{"key": "A", "text": "正确"}, {"key": "B", "text": "错误"}]``.
* ``Question.answer``: the sorted list of the right keys: ``["B"]`` for a 单选题, two or more
  keys such as ``["A", "C"]`` for a 多选题, ``["A"]`` (正确) or ``["B"]`` (错误) for a 判断题.

``check`` turns a question's fields (a form or an imported row: ``FIELDS``) into that shape or
field errors; ``Question.fingerprint`` (the normalised stem, type and option texts) makes a
question that repeats another one an error. Reading files and storing them is
``rules/question_import.py``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from models.enums import QuestionCategory, QuestionType
from models.exam import Question
from models.practice import PRACTICE_SCOPES, valid_scope

HEADER: tuple[str, ...] = (
    "题型",
    "题干",
    "选项A",
    "选项B",
    "选项C",
    "选项D",
    "选项E",
    "选项F",
    "答案",
    "解析",
    "分类",
    "执业类别",
    "执业范围",
    "难度",
)
KEYS: tuple[str, ...] = ("A", "B", "C", "D", "E", "F")
# Form and row field names, in the order of HEADER.
FIELDS: tuple[str, ...] = (
    "type",
    "stem",
    *(f"option_{k}" for k in KEYS),
    "answer",
    "explanation",
    "category",
    "practice_category",
    "practice_scope",
    "difficulty",
)
COLUMN_OF = dict(zip(HEADER, FIELDS, strict=True))

MAX_STEM = 2000
MAX_OPTION = 500
MAX_EXPLANATION = 3000

JUDGE_OPTIONS: list[dict[str, str]] = [{"key": "A", "text": "正确"}, {"key": "B", "text": "错误"}]
JUDGE_TRUE = {"正确", "对", "√", "✓", "✔", "是", "T", "TRUE"}
JUDGE_FALSE = {"错误", "错", "×", "✗", "✘", "X", "否", "F", "FALSE"}
TYPE_NAMES = (
    {t.label: t for t in QuestionType}
    | {t.value: t for t in QuestionType}
    | {
        "单选": QuestionType.SINGLE,
        "多选": QuestionType.MULTIPLE,
        "判断": QuestionType.JUDGE,
    }
)
CATEGORY_NAMES = {c.label: c for c in QuestionCategory}
CATEGORY_VALUES = {c.value: c for c in QuestionCategory}
DIFFICULTY_NAMES = {"1": 1, "2": 2, "3": 3, "易": 1, "中": 2, "难": 3}
PUBLIC_CATEGORIES = (QuestionCategory.LAW, QuestionCategory.ETHICS, QuestionCategory.HUMANITIES)
ANSWER_SEPARATORS = re.compile(r"[\s,，、;；/|]+")

# One example row of each type, for the downloadable template.
EXAMPLES: tuple[tuple[str, ...], ...] = (
    (
        "单选题",
        "《中华人民共和国医师法》规定，医师定期考核的周期为几年？",
        "一年",
        "二年",
        "三年",
        "五年",
        "",
        "",
        "C",
        "医师法第四十二条：对医师的业务水平、工作成绩和职业道德状况进行考核，考核周期为三年。",
        "法律法规",
        "",
        "",
        "1",
    ),
    (
        "多选题",
        "社区获得性肺炎的常见病原体包括：",
        "肺炎链球菌",
        "流感嗜血杆菌",
        "肺炎支原体",
        "白色念珠菌",
        "",
        "",
        "A,B,C",
        "白色念珠菌多见于免疫功能低下患者的医院获得性感染。",
        "专业知识",
        "临床",
        "内科专业",
        "2",
    ),
    (
        "判断题",
        "医师在执业活动中应当尊重患者的隐私权。",
        "",
        "",
        "",
        "",
        "",
        "",
        "正确",
        "",
        "医学伦理与职业道德",
        "",
        "",
        "",
    ),
)


@dataclass(frozen=True)
class QuestionData:
    """A checked question, ready to be stored (see the module docstring for the shapes)."""

    type: QuestionType
    stem: str
    options: list[dict[str, str]]
    answer: list[str]
    explanation: str
    category: QuestionCategory
    practice_category: str
    practice_scope: str
    difficulty: int

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.type, self.stem, [o["text"] for o in self.options])

    def values(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "stem": self.stem,
            "options": self.options,
            "answer": self.answer,
            "explanation": self.explanation,
            "category": self.category,
            "practice_category": self.practice_category,
            "practice_scope": self.practice_scope,
            "difficulty": self.difficulty,
            "fingerprint": self.fingerprint,
        }


def _normal(text: str) -> str:
    """For duplicate detection: full-width folded, case and whitespace ignored."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).casefold()


def fingerprint(kind: QuestionType | str, stem: str, option_texts: Iterable[str]) -> str:
    """The same stem, type and options (in any order) is the same question."""
    texts = sorted(_normal(t) for t in option_texts)
    raw = "\x1f".join([str(kind), _normal(stem), *texts])
    return hashlib.sha256(raw.encode()).hexdigest()


def _options(values: dict[str, str], errors: dict[str, str]) -> list[dict[str, str]]:
    texts = [values.get(f"option_{k}", "").strip() for k in KEYS]
    filled = [i for i, t in enumerate(texts) if t]
    if not filled:
        return []
    last = filled[-1]
    gaps = [KEYS[i] for i in range(last + 1) if not texts[i]]
    if gaps:
        errors["options"] = f"选项须从 A 开始连续填写，选项{'、'.join(gaps)}为空"
    too_long = [KEYS[i] for i in filled if len(texts[i]) > MAX_OPTION]
    if too_long:
        errors["options"] = f"选项{'、'.join(too_long)}超过 {MAX_OPTION} 字"
    return [{"key": KEYS[i], "text": texts[i]} for i in range(last + 1)]


def _choice_answer(
    raw: str, kind: QuestionType, options: list[dict[str, str]], errors: dict[str, str]
) -> list[str]:
    letters = [c for c in ANSWER_SEPARATORS.sub("", unicodedata.normalize("NFKC", raw)).upper()]
    keys = {o["key"] for o in options}
    if not letters:
        errors["answer"] = "请填写答案"
        return []
    unknown = sorted({c for c in letters if c not in keys})
    if unknown:
        listed = "、".join(sorted(keys)) if keys else "（无选项）"
        errors["answer"] = f"答案{'、'.join(unknown)}不在选项中（可选 {listed}）"
        return []
    chosen = sorted(set(letters))
    if kind == QuestionType.SINGLE and len(letters) != 1:
        errors["answer"] = "单选题只能有一个答案"
    elif kind == QuestionType.MULTIPLE and len(chosen) < 2:
        errors["answer"] = "多选题答案至少包含两个不同的选项"
    elif kind == QuestionType.MULTIPLE and len(chosen) != len(letters):
        errors["answer"] = "多选题答案中有重复的选项"
    return chosen


def check(values: dict[str, str]) -> tuple[QuestionData | None, dict[str, str]]:
    """One question from its fields (``FIELDS`` names): the checked data, or field errors.

    The import and the edit form use this same check.
    """
    errors: dict[str, str] = {}
    v = {k: str(values.get(k, "") or "").strip() for k in FIELDS}
    kind = TYPE_NAMES.get(v["type"])
    if kind is None:
        errors["type"] = "题型须为 单选题、多选题 或 判断题" if v["type"] else "请填写题型"
    stem = v["stem"]
    if not stem:
        errors["stem"] = "请填写题干"
    elif len(stem) > MAX_STEM:
        errors["stem"] = f"题干不超过 {MAX_STEM} 字"
    options = _options(v, errors)
    answer: list[str] = []
    if kind == QuestionType.JUDGE:
        texts = [o["text"] for o in options]
        if texts and texts != ["正确", "错误"]:
            errors["options"] = "判断题不填写选项（固定为 正确 / 错误）"
        options = [dict(o) for o in JUDGE_OPTIONS]
        said = unicodedata.normalize("NFKC", v["answer"]).strip().upper()
        if said in JUDGE_TRUE:
            answer = ["A"]
        elif said in JUDGE_FALSE:
            answer = ["B"]
        else:
            errors["answer"] = "判断题答案须为 正确 或 错误"
    elif kind is not None:
        least = 2 if kind == QuestionType.SINGLE else 3
        if "options" not in errors and len(options) < least:
            errors["options"] = f"{kind.label}至少需要 {least} 个选项"
        answer = _choice_answer(v["answer"], kind, options, errors)
    explanation = v["explanation"]
    if len(explanation) > MAX_EXPLANATION:
        errors["explanation"] = f"解析不超过 {MAX_EXPLANATION} 字"
    category = CATEGORY_NAMES.get(v["category"]) or CATEGORY_VALUES.get(v["category"])
    if category is None:
        names = "、".join(CATEGORY_NAMES)
        errors["category"] = f"分类须为 {names} 之一" if v["category"] else "请填写分类"
    practice_category, scope = v["practice_category"], v["practice_scope"]
    if category == QuestionCategory.PROFESSIONAL:
        if not practice_category:
            errors["practice_category"] = "专业知识题须填写执业类别"
        elif practice_category not in PRACTICE_SCOPES:
            names = "、".join(PRACTICE_SCOPES)
            errors["practice_category"] = f"执业类别“{practice_category}”无效（{names}）"
        elif scope and not valid_scope(practice_category, scope):
            errors["practice_scope"] = f"执业范围“{scope}”不属于执业类别“{practice_category}”"
    elif category is not None and (practice_category or scope):
        errors["practice_category"] = "只有专业知识题填写执业类别和执业范围"
    difficulty = DIFFICULTY_NAMES.get(v["difficulty"] or "2")
    if difficulty is None:
        errors["difficulty"] = "难度须为 1、2 或 3（留空为 2）"
    if errors or kind is None or category is None or difficulty is None:
        return None, errors
    return (
        QuestionData(
            type=kind,
            stem=stem,
            options=options,
            answer=answer,
            explanation=explanation,
            category=category,
            practice_category=practice_category,
            practice_scope=scope,
            difficulty=difficulty,
        ),
        {},
    )


def values_of(question: Question) -> dict[str, str]:
    """A stored question as form values (the inverse of ``check``)."""
    values = {k: "" for k in FIELDS}
    values.update(
        type=question.type.label,
        stem=question.stem,
        explanation=question.explanation,
        category=question.category.label,
        practice_category=question.practice_category,
        practice_scope=question.practice_scope,
        difficulty=str(question.difficulty),
    )
    if question.type == QuestionType.JUDGE:
        values["answer"] = "正确" if question.answer == ["A"] else "错误"
    else:
        values["answer"] = ",".join(question.answer)
        for option in question.options:
            values[f"option_{option['key']}"] = option["text"]
    return values
