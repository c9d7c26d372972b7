"""The question bank's import: reading a file, checking every row, storing all or nothing.

One representation for every question type, so the exam hall can shuffle option order and
remap option ids per physician without knowing the type:

* ``Question.options``: a list of ``{"key": "A", "text": "..."}``, keys ``A``, ``B``, … in
  order, contiguous from ``A``. A 判断题 always has exactly
  ``[{"key": "A", "text": "正确"}, {"key": "B", "text": "错误"}]``.
* ``Question.answer``: the sorted list of the right keys: ``["B"]`` for a 单选题, two or more
  keys such as ``["A", "C"]`` for a 多选题, ``["A"]`` (正确) or ``["B"]`` (错误) for a 判断题.

The file (UTF-8 CSV, a BOM tolerated, GB18030 accepted as Excel's Chinese default, or the
first sheet of an .xlsx) has the header row ``HEADER``. Rows are numbered as Excel shows them
(the header is row 1). Every bad row is reported with its number and reason, and if any row is
bad nothing is stored. ``Question.fingerprint`` (the normalised stem, type and option texts)
makes a question that repeats another row or one already in the bank an error.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core.errors import DomainError
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

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
MAX_SCANNED_ROWS = 50_000  # blank rows included: a sheet of a million formatted rows is refused
# An .xlsx is a zip: what openpyxl would inflate is checked first (a 109 KB zip bomb holds
# 40 MB of XML and 20-50 s of CPU). 5,000 questions of ordinary length inflate to about
# 9 MB at about 2.5:1; XML that packs tighter than 100:1 is blank rows or a bomb.
MAX_INFLATED_BYTES = 25 * 1024 * 1024
MAX_RATIO = 100
MAX_STEM = 2000
MAX_OPTION = 500
MAX_EXPLANATION = 3000
EXTENSIONS = (".csv", ".xlsx")

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

DEMO_DIR = Path(__file__).resolve().parent.parent / "tools" / "demo" / "content"

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


class ImportFileError(DomainError):
    """The file as a whole cannot be read (shown next to the file field)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="file")


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


@dataclass(frozen=True)
class RowError:
    row: int
    reason: str


@dataclass
class Parsed:
    """What a file holds: the good rows (row number, question) and the bad ones."""

    questions: list[tuple[int, QuestionData]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def _normal(text: str) -> str:
    """For duplicate detection: full-width folded, case and whitespace ignored."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).casefold()


def fingerprint(kind: QuestionType | str, stem: str, option_texts: Iterable[str]) -> str:
    """The same stem, type and options (in any order) is the same question."""
    texts = sorted(_normal(t) for t in option_texts)
    raw = "\x1f".join([str(kind), _normal(stem), *texts])
    return hashlib.sha256(raw.encode()).hexdigest()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool):
        value = "正确" if value else "错误"
    return str(value).strip()


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


# --- reading files -------------------------------------------------------------------


def _csv_rows(data: bytes) -> Iterator[list[Any]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ImportFileError("无法识别文件编码，请将文件另存为“CSV UTF-8（逗号分隔）”后上传")
    if "\x00" in text:
        raise ImportFileError("文件内容无法读取：不是文本格式的 CSV 文件")
    try:
        yield from csv.reader(io.StringIO(text, newline=""))
    except csv.Error as exc:
        raise ImportFileError(f"CSV 文件格式有误（{exc}），请用 Excel 重新另存后上传") from exc


def check_inflated_size(data: bytes) -> None:
    """Refuse an .xlsx whose members would inflate beyond ``MAX_INFLATED_BYTES`` (or pack
    beyond ``MAX_RATIO``), from the sizes its zip directory declares and before anything is
    inflated. The declared size is binding: zipfile never inflates a member past it."""
    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise ImportFileError("Excel 文件无法读取，请确认是 .xlsx 格式且未损坏") from exc
    total = 0
    for member in members:
        total += member.file_size
        packed = max(member.compress_size, 1)
        if total > MAX_INFLATED_BYTES or (
            member.file_size > 1024 * 1024 and member.file_size / packed > MAX_RATIO
        ):
            raise ImportFileError(
                f"Excel 文件解压后内容过大（上限 {MAX_INFLATED_BYTES // (1024 * 1024)} MB），"
                "可能含有大量空行、格式或图片，请删除多余内容或按模板重新填写后上传"
            )


def _xlsx_rows(data: bytes) -> Iterator[Sequence[Any]]:
    from openpyxl import load_workbook

    check_inflated_size(data)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise ImportFileError("Excel 文件无法读取，请确认是 .xlsx 格式且未损坏") from exc
    try:
        if not book.worksheets:
            raise ImportFileError("Excel 文件中没有工作表")
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # some writers store a wrong size; read every row
        yield from sheet.iter_rows(values_only=True)
    finally:
        book.close()


def _read(filename: str, data: bytes) -> Iterator[list[str]]:
    """Every row of the file as trimmed strings (blank rows included, to keep numbering)."""
    name = filename.lower().strip()
    if name.endswith(".xls"):
        raise ImportFileError("不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx 后上传")
    if not name.endswith(EXTENSIONS):
        raise ImportFileError("只能上传 .xlsx 或 .csv 文件，请使用题库导入模板")
    if not data:
        raise ImportFileError("文件是空的，请选择填写好的题库文件")
    if len(data) > MAX_FILE_BYTES:
        raise ImportFileError(f"文件超过 {MAX_FILE_BYTES // (1024 * 1024)} MB，请分成多个文件导入")
    rows: Iterable[Sequence[Any]] = _csv_rows(data) if name.endswith(".csv") else _xlsx_rows(data)
    for row in rows:
        yield [_cell(c) for c in row]


def _header(row: list[str]) -> list[str | None]:
    """The field of each column, or an error naming the missing and extra columns."""
    names = [unicodedata.normalize("NFKC", c).replace(" ", "") for c in row]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise ImportFileError("第 1 行应为表头：" + ",".join(HEADER))
    # NFKC folds 选项Ａ to 选项A; the header names themselves are unchanged by it.
    problems = []
    missing = [h for h in HEADER if h not in names]
    extra = [n or "（空列名）" for n in names if n not in COLUMN_OF]
    twice = sorted({n for n in names if n in COLUMN_OF and names.count(n) > 1})
    if missing:
        problems.append("缺少列：" + "、".join(missing))
    if extra:
        problems.append("多余的列：" + "、".join(extra))
    if twice:
        problems.append("重复的列：" + "、".join(twice))
    if problems:
        raise ImportFileError(
            "表头不正确（" + "；".join(problems) + "）。第 1 行应为：" + ",".join(HEADER)
        )
    return [COLUMN_OF[n] for n in names]


def parse(filename: str, data: bytes) -> Parsed:
    """Check every row of the file. Raises ``ImportFileError`` when the file itself is bad."""
    rows = _read(filename, data)
    parsed = Parsed()
    columns: list[str | None] | None = None
    seen: dict[str, int] = {}
    count = 0
    for number, row in enumerate(rows, start=1):
        if number > MAX_SCANNED_ROWS:
            raise ImportFileError(f"文件行数过多（超过 {MAX_SCANNED_ROWS} 行），请删除多余的空行")
        if columns is None:
            if not any(row):
                continue
            if number > 1:
                raise ImportFileError("第 1 行应为表头（不能是空行）：" + ",".join(HEADER))
            columns = _header(row)
            continue
        if not any(row):
            continue
        count += 1
        if count > MAX_ROWS:
            raise ImportFileError(f"一次最多导入 {MAX_ROWS} 道题，请分成多个文件导入")
        if any(row[len(columns) :]):
            parsed.errors.append(RowError(number, "表头以外的列有内容"))
            continue
        values = {name: row[i] for i, name in enumerate(columns) if name and i < len(row)}
        question, errors = check(values)
        if question is None:
            parsed.errors.append(RowError(number, "；".join(errors.values())))
            continue
        first = seen.setdefault(question.fingerprint, number)
        if first != number:
            parsed.errors.append(RowError(number, f"与第 {first} 行的题目重复"))
            continue
        parsed.questions.append((number, question))
    if columns is None:
        raise ImportFileError("文件是空的，请按模板填写表头和题目")
    if count == 0:
        raise ImportFileError("文件中没有题目（只有表头），请填写题目后上传")
    return parsed


async def bank_duplicates(questions: list[tuple[int, QuestionData]]) -> list[RowError]:
    """The rows whose question is already in the bank."""
    prints = {q.fingerprint: row for row, q in questions}
    keys = list(prints)
    errors = []
    for start in range(0, len(keys), 500):
        found = await Question.filter(fingerprint__in=keys[start : start + 500]).values_list(
            "fingerprint", "id"
        )
        for fingerprint_, question_id in found:
            errors.append(
                RowError(prints[fingerprint_], f"与题库中已有的题目重复（题目编号 {question_id}）")
            )
    return errors


async def store(questions: list[QuestionData]) -> int:
    """Insert checked questions in one transaction: all of them or none."""
    try:
        async with in_transaction():
            await Question.bulk_create([Question(**q.values()) for q in questions], batch_size=500)
    except IntegrityError as exc:
        # Another import stored one of these questions between our check and the insert.
        raise DomainError(
            "导入时题库发生了变化（可能有人同时导入了相同的题目），请重新上传", field="file"
        ) from exc
    return len(questions)


async def import_file(filename: str, data: bytes) -> tuple[int, list[RowError]]:
    """Store every question of the file, or none: (count stored, row errors).

    Raises ``ImportFileError`` when the file itself cannot be used.
    """
    parsed = await asyncio.to_thread(parse, filename, data)  # CPU work, off the event loop
    errors = parsed.errors + await bank_duplicates(parsed.questions)
    if errors:
        return 0, sorted(errors, key=lambda e: e.row)
    return await store([q for _, q in parsed.questions]), []


def _parse_path(path: Path) -> Parsed:
    return parse(path.name, path.read_bytes())


async def load_demo_questions(folder: Path = DEMO_DIR) -> int:
    """The demo bank: every ``questions_*.csv`` of ``folder`` through the same checks, stored
    in one transaction, only into an empty bank (running it again changes nothing).
    Returns how many questions were stored."""
    if await Question.exists():
        return 0
    everything: list[QuestionData] = []
    seen: dict[str, str] = {}
    problems: list[str] = []
    for path in await asyncio.to_thread(lambda: sorted(folder.glob("questions_*.csv"))):
        parsed = await asyncio.to_thread(_parse_path, path)
        problems += [f"{path.name} 第 {e.row} 行：{e.reason}" for e in parsed.errors]
        for row, question in parsed.questions:
            where = f"{path.name} 第 {row} 行"
            first = seen.setdefault(question.fingerprint, where)
            if first != where:
                problems.append(f"{where}：与 {first} 的题目重复")
            everything.append(question)
    if problems:
        raise DomainError("演示题库有误：" + "；".join(problems[:10]))
    return await store(everything) if everything else 0
