"""【题库管理】: office-only import with a row-numbered report, the templates, the list with its
filters, editing with the import's checks, and the retire / reactivate / delete rules."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import httpx
from bs4 import BeautifulSoup

from models.enums import OrgKind, QuestionStatus, QuestionType, Role
from models.exam import Paper, PaperItem, Question
from models.ops import AuditLog
from models.training import PracticeAnswer, PracticeSet
from rules.question_import import parse
from rules.questions import EXAMPLES, HEADER, fingerprint, values_of
from tests import factories
from tests.helpers import csrf_of, login, table_rows
from web.xlsx import workbook

URL = "/office/questions"


def csv_file(rows: Sequence[Sequence[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode()


def example(**kw: str) -> list[str]:
    values = dict(zip(HEADER, EXAMPLES[0], strict=True))
    values.update(kw)
    return [values[h] for h in HEADER]


async def office(client: httpx.AsyncClient) -> None:
    _, acct = await factories.org_with_account(OrgKind.OFFICE)
    client.cookies.clear()
    await login(client, acct.username)


async def upload(client: httpx.AsyncClient, name: str, data: bytes) -> httpx.Response:
    token = await csrf_of(client, URL)
    return await client.post(
        f"{URL}/import", data={"csrf_token": token}, files={"file": (name, data)}
    )


async def send(client: httpx.AsyncClient, path: str, data: dict[str, object]) -> httpx.Response:
    token = await csrf_of(client, URL)
    return await client.post(path, data={**data, "csrf_token": token})


async def make(stem: str, **kw: object) -> Question:
    options = [{"key": k, "text": f"{stem}-{k}"} for k in "ABCD"]
    values: dict[str, object] = {
        "type": QuestionType.SINGLE,
        "stem": stem,
        "options": options,
        "answer": ["A"],
        "category": "law",
        "fingerprint": fingerprint(QuestionType.SINGLE, stem, [o["text"] for o in options]),
    }
    values.update(kw)
    return await Question.create(**values)


async def test_only_the_office_manages_the_bank(client: httpx.AsyncClient, db: None) -> None:
    usernames = await factories.one_account_per_role()
    for role, username in usernames.items():
        if role == Role.OFFICE:
            continue
        client.cookies.clear()
        await login(client, username)
        assert (await client.get(URL)).status_code == 403, role
        assert (await client.get(f"{URL}/template.xlsx")).status_code == 403
        token = await csrf_of(client, "/")
        refused = await client.post(
            f"{URL}/import",
            data={"csrf_token": token},
            files={"file": ("a.csv", csv_file([example()]))},
        )
        assert refused.status_code == 403
    assert not await Question.filter(stem=EXAMPLES[0][1]).exists()
    client.cookies.clear()
    assert (await client.get(URL)).status_code == 303  # to the log-in page


async def test_import_reports_bad_rows_and_stores_nothing(
    client: httpx.AsyncClient, db: None
) -> None:
    await office(client)
    before = await Question.all().count()
    rows = [example(题干="导入甲"), example(题干="导入乙", 答案="Z"), example(题干="导入甲")]
    bad = await upload(client, "题库.csv", csv_file(rows))
    assert bad.status_code == 400
    soup = BeautifulSoup(bad.text, "html.parser")
    report = [
        [td.get_text(strip=True) for td in tr.select("td")]
        for tr in soup.select("table.import-errors tbody tr")
    ]
    assert report[0][0] == "3" and "答案Z不在选项中" in report[0][1]
    assert report[1] == ["4", "与第 2 行的题目重复"]
    assert "整个文件未导入" in bad.text
    assert await Question.all().count() == before

    wrong = await upload(client, "题库.docx", b"whatever")
    assert wrong.status_code == 400
    error = BeautifulSoup(wrong.text, "html.parser").select_one("#e-file")
    assert error is not None and "只能上传 .xlsx 或 .csv" in error.get_text()
    missing = await send(client, f"{URL}/import", {})
    assert missing.status_code == 400 and "请选择要导入的题库文件" in missing.text

    data = workbook("题库", HEADER, [example(题干="导入甲"), example(题干="导入乙")])
    ok = await upload(client, "题库.xlsx", data)
    assert ok.status_code == 303 and ok.headers["location"] == URL
    assert "已导入 2 道题" in (await client.get(URL)).text
    assert await Question.all().count() == before + 2
    log = await AuditLog.filter(action="questions_imported").order_by("-id").first()
    assert log is not None and log.detail["count"] == 2

    again = await upload(client, "题库.xlsx", data)
    assert again.status_code == 400 and "与题库中已有的题目重复" in again.text


async def test_templates_import_as_they_are(client: httpx.AsyncClient, db: None) -> None:
    await office(client)
    for name in ("template.xlsx", "template.csv"):
        response = await client.get(f"{URL}/{name}")
        assert response.status_code == 200
        assert "attachment" in response.headers["content-disposition"]
        parsed = parse(name, response.content)
        assert parsed.errors == []
        assert [q.type for _, q in parsed.questions] == list(QuestionType)


async def test_list_search_filters_and_pages(client: httpx.AsyncClient, db: None) -> None:
    await office(client)
    for n in range(23):
        await make(f"翻页题{n:02d}")
    heart = await make(
        "心力衰竭的首选检查",
        category="professional",
        practice_category="临床",
        practice_scope="内科专业",
        difficulty=3,
    )
    tooth = await make(
        "龋齿的分类", category="professional", practice_category="口腔", practice_scope=""
    )
    old = await make("已经停用的旧题", status=QuestionStatus.RETIRED)

    def stems(response: httpx.Response) -> str:
        return " ".join(table_rows(response.text))

    found = stems(await client.get(URL, params={"q": "心力衰竭"}))
    assert heart.stem in found and tooth.stem not in found
    assert heart.stem in stems(await client.get(URL, params={"q": str(heart.id)}))
    by_scope = stems(await client.get(URL, params={"practice_scope": "内科专业"}))
    assert heart.stem in by_scope and tooth.stem not in by_scope
    whole = stems(await client.get(URL, params={"practice_scope": "-"}))
    assert tooth.stem in whole and heart.stem not in whole
    by_category = stems(await client.get(URL, params={"practice_category": "口腔"}))
    assert tooth.stem in by_category and heart.stem not in by_category
    hard = stems(await client.get(URL, params={"difficulty": "3", "category": "professional"}))
    assert heart.stem in hard and tooth.stem not in hard
    assert old.stem not in stems(await client.get(URL, params={"q": "旧题"}))  # active by default
    assert old.stem in stems(await client.get(URL, params={"q": "旧题", "status": "retired"}))
    assert old.stem in stems(await client.get(URL, params={"q": "旧题", "status": "all"}))
    judge = stems(await client.get(URL, params={"type": "judge", "q": "翻页"}))
    assert "没有符合条件的题目" in judge

    first = await client.get(URL, params={"q": "翻页题"})
    assert len(table_rows(first.text)) == 20 and "第 1 / 2 页" in first.text
    second = await client.get(URL, params={"q": "翻页题", "page": "2"})
    assert len(table_rows(second.text)) == 3
    fragment = await client.get(URL, params={"q": "翻页题"}, headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and "翻页题22" in fragment.text


async def edit_values(question: Question, **kw: str) -> dict[str, object]:
    values: dict[str, object] = dict(values_of(question))
    values.update(kw)
    return values


async def test_edit_with_the_import_checks(client: httpx.AsyncClient, db: None) -> None:
    await office(client)
    question = await make("可编辑的题")
    other = await make("另一道题")
    page = await client.get(f"{URL}/{question.id}")
    assert page.status_code == 200 and question.stem in page.text

    bad = await send(client, f"{URL}/{question.id}", await edit_values(question, answer="AB"))
    assert bad.status_code == 400
    error = BeautifulSoup(bad.text, "html.parser").select_one("#e-answer")
    assert error is not None and "单选题只能有一个答案" in error.get_text()
    twin = await edit_values(question, stem=other.stem)
    twin.update({f"option_{k}": f"另一道题-{k}" for k in "ABCD"})
    duplicate = await send(client, f"{URL}/{question.id}", twin)
    assert duplicate.status_code == 400 and f"题目编号 {other.id}" in duplicate.text
    assert (await Question.get(id=question.id)).stem == "可编辑的题"

    changed = await edit_values(question, stem="改过的题干", answer="C", explanation="新解析")
    ok = await send(client, f"{URL}/{question.id}", changed)
    assert ok.status_code == 303
    saved = await Question.get(id=question.id)
    assert (saved.stem, saved.answer, saved.explanation) == ("改过的题干", ["C"], "新解析")
    assert saved.fingerprint != question.fingerprint
    log = await AuditLog.get(action="question_edited", object_id=question.id)
    assert log.detail["fields"] == ["answer", "explanation", "stem"]

    new = await send(
        client,
        f"{URL}/new",
        {"type": "判断题", "stem": "新增的判断题", "answer": "错", "category": "医学人文"},
    )
    assert new.status_code == 303
    created = await Question.get(stem="新增的判断题")
    assert created.answer == ["B"] and created.type == QuestionType.JUDGE


async def used_in_paper(question: Question) -> None:
    period = await factories.period()
    doc = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    enrollment = await factories.enrollment(period, doc)
    paper = await Paper.create(
        period=period, physician=doc, enrollment=enrollment, duration_minutes=60, pass_mark=60
    )
    await PaperItem.create(paper=paper, question=question, position=1)


async def test_a_question_in_a_paper_keeps_its_answer(client: httpx.AsyncClient, db: None) -> None:
    await office(client)
    question = await make("试卷用过的题")
    await used_in_paper(question)
    page = await client.get(f"{URL}/{question.id}")
    assert "已用于业务水平测评试卷" in page.text and "删除本题" not in page.text

    refused = await send(client, f"{URL}/{question.id}", await edit_values(question, answer="B"))
    assert refused.status_code == 400 and "不能修改答案" in refused.text
    fewer = await edit_values(question, option_D="")
    assert (await send(client, f"{URL}/{question.id}", fewer)).status_code == 400
    assert (await Question.get(id=question.id)).answer == ["A"]

    typo = await send(
        client, f"{URL}/{question.id}", await edit_values(question, stem="试卷用过的题。")
    )
    assert typo.status_code == 303
    assert (await Question.get(id=question.id)).stem == "试卷用过的题。"

    deleted = await send(client, f"{URL}/{question.id}/delete", {})
    assert deleted.status_code == 303 and await Question.exists(id=question.id)
    assert "不能删除" in (await client.get(deleted.headers["location"])).text


async def test_retire_reactivate_and_delete(client: httpx.AsyncClient, db: None) -> None:
    await office(client)
    practised = await make("练习用过的题")
    period = await factories.period()
    doc = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    practice_set = await PracticeSet.create(physician=doc, period=period, question_count=1)
    await PracticeAnswer.create(practice_set=practice_set, question=practised, position=1)
    unused = await make("从未用过的题")

    retire = await send(client, f"{URL}/{practised.id}/status", {"action": "retire"})
    assert retire.status_code == 303
    assert (await Question.get(id=practised.id)).status == QuestionStatus.RETIRED
    await send(client, f"{URL}/{practised.id}/status", {"action": "activate"})
    assert (await Question.get(id=practised.id)).status == QuestionStatus.ACTIVE
    actions = [
        (a.action, a.from_state, a.to_state)
        async for a in AuditLog.filter(object_id=practised.id, object_type="question").order_by(
            "id"
        )
    ]
    assert actions == [
        ("question_retired", "active", "retired"),
        ("question_reactivated", "retired", "active"),
    ]

    await send(client, f"{URL}/{practised.id}/delete", {})
    assert await Question.exists(id=practised.id)
    page = await client.get(f"{URL}/{unused.id}")
    assert "data-confirm=" in page.text and "删除本题" in page.text
    assert (await send(client, f"{URL}/{unused.id}/delete", {})).status_code == 303
    assert not await Question.exists(id=unused.id)
    assert await AuditLog.exists(action="question_deleted", object_id=unused.id)
    assert (await client.get(f"{URL}/{unused.id}")).status_code == 404


async def test_bulk_retire_and_activate(client: httpx.AsyncClient, db: None) -> None:
    await office(client)
    picked = [await make(f"批量题{n}") for n in range(3)]
    ids = [str(q.id) for q in picked[:2]]
    token = await csrf_of(client, URL)
    done = await client.post(
        f"{URL}/bulk", data={"question": ids, "action": "retire", "csrf_token": token}
    )
    assert done.status_code == 303
    statuses = {q.id: q.status async for q in Question.filter(id__in=[q.id for q in picked])}
    assert [statuses[q.id] for q in picked] == [
        QuestionStatus.RETIRED,
        QuestionStatus.RETIRED,
        QuestionStatus.ACTIVE,
    ]
    assert "已停用 2 道题" in (await client.get(URL)).text
    none = await client.post(f"{URL}/bulk", data={"action": "retire", "csrf_token": token})
    assert "请先勾选题目" in (await client.get(none.headers["location"])).text
