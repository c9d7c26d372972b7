"""The question bank import: every kind of bad row is reported by its Excel row number and
nothing is stored; good files (CSV with or without a BOM, GB18030 CSV, .xlsx) are stored whole."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import pytest_asyncio

from core.errors import DomainError
from models.enums import QuestionCategory, QuestionType
from models.exam import Question
from rules import question_import as bank
from rules.question_import import ImportFileError, import_file
from rules.questions import EXAMPLES, HEADER
from tools.demo import catalogue
from tools.demo.catalogue import load_demo_questions
from web.xlsx import workbook

Row = Sequence[str]
NO_OPTIONS = dict.fromkeys(("选项A", "选项B", "选项C", "选项D"), "")


def row(**kw: str) -> list[str]:
    """A good 单选题 row, with some columns replaced (keys are the header names)."""
    values = dict(zip(HEADER, EXAMPLES[0], strict=True))
    values.update(kw)
    return [values[h] for h in HEADER]


def csv_bytes(rows: Sequence[Row], header: Row = HEADER, bom: bool = True) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return (("\ufeff" if bom else "") + out.getvalue()).encode()


@pytest_asyncio.fixture(autouse=True)
async def empty_bank(db: None) -> AsyncIterator[None]:
    await Question.all().delete()
    yield


async def test_examples_import_from_csv_with_bom() -> None:
    stored, errors = await import_file("题库.csv", csv_bytes(EXAMPLES))
    assert (stored, errors) == (3, [])
    single, multiple, judge = await Question.all().order_by("id")
    assert single.type == QuestionType.SINGLE and single.answer == ["C"]
    assert [o["key"] for o in single.options] == ["A", "B", "C", "D"]
    assert single.category == QuestionCategory.LAW and single.difficulty == 1
    assert multiple.answer == ["A", "B", "C"]
    assert (multiple.practice_category, multiple.practice_scope) == ("临床", "内科专业")
    assert judge.options == [{"key": "A", "text": "正确"}, {"key": "B", "text": "错误"}]
    assert judge.answer == ["A"] and judge.difficulty == 2  # empty difficulty → 2
    assert len({q.fingerprint for q in (single, multiple, judge)}) == 3


async def test_xlsx_and_plain_utf8_and_gb18030() -> None:
    data = workbook("题库", HEADER, [row(题干="第一题", 难度="3")])
    assert await import_file("a.xlsx", data) == (1, [])
    plain = csv_bytes([row(题干="第二题")], bom=False)
    assert await import_file("b.CSV", plain) == (1, [])
    text = csv_bytes([row(题干="第三题")], bom=False).decode()
    assert await import_file("c.csv", text.encode("gb18030")) == (1, [])
    stems = [q.stem async for q in Question.all().order_by("id")]
    assert stems == ["第一题", "第二题", "第三题"]
    assert (await Question.get(stem="第一题")).difficulty == 3


async def test_numbers_in_xlsx_cells_are_read_as_text() -> None:
    """Excel stores 难度 2 as a number and 判断 answers may be booleans."""
    rows = [
        ["单选题", "数字选项", "1", "2", "", "", "", "", "B", "", "医学人文", "", "", 2.0],
        ["判断题", "布尔答案", "", "", "", "", "", "", True, "", "医学人文", "", "", 1],
    ]
    stored, errors = await import_file("n.xlsx", workbook("题库", HEADER, rows))
    assert (stored, errors) == (2, [])
    assert (await Question.get(stem="布尔答案")).answer == ["A"]


async def test_answer_spellings_are_normalised() -> None:
    rows = [
        row(题型="多选题", 题干="多选一", 选项E="戊", 答案="a c", 分类="医学人文"),
        row(题型="多选题", 题干="多选二", 答案="C，A", 分类="医学人文"),
        row(题型="多选题", 题干="多选三", 答案="DB", 分类="医学人文"),
        *(
            row(
                题型="判断题",
                题干=f"判断{n}",
                **dict.fromkeys(("选项A", "选项B", "选项C", "选项D"), ""),
                答案=a,
            )
            for n, a in enumerate(("对", "错", "√", "×", "错误"))
        ),
    ]
    assert (await import_file("x.csv", csv_bytes(rows)))[1] == []
    answers = {q.stem: q.answer async for q in Question.all()}
    assert answers["多选一"] == ["A", "C"] and answers["多选二"] == ["A", "C"]
    assert answers["多选三"] == ["B", "D"]
    assert [answers[f"判断{n}"] for n in range(5)] == [["A"], ["B"], ["A"], ["B"], ["B"]]


BAD_ROWS: list[tuple[dict[str, str], str]] = [
    ({"题型": "填空题"}, "题型须为"),
    ({"题干": ""}, "请填写题干"),
    ({"题干": "长" * 2001}, "题干不超过"),
    ({"选项B": ""}, "选项B为空"),
    ({"选项B": "", "选项C": "", "选项D": ""}, "至少需要 2 个选项"),
    ({"答案": "E"}, "不在选项中"),
    ({"答案": ""}, "请填写答案"),
    ({"答案": "AB"}, "单选题只能有一个答案"),
    ({"题型": "多选题", "答案": "A"}, "至少包含两个"),
    ({"题型": "多选题", "选项C": "", "选项D": "", "答案": "AB"}, "至少需要 3 个选项"),
    ({"题型": "判断题", "答案": "正确"}, "判断题不填写选项"),
    (
        {"题型": "判断题", "选项A": "", "选项B": "", "选项C": "", "选项D": "", "答案": "C"},
        "正确 或 错误",
    ),
    ({"分类": "临床医学"}, "分类须为"),
    ({"分类": ""}, "请填写分类"),
    ({"分类": "专业知识"}, "须填写执业类别"),
    ({"分类": "专业知识", "执业类别": "护理"}, "执业类别“护理”无效"),
    ({"分类": "专业知识", "执业类别": "口腔", "执业范围": "内科专业"}, "不属于执业类别"),
    ({"执业类别": "临床"}, "只有专业知识题"),
    ({"难度": "5"}, "难度须为"),
    ({"解析": "长" * 3001}, "解析不超过"),
]


async def test_every_bad_row_is_reported_by_its_row_and_nothing_is_stored() -> None:
    rows = [row(题干="好的第一题")]
    for n, (change, _) in enumerate(BAD_ROWS):
        rows.append(row(**{"题干": f"坏题{n}", **change}))
    rows.append(row(题干="好的最后一题"))
    stored, errors = await import_file("bad.csv", csv_bytes(rows))
    assert stored == 0
    assert [e.row for e in errors] == list(range(3, 3 + len(BAD_ROWS)))
    for error, (_, reason) in zip(errors, BAD_ROWS, strict=True):
        assert reason in error.reason, (error, reason)
    assert not await Question.exists()


async def test_several_reasons_of_one_row_are_all_given() -> None:
    _, errors = await import_file("x.csv", csv_bytes([row(题型="x", 分类="y", 难度="9")]))
    [error] = errors
    assert error.row == 2
    assert "题型" in error.reason and "分类" in error.reason and "难度" in error.reason


async def test_row_numbers_count_blank_rows_and_multiline_cells() -> None:
    """Row numbers are Excel's: a blank row still counts, a cell with a line break does not."""
    rows = [row(题干="第一行\n有换行"), ["" for _ in HEADER], row(题干="坏", 难度="x")]
    _, errors = await import_file("x.csv", csv_bytes(rows))
    assert [e.row for e in errors] == [4]
    data = workbook("题库", HEADER, [row(题干="一"), [None] * len(HEADER), row(难度="x")])
    _, errors = await import_file("x.xlsx", data)
    assert [e.row for e in errors] == [4]


async def test_duplicates_within_the_file_and_against_the_bank() -> None:
    first = row(题干="血压的正常范围是？")
    # The same question with other spacing, full-width letters and shuffled options.
    again = row(
        题干=" 血压的 正常范围是？ ",
        选项A="二年",
        选项B="一年",
        选项C="五年",
        选项D="三年",
        答案="Ｄ",
    )
    _, errors = await import_file("x.csv", csv_bytes([first, row(题干="另一题"), again]))
    assert [(e.row, e.reason) for e in errors] == [(4, "与第 2 行的题目重复")]
    assert not await Question.exists()

    assert (await import_file("x.csv", csv_bytes([first])))[0] == 1
    stored = await Question.get(stem="血压的正常范围是？")
    stored_count, errors = await import_file("y.csv", csv_bytes([row(题干="新题"), again]))
    assert stored_count == 0
    assert [(e.row, e.reason) for e in errors] == [
        (3, f"与题库中已有的题目重复（题目编号 {stored.id}）")
    ]
    assert await Question.all().count() == 1


async def test_same_stem_with_other_options_is_not_a_duplicate() -> None:
    rows = [row(题干="同一题干"), row(题干="同一题干", 选项D="十年")]
    assert (await import_file("x.csv", csv_bytes(rows)))[0] == 2


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("题库.xls", b"whatever", "不支持旧版 .xls"),
        ("题库.txt", b"a,b", "只能上传 .xlsx 或 .csv"),
        ("题库.csv", b"", "文件是空的"),
        ("题库.csv", b"\n\n", "文件是空的"),
        ("题库.csv", csv_bytes([]), "只有表头"),
        ("题库.xlsx", b"not a zip", "Excel 文件无法读取"),
        ("题库.csv", b"\xff\xfe\x00\x00binary\x00", "无法"),
        ("题库.csv", csv_bytes([row()], header=HEADER[:-1]), "缺少列：难度"),
        ("题库.csv", csv_bytes([row()], header=[*HEADER, "备注"]), "多余的列：备注"),
        ("题库.csv", csv_bytes([row()], header=[*HEADER[:-1], "题型"]), "重复的列：题型"),
        ("题库.csv", b"\n" + csv_bytes([row()], bom=False), "第 1 行应为表头"),
        ("题库.csv", b"x" * (bank.MAX_FILE_BYTES + 1), "超过 5 MB"),
    ],
)
async def test_unusable_files_are_refused_with_a_clear_message(
    filename: str, data: bytes, message: str
) -> None:
    with pytest.raises(ImportFileError) as raised:
        await import_file(filename, data)
    assert message in raised.value.message and raised.value.field == "file"


async def test_row_limit() -> None:
    rows = [row(题干=f"题{n}") for n in range(bank.MAX_ROWS + 1)]
    with pytest.raises(ImportFileError, match="最多导入 5000 道题"):
        await import_file("x.csv", csv_bytes(rows))


async def test_header_columns_in_another_order_and_trailing_empty_columns() -> None:
    header = [*reversed(HEADER), "", ""]
    data = csv_bytes([[*reversed(row(题干="倒序")), "", ""]], header=header)
    assert await import_file("x.csv", data) == (1, [])
    _, errors = await import_file("y.csv", csv_bytes([[*row(题干="多出"), "备注"]]))
    assert errors[0].reason == "表头以外的列有内容"


async def test_demo_loader_is_idempotent_and_stops_on_a_bad_file(tmp_path: Path) -> None:
    (tmp_path / "questions_a.csv").write_bytes(csv_bytes(EXAMPLES))
    (tmp_path / "questions_b.csv").write_bytes(csv_bytes([row(题干="另一题")]))
    (tmp_path / "other.csv").write_bytes(b"not a question file")
    assert await load_demo_questions(tmp_path) == 4
    assert await load_demo_questions(tmp_path) == 0
    assert await Question.all().count() == 4

    await Question.all().delete()
    (tmp_path / "questions_c.csv").write_bytes(csv_bytes([EXAMPLES[0]]))  # repeats file a
    with pytest.raises(DomainError, match=r"questions_c\.csv 第 2 行"):
        await load_demo_questions(tmp_path)
    assert not await Question.exists()


async def test_the_real_demo_bank() -> None:
    files = sorted(catalogue.DEMO_DIR.glob("questions_*.csv"))
    if not files:
        pytest.skip("tools/demo/content/questions_*.csv not written yet")
    stored = await load_demo_questions()
    assert stored == await Question.all().count() >= 330
    categories = {c async for c in Question.all().values_list("category", flat=True)}
    assert categories == set(QuestionCategory)
    assert await load_demo_questions() == 0
