"""【考前练习】: sets drawn from public knowledge and the physician's own scope, answers checked
on the server (first answer stands), the 错题本 and 重做错题, closing at the test window."""

from __future__ import annotations

import itertools
import random
import re
from datetime import UTC, datetime, timedelta

import httpx
from bs4 import BeautifulSoup

from models.enums import (
    EnrollmentStatus,
    OrgKind,
    Phase,
    Procedure,
    QuestionCategory,
    QuestionStatus,
    QuestionType,
    RegistrationStatus,
)
from models.exam import Question
from models.period import Period, PhaseWindow
from models.physician import Physician
from models.training import PracticeAnswer, PracticeSet
from rules import practice
from rules.questions import fingerprint
from tests import factories
from tests.helpers import csrf_of, login

_n = itertools.count(1)
PUBLIC = (QuestionCategory.LAW, QuestionCategory.ETHICS, QuestionCategory.HUMANITIES)


async def question(
    category: QuestionCategory = QuestionCategory.LAW,
    practice_category: str = "",
    scope: str = "",
    kind: QuestionType = QuestionType.SINGLE,
    status: QuestionStatus = QuestionStatus.ACTIVE,
) -> Question:
    n = next(_n)
    stem = f"练习题{n}：{category.label}{practice_category}{scope}"
    if kind == QuestionType.JUDGE:
        options = [{"key": "A", "text": "正确"}, {"key": "B", "text": "错误"}]
        answer = ["B"]
    else:
        options = [{"key": k, "text": f"选项{k}{n}"} for k in "ABCD"]
        answer = ["A", "C"] if kind == QuestionType.MULTIPLE else ["B"]
    return await Question.create(
        type=kind,
        stem=stem,
        options=options,
        answer=answer,
        explanation=f"解析{n}：答案见教材",
        category=category,
        practice_category=practice_category,
        practice_scope=scope,
        status=status,
        fingerprint=fingerprint(kind, stem, [o["text"] for o in options]),
    )


async def fresh_bank() -> dict[str, list[Question]]:
    """Retire whatever earlier tests left, then a bank for a 临床/内科专业 physician."""
    await Question.all().update(status=QuestionStatus.RETIRED)
    bank: dict[str, list[Question]] = {"public": [], "mine": [], "other": []}
    for category in PUBLIC:
        bank["public"] += [await question(category) for _ in range(6)]
    bank["mine"] += [
        await question(QuestionCategory.PROFESSIONAL, "临床", "内科专业") for _ in range(10)
    ]
    bank["mine"] += [await question(QuestionCategory.PROFESSIONAL, "临床", "") for _ in range(5)]
    bank["other"] += [
        await question(QuestionCategory.PROFESSIONAL, "临床", "外科专业") for _ in range(5)
    ]
    bank["other"] += [
        await question(QuestionCategory.PROFESSIONAL, "口腔", "口腔专业") for _ in range(5)
    ]
    bank["other"] += [await question(QuestionCategory.PROFESSIONAL, "口腔", "") for _ in range(5)]
    bank["other"] += [await question(status=QuestionStatus.RETIRED) for _ in range(5)]
    return bank


async def enrolled_doctor(period: Period | None = None) -> tuple[Period, Physician]:
    period = period or await factories.period()
    doc = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    await factories.enrollment(period, doc)
    return period, doc


async def post(client: httpx.AsyncClient, path: str, data: dict[str, object]) -> httpx.Response:
    token = await csrf_of(client, "/physician/practice")
    return await client.post(path, data={**data, "csrf_token": token})


async def answer_by_form(client: httpx.AsyncClient, path: str, choice: object) -> str:
    """A plain form post (no htmx): redirected to the question, now showing the result."""
    response = await post(client, path, {"choice": choice})
    assert response.status_code == 303
    shown = await client.get(response.headers["location"])
    assert shown.status_code == 200
    return text(shown.text)


def text(html: str) -> str:
    return BeautifulSoup(html, "html.parser").get_text(" ", strip=True)


# --- drawing ---------------------------------------------------------------------------


async def test_sets_draw_public_and_own_scope_only(db: None) -> None:
    bank = await fresh_bank()
    _, doc = await enrolled_doctor()
    allowed = {q.id for q in bank["public"] + bank["mine"]}
    public_ids = {q.id for q in bank["public"]}
    for seed in range(5):
        drawn = await practice.start_set(doc, 20, rng=random.Random(seed))
        ids = [a.question_id for a in await PracticeAnswer.filter(practice_set_id=drawn.id)]
        assert len(ids) == len(set(ids)) == drawn.question_count == 20
        assert set(ids) <= allowed
        assert len(set(ids) & public_ids) == 7  # a third public, two thirds professional
    drawn = await practice.start_set(doc, 50, rng=random.Random(9))
    ids = {a.question_id async for a in PracticeAnswer.filter(practice_set_id=drawn.id)}
    assert ids == allowed  # only 33 fit: all of them, nothing else
    rows = await Question.filter(id__in=list(ids)).values_list(
        "category", "practice_category", "practice_scope"
    )
    for category, practice_category, scope in rows:
        if category == QuestionCategory.PROFESSIONAL:
            assert practice_category == "临床" and scope in ("内科专业", "")


def test_pick_falls_back_when_one_pool_is_short() -> None:
    rng = random.Random(1)
    public, professional = list(range(100, 130)), list(range(1, 4))
    chosen = practice.pick(public, professional, 20, rng)
    assert len(chosen) == 20 and set(professional) <= set(chosen)
    chosen = practice.pick([1, 2], list(range(10, 40)), 10, rng)
    assert len(chosen) == 10 and {1, 2} <= set(chosen)
    assert practice.pick([], [], 10, rng) == []
    assert sorted(practice.pick([1], [2], 10, rng)) == [1, 2]


# --- answering -------------------------------------------------------------------------


async def test_one_question_per_screen_checked_at_once(client: httpx.AsyncClient, db: None) -> None:
    await fresh_bank()
    _, doc = await enrolled_doctor()
    await login(client, doc.id_number)
    page = await client.get("/physician/practice")
    assert page.status_code == 200 and "开始练习" in page.text
    bad = await post(client, "/physician/practice/start", {"count": "15"})
    assert bad.status_code == 400 and "10、20 或 50" in bad.text
    assert not await PracticeSet.filter(physician_id=doc.id).exists()
    started = await post(client, "/physician/practice/start", {"count": "10"})
    assert started.status_code == 303
    url = started.headers["location"]
    drawn = await PracticeSet.get(physician_id=doc.id)
    assert url == f"/physician/practice/{drawn.id}" and drawn.question_count == 10

    first = await PracticeAnswer.get(practice_set_id=drawn.id, position=1).select_related(
        "question"
    )
    q = first.question
    screen = await client.get(url)
    assert screen.status_code == 200 and q.stem in screen.text
    # The key and the 解析 are not sent before the answer.
    assert q.explanation not in screen.text and "正确答案" not in screen.text

    empty = await post(client, f"{url}/1", {})
    assert empty.status_code == 400 and "请选择答案" in empty.text
    assert (await PracticeAnswer.get(id=first.id)).answered_at is None

    wrong = "A" if q.answer != ["A"] else "B"
    if q.type == QuestionType.MULTIPLE:
        wrong = "B"
    answered = await client.post(
        f"{url}/1",
        data={"choice": wrong, "csrf_token": await csrf_of(client, url)},
        headers={"HX-Request": "true"},
    )
    assert answered.status_code == 200 and "<html" not in answered.text  # the htmx block
    shown = text(answered.text)
    assert "回答错误" in shown and "正确答案" in shown and q.explanation in shown
    stored = await PracticeAnswer.get(id=first.id)
    assert stored.chosen == [wrong] and stored.correct is False

    # Answering the same question again: the first answer stands, nothing counted twice.
    assert "回答错误" in await answer_by_form(client, f"{url}/1", q.answer)
    assert (await PracticeAnswer.get(id=first.id)).chosen == [wrong]
    counted = await PracticeSet.get(id=drawn.id)
    assert (counted.answered_count, counted.correct_count) == (1, 0)

    for item in await PracticeAnswer.filter(
        practice_set_id=drawn.id, position__gt=1
    ).select_related("question"):
        shown = await answer_by_form(client, f"{url}/{item.position}", item.question.answer)
        assert "回答正确" in shown and item.question.explanation in shown
    finished = await PracticeSet.get(id=drawn.id)
    assert (finished.answered_count, finished.correct_count) == (10, 9)
    assert finished.finished_at is not None and practice.score(finished) == 90
    summary = await client.get(f"{url}?summary=1")
    assert "90 分" in text(summary.text)
    home = await client.get("/physician/practice")
    assert "90" in text(home.text) and "本期已练习 1 套" in text(home.text)


async def test_multiple_choice_must_be_exact(db: None) -> None:
    await Question.all().update(status=QuestionStatus.RETIRED)
    multiple = await question(QuestionCategory.ETHICS, kind=QuestionType.MULTIPLE)
    judge = await question(QuestionCategory.HUMANITIES, kind=QuestionType.JUDGE)
    _, doc = await enrolled_doctor()
    drawn = await practice.start_set(doc, 10)
    assert drawn.question_count == 2
    items = {a.question_id: a for a in await PracticeAnswer.filter(practice_set_id=drawn.id)}
    partial = await practice.answer(doc, drawn.id, items[multiple.id].position, ["A"])
    assert partial.correct is False
    right = await practice.answer(doc, drawn.id, items[judge.id].position, ["b"])
    assert right.correct is True and right.chosen == ["B"]


async def test_answer_validation(db: None) -> None:
    await Question.all().update(status=QuestionStatus.RETIRED)
    single = await question(QuestionCategory.LAW)
    _, doc = await enrolled_doctor()
    drawn = await practice.start_set(doc, 10)
    for raw, message in ((["A", "B"], "只能选择一个答案"), (["Z"], "不在选项中"), ([], "请选择")):
        try:
            await practice.answer(doc, drawn.id, 1, raw)
        except practice.DomainError as exc:
            assert message in exc.message and exc.field == "choice"
        else:
            raise AssertionError(raw)
    assert (await PracticeAnswer.get(practice_set_id=drawn.id)).answered_at is None
    assert single.id == (await PracticeAnswer.get(practice_set_id=drawn.id)).question_id


# --- 错题本 ------------------------------------------------------------------------------


async def test_wrong_book_and_redo(client: httpx.AsyncClient, db: None) -> None:
    await Question.all().update(status=QuestionStatus.RETIRED)
    questions = [await question(QuestionCategory.LAW) for _ in range(4)]
    _, doc = await enrolled_doctor()
    await login(client, doc.id_number)
    drawn = await practice.start_set(doc, 10)
    t0 = datetime.now(UTC)
    wrong_ids = []
    for n, item in enumerate(
        await PracticeAnswer.filter(practice_set_id=drawn.id).select_related("question")
    ):
        q = item.question
        choice = q.answer if n % 2 else ["D"]
        await practice.answer(doc, drawn.id, item.position, choice, now=t0 + timedelta(seconds=n))
        if not n % 2:
            wrong_ids.append(q.id)
    assert sorted(await practice.wrong_question_ids(doc.id)) == sorted(wrong_ids)

    book = await client.get("/physician/practice/wrong")
    assert book.status_code == 200
    for q in questions:
        assert (q.stem in book.text) == (q.id in wrong_ids)
    assert "重做错题" in book.text

    redo = await post(client, "/physician/practice/start", {"source": "wrong"})
    assert redo.status_code == 303
    again = await PracticeSet.filter(physician_id=doc.id, source="wrong").get()
    items = await PracticeAnswer.filter(practice_set_id=again.id).select_related("question")
    assert sorted(i.question_id for i in items) == sorted(wrong_ids)
    # Right this time: the question leaves the 错题本; still wrong: it stays.
    fixed, still = items
    later = t0 + timedelta(minutes=5)
    await practice.answer(doc, again.id, fixed.position, fixed.question.answer, now=later)
    await practice.answer(doc, again.id, still.position, ["D"], now=later)
    assert await practice.wrong_question_ids(doc.id) == [still.question_id]
    book = await client.get("/physician/practice/wrong")
    assert still.question.stem in book.text and fixed.question.stem not in book.text

    # A retired question leaves the 错题本 too; an empty book cannot be redone.
    await Question.filter(id=still.question_id).update(status=QuestionStatus.RETIRED)
    assert await practice.wrong_question_ids(doc.id) == []
    refused = await post(client, "/physician/practice/start", {"source": "wrong"})
    assert refused.status_code == 400 and "错题本中没有题目" in refused.text


# --- who may practise, and when ------------------------------------------------------


async def test_practice_closes_when_the_test_window_opens(
    client: httpx.AsyncClient, db: None
) -> None:
    await fresh_bank()
    period, doc = await enrolled_doctor()
    drawn = await practice.start_set(doc, 10)
    await period.fetch_related("windows")
    test = await PhaseWindow.get(period=period, phase=Phase.TEST)
    before, at = test.starts_at - timedelta(seconds=1), test.starts_at
    assert practice.practice_open(period, before) and not practice.practice_open(period, at)
    assert await practice.closed_reason(doc, period, before) == ""
    assert await practice.closed_reason(doc, period, at) == practice.CLOSED_AT_TEST
    item = await PracticeAnswer.get(practice_set_id=drawn.id, position=1).select_related("question")
    try:
        await practice.answer(doc, drawn.id, 1, item.question.answer, now=at)
    except practice.DomainError as exc:
        assert "考前练习已关闭" in exc.message
    else:
        raise AssertionError("answered after the test window opened")

    await factories.open_window(period, Phase.TEST)
    await login(client, doc.id_number)
    page = await client.get("/physician/practice")
    assert page.status_code == 200 and "考前练习已关闭" in page.text
    assert "开始练习" not in page.text and f"/physician/practice/{drawn.id}" not in page.text
    for response in (
        await post(client, "/physician/practice/start", {"count": "20"}),
        await post(client, "/physician/practice/start", {"source": "wrong"}),
        await client.get(f"/physician/practice/{drawn.id}"),
        await post(client, f"/physician/practice/{drawn.id}/1", {"choice": "A"}),
        await client.get("/physician/practice/wrong"),
    ):
        assert response.status_code == 400 and "考前练习已关闭" in response.text
        assert item.question.stem not in response.text
    assert await PracticeSet.filter(physician_id=doc.id).count() == 1
    assert (await PracticeAnswer.get(id=item.id)).answered_at is None


async def test_only_enrolled_approved_physicians_practise(
    client: httpx.AsyncClient, db: None
) -> None:
    await fresh_bank()
    period = await factories.period()
    inst = await factories.organisation(OrgKind.INSTITUTION)
    pending = await factories.physician(inst, RegistrationStatus.PENDING)
    unenrolled = await factories.physician(inst)
    rejected = await factories.physician(inst)
    await factories.enrollment(
        period, rejected, Procedure.SIMPLIFIED, EnrollmentStatus.INSTITUTION_REJECTED
    )
    simplified = await factories.physician(inst)
    await factories.enrollment(period, simplified, Procedure.SIMPLIFIED)
    cases = ((pending, "注册审核通过后"), (unenrolled, "报名成功后"), (rejected, "报名成功后"))
    for doc, reason in cases:
        client.cookies.clear()
        await login(client, doc.id_number)
        page = await client.get("/physician/practice")
        assert reason in page.text and "开始练习" not in page.text
        refused = await post(client, "/physician/practice/start", {"count": "20"})
        assert refused.status_code == 400 and reason in refused.text
        assert not await PracticeSet.filter(physician_id=doc.id).exists()
    assert (await practice.start_set(simplified, 10)).question_count == 10


async def test_another_physicians_set_is_not_found(client: httpx.AsyncClient, db: None) -> None:
    await fresh_bank()
    period, owner = await enrolled_doctor()
    _, other = await enrolled_doctor(period)
    drawn = await practice.start_set(owner, 10)
    await login(client, other.id_number)
    assert (await client.get(f"/physician/practice/{drawn.id}")).status_code == 404
    answered = await post(client, f"/physician/practice/{drawn.id}/1", {"choice": "A"})
    assert answered.status_code == 404
    assert not await PracticeAnswer.filter(
        practice_set_id=drawn.id, answered_at__isnull=False
    ).exists()
    history = await client.get("/physician/practice")
    assert f"/physician/practice/{drawn.id}" not in history.text
    # Nor a position that is not in the set.
    client.cookies.clear()
    await login(client, owner.id_number)
    assert (await client.get(f"/physician/practice/{drawn.id}?n=99")).status_code == 404


async def test_guide_step_counts_sets_and_best_score(client: httpx.AsyncClient, db: None) -> None:
    await Question.all().update(status=QuestionStatus.RETIRED)
    q = await question(QuestionCategory.LAW)
    _, doc = await enrolled_doctor()
    await login(client, doc.id_number)
    home = text((await client.get("/")).text)
    assert "考前练习 可不限次数练习 去练习" in home
    drawn = await practice.start_set(doc, 10)
    await practice.answer(doc, drawn.id, 1, q.answer)
    home = text((await client.get("/")).text)
    assert re.search(r"可不限次数练习（本期已练习 1 套，最高 100 分）", home)


async def test_wrong_book_pages(client: httpx.AsyncClient, db: None) -> None:
    await Question.all().update(status=QuestionStatus.RETIRED)
    for _ in range(12):
        await question(QuestionCategory.ETHICS)
    _, doc = await enrolled_doctor()
    drawn = await practice.start_set(doc, 20)
    assert drawn.question_count == 12
    for position in range(1, 13):
        await practice.answer(doc, drawn.id, position, ["D"])
    await login(client, doc.id_number)
    first = await client.get("/physician/practice/wrong")
    soup = BeautifulSoup(first.text, "html.parser")
    assert len(soup.select("ol.wrong-list > li")) == 10 and "第 1 / 2 页" in first.text
    assert "重做错题（12 题）" in text(first.text)
    second = BeautifulSoup(
        (await client.get("/physician/practice/wrong?page=2")).text, "html.parser"
    )
    assert len(second.select("ol.wrong-list > li")) == 2
