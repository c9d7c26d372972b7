"""rules/credits.py and rules/practice.py called directly (no HTTP): credits once after the
required hours, with their audit row; practice open until the test window, a set drawn from
the physician's pool, the first answer stands."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import Conflict, DomainError, Forbidden, NotFound
from models.enums import CourseCategory, OrgKind, Phase, QuestionCategory, QuestionType
from models.exam import Question
from models.ops import AuditLog
from models.period import Period, PhaseWindow
from models.physician import Physician
from models.training import Course, CreditApplication, Lesson, LessonProgress
from rules import credits, practice, training
from rules.actor import Actor
from rules.questions import fingerprint
from tests import factories


async def enrolled() -> tuple[Period, Physician, Actor]:
    period = await factories.period()
    doc = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    await factories.enrollment(period, doc)
    await period.fetch_related("windows")
    account = await doc.account
    return period, doc, await Actor.of(account, "192.0.2.50")


async def studied(period: Period, doc: Physician, hours: int) -> None:
    course = await Course.create(
        title="规则测试课程", category=CourseCategory.PUBLIC_REQUIRED, class_hours=hours
    )
    lesson = await Lesson.create(course=course, title="全部内容", minutes=hours * 45)
    await LessonProgress.create(
        physician=doc,
        lesson=lesson,
        period=period,
        seconds_credited=hours * training.SECONDS_PER_CLASS_HOUR,
    )


async def test_credits_once_after_the_required_hours(db: None) -> None:
    period, doc, me = await enrolled()
    await studied(period, doc, 20)
    with pytest.raises(DomainError, match="尚未完成培训（还差 16 课时）"):
        await credits.apply(me, doc, period)
    await studied(period, doc, 16)
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    with pytest.raises(Forbidden):  # nobody applies for somebody else
        await credits.apply(await Actor.of(office), doc, period)
    both = await asyncio.gather(
        credits.apply(me, doc, period), credits.apply(me, doc, period), return_exceptions=True
    )
    assert sum(isinstance(r, CreditApplication) for r in both) == 1
    assert sum(isinstance(r, Conflict) for r in both) == 1
    found = await CreditApplication.get(physician_id=doc.id, period_id=period.id)
    assert (found.hours, found.credits, len(found.verification_code)) == (36, 6, 16)
    assert set(found.verification_code) <= set(credits.CODE_ALPHABET)
    entry = await AuditLog.get(action="credits_applied", object_id=found.id)
    assert (entry.actor_id, entry.to_state, entry.ip) == (me.account_id, "issued", "192.0.2.50")
    assert entry.detail == {"period": period.id, "hours": 36, "credits": 6}


async def law_question(n: int) -> Question:
    stem = f"练习规则题{n}"
    options = [{"key": k, "text": f"{stem}-{k}"} for k in "ABCD"]
    return await Question.create(
        type=QuestionType.SINGLE,
        stem=stem,
        options=options,
        answer=["B"],
        category=QuestionCategory.LAW,
        fingerprint=fingerprint(QuestionType.SINGLE, stem, [o["text"] for o in options]),
    )


def test_a_set_is_one_third_public_and_made_up_when_short() -> None:
    rng = random.Random(7)
    chosen = practice.pick(list(range(100)), list(range(100, 200)), 30, rng)
    assert len(chosen) == 30 and sum(i < 100 for i in chosen) == 10
    assert sorted(practice.pick([1, 2], list(range(100, 200)), 10, rng))[:2] == [1, 2]
    assert len(practice.pick([1, 2], [3], 10, rng)) == 3


async def test_practice_until_the_test_window_first_answer_stands(db: None) -> None:
    period, doc, _ = await enrolled()
    for n in range(12):
        await law_question(n)
    with pytest.raises(DomainError, match="10、20 或 50"):
        await practice.start_set(doc, 7)
    practice_set = await practice.start_set(doc, 10, rng=random.Random(1))
    assert practice_set.question_count == 10
    with pytest.raises(DomainError, match="请选择答案"):
        await practice.answer(doc, practice_set.id, 1, [])
    wrong = await practice.answer(doc, practice_set.id, 1, ["a"])
    assert wrong.correct is False and wrong.chosen == ["A"]
    again = await practice.answer(doc, practice_set.id, 1, ["B"])
    assert again.correct is False  # the first answer stands
    assert await practice.wrong_question_ids(doc.id) == [wrong.question_id]
    other = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    with pytest.raises(NotFound):
        await practice.answer(other, practice_set.id, 2, ["B"])

    test_opens = datetime.now(UTC) - timedelta(minutes=1)
    await PhaseWindow.filter(period=period, phase=Phase.TEST).update(starts_at=test_opens)
    now_open = await Period.get(id=period.id).prefetch_related("windows")
    assert await practice.closed_reason(doc, now_open, datetime.now(UTC)) == practice.CLOSED_AT_TEST
    with pytest.raises(DomainError, match="考前练习已关闭"):
        await practice.answer(doc, practice_set.id, 2, ["B"])
