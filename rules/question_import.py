"""The question bank's import: reading a file, checking every row, storing all or nothing.

The file (UTF-8 CSV, a BOM tolerated, GB18030 accepted as Excel's Chinese default, or the
first sheet of an .xlsx) has the header row ``HEADER``. Rows are numbered as Excel shows them
(the header is row 1). Every bad row is reported with its number and reason, and if any row is
bad nothing is stored. Each row goes through ``rules.questions.check``; a question that repeats
another row or one already in the bank (same fingerprint) is an error.
"""

from __future__ import annotations

import asyncio
import csv
import io
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core.errors import DomainError
from models.exam import Question
from rules import audit
from rules.actor import Actor
from rules.questions import COLUMN_OF, HEADER, QuestionData, check

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 5000
MAX_SCANNED_ROWS = 50_000  # blank rows included: a sheet of a million formatted rows is refused
# An .xlsx is a zip: what openpyxl would inflate is checked first (a 109 KB zip bomb holds
# 40 MB of XML and 20-50 s of CPU). 5,000 questions of ordinary length inflate to about
# 9 MB at about 2.5:1; XML that packs tighter than 100:1 is blank rows or a bomb.
MAX_INFLATED_BYTES = 25 * 1024 * 1024
MAX_RATIO = 100
EXTENSIONS = (".csv", ".xlsx")


class ImportFileError(DomainError):
    """The file as a whole cannot be read (shown next to the file field)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="file")


@dataclass(frozen=True)
class RowError:
    row: int
    reason: str


@dataclass
class Parsed:
    """What a file holds: the good rows (row number, question) and the bad ones."""

    questions: list[tuple[int, QuestionData]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool):
        value = "正确" if value else "错误"
    return str(value).strip()


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


async def store(
    questions: list[QuestionData], importer: Actor | None = None, filename: str = ""
) -> int:
    """Insert checked questions in one transaction: all of them or none, with the audit row
    of the ``importer`` (none for the demo bank)."""
    try:
        async with in_transaction():
            await Question.bulk_create([Question(**q.values()) for q in questions], batch_size=500)
            if importer is not None:
                await audit.record(
                    importer, "questions_imported", count=len(questions), filename=filename
                )
    except IntegrityError as exc:
        # Another import stored one of these questions between our check and the insert.
        raise DomainError(
            "导入时题库发生了变化（可能有人同时导入了相同的题目），请重新上传", field="file"
        ) from exc
    return len(questions)


async def import_file(
    filename: str, data: bytes, importer: Actor | None = None
) -> tuple[int, list[RowError]]:
    """Store every question of the file, or none: (count stored, row errors). The import is
    audited as the ``importer``'s.

    Raises ``ImportFileError`` when the file itself cannot be used.
    """
    parsed = await asyncio.to_thread(parse, filename, data)  # CPU work, off the event loop
    errors = parsed.errors + await bank_duplicates(parsed.questions)
    if errors:
        return 0, sorted(errors, key=lambda e: e.row)
    return await store([q for _, q in parsed.questions], importer, filename), []
