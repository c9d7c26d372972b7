"""rules/exam.py called directly, without a hall or a socket: grading, finishing once,
starting the clock, flags that add up, time given back, the hand-in asked for."""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from examhall.papers import Texts
from models.enums import AttemptStatus, OrgKind, QuestionCategory, QuestionType
from models.exam import Answer, Attempt, Paper, PaperItem, Question
from rules import exam
from tests import factories

_fingerprints = itertools.count()


async def paper_of(keys: list[list[str]], pass_mark: int = 60) -> Paper:
    """A paper of one question per answer key (options A–D), each shown with option ids
    ``{position}{key}`` (e.g. "0a"), and its attempt, waiting."""
    period = await factories.period()
    doc = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    enrollment = await factories.enrollment(period, doc)
    paper = await Paper.create(
        period=period,
        physician=doc,
        enrollment=enrollment,
        duration_minutes=60,
        pass_mark=pass_mark,
    )
    for position, key in enumerate(keys):
        question = await Question.create(
            type=QuestionType.MULTIPLE if len(key) > 1 else QuestionType.SINGLE,
            stem=f"第{position + 1}题",
            options=[{"key": k, "text": f"选项{k}"} for k in "ABCD"],
            answer=key,
            category=QuestionCategory.LAW,
            fingerprint=f"rules-exam-{next(_fingerprints)}",
        )
        await PaperItem.create(
            paper=paper,
            question=question,
            position=position,
            option_map={f"{position}{k.lower()}": k for k in "ABCD"},
        )
    await Attempt.create(paper=paper)
    return paper


async def answer(attempt: Attempt, position: int, keys: str) -> None:
    item = await PaperItem.get(paper_id=attempt.paper_id, position=position)
    choice = [f"{position}{k.lower()}" for k in keys]
    await Answer.create(attempt=attempt, item=item, choice=choice, seq=1)


async def in_progress(paper: Paper, deadline: datetime | None = None) -> Attempt:
    now = datetime.now(UTC)
    await Attempt.filter(paper_id=paper.id).update(
        status=AttemptStatus.IN_PROGRESS, started_at=now, deadline=deadline or now
    )
    return await Attempt.get(paper_id=paper.id)


async def test_grading_counts_questions_answered_exactly_right(db: None) -> None:
    paper = await paper_of([["A"], ["B"], ["A", "C"], ["D"]], pass_mark=60)
    attempt = await Attempt.get(paper_id=paper.id)
    await answer(attempt, 0, "A")  # right
    await answer(attempt, 1, "C")  # wrong
    await answer(attempt, 2, "A")  # half of a multiple answer: wrong
    # question 3 left unanswered
    grade = await exam.grade(paper.id, paper.pass_mark, attempt.id)
    assert grade == exam.Grade(score=25, correct=1, total=4, passed=False)

    await answer(attempt, 3, "D")
    await Answer.filter(attempt_id=attempt.id, item__position=2).update(choice=["2c", "2a"])
    grade = await exam.grade(paper.id, paper.pass_mark, attempt.id)
    assert grade == exam.Grade(score=75, correct=3, total=4, passed=True)
    # The hall's cached keys and the database's agree.
    assert await exam.grade(paper.id, paper.pass_mark, attempt.id, Texts().keys) == grade


async def test_an_attempt_is_finished_once(db: None) -> None:
    paper = await paper_of([["A"], ["B"]], pass_mark=50)
    attempt = await in_progress(paper)
    await answer(attempt, 0, "A")
    at = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)

    grade = await exam.finalise(attempt.id, paper.id, paper.pass_mark, verified=True, now=at)
    assert grade is not None and (grade.score, grade.passed) == (50, True)
    done = await Attempt.get(id=attempt.id)
    assert done.status == AttemptStatus.SUBMITTED and done.submitted_at == at
    assert (done.score, done.passed, done.flagged) == (50, True, False)

    # A second page, node or the sweeper: nothing changes.
    await answer(attempt, 1, "B")
    assert await exam.finalise(attempt.id, paper.id, paper.pass_mark, verified=False) is None
    again = await Attempt.get(id=attempt.id)
    assert (again.score, again.flagged, again.submitted_at) == (50, False, at)


async def test_an_unverified_hand_in_is_flagged_and_an_ended_attempt_not_graded(db: None) -> None:
    paper = await paper_of([["A"]])
    attempt = await in_progress(paper)
    grade = await exam.finalise(attempt.id, paper.id, paper.pass_mark, verified=False)
    assert grade is not None and grade.score == 0
    done = await Attempt.get(id=attempt.id)
    assert done.flagged and done.flag_reason == exam.UNVERIFIED

    ended = await paper_of([["A"]])
    await Attempt.filter(paper_id=ended.id).update(status=AttemptStatus.ENDED)
    attempt = await Attempt.get(paper_id=ended.id)
    assert await exam.finalise(attempt.id, ended.id, ended.pass_mark, verified=True) is None
    assert (await Attempt.get(id=attempt.id)).score is None


async def test_an_unverified_hand_in_keeps_the_reasons_raised_before(db: None) -> None:
    """Flagged earlier (left the page too often), then handed in unverified: both reasons stay
    for the proctor, and an attempt handed in already is not flagged again."""
    paper = await paper_of([["A"]])
    attempt = await in_progress(paper)
    await exam.flag(attempt.id, "多次离开考试页面")
    assert await exam.finalise(attempt.id, paper.id, paper.pass_mark, verified=False)
    done = await Attempt.get(id=attempt.id)
    assert done.flagged and done.status == AttemptStatus.SUBMITTED
    assert "多次离开考试页面" in done.flag_reason and exam.UNVERIFIED in done.flag_reason
    assert await exam.finalise(attempt.id, paper.id, paper.pass_mark, verified=False) is None
    assert (await Attempt.get(id=attempt.id)).flag_reason == done.flag_reason


async def test_overdue_attempts_are_those_past_their_grace(db: None) -> None:
    now = datetime.now(UTC)
    late = await in_progress(await paper_of([["A"]]), deadline=now - timedelta(seconds=120))
    within = await in_progress(await paper_of([["A"]]), deadline=now - timedelta(seconds=30))
    found = {row[0]: row for row in await exam.overdue(now, grace_seconds=60)}
    assert late.id in found and within.id not in found
    paper = await Paper.get(id=late.paper_id)
    assert found[late.id] == (late.id, paper.id, paper.pass_mark)


async def test_the_clock_starts_once_within_the_window(db: None) -> None:
    paper = await paper_of([["A"]])
    attempt = await Attempt.get(paper_id=paper.id)
    now = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
    window_ends = now + timedelta(hours=2)
    deadline = await exam.start(attempt.id, now, 60, window_ends, random.Random(7))
    assert deadline == now + timedelta(minutes=60)
    started = await Attempt.get(id=attempt.id)
    assert started.status == AttemptStatus.IN_PROGRESS and started.started_at == now
    assert started.deadline == deadline and started.random_check_at is not None
    share = (started.random_check_at - now) / (deadline - now)
    assert exam.RANDOM_BETWEEN[0] <= share <= exam.RANDOM_BETWEEN[1]
    # Another page starting it later changes nothing.
    assert await exam.start(attempt.id, now + timedelta(minutes=5), 60, window_ends) is None
    assert (await Attempt.get(id=attempt.id)).deadline == deadline

    # Entering late: the window's end comes before the paper's duration.
    late = await Attempt.get(paper_id=(await paper_of([["A"]])).id)
    assert await exam.start(late.id, now, 60, now + timedelta(minutes=20)) == now + timedelta(
        minutes=20
    )


async def test_flags_add_up_even_when_raised_at_once(db: None) -> None:
    attempt = await in_progress(await paper_of([["A"]]))
    first, second = "多次离开考试页面（5 次）", "随机人脸识别超时（3 分钟内未完成）"
    assert await exam.flag(attempt.id, first) == first
    assert await exam.flag(attempt.id, first) == first  # once
    both = f"{first}；{second}"
    assert await exam.flag(attempt.id, second) == both
    flagged = await Attempt.get(id=attempt.id)
    assert flagged.flagged and flagged.flag_reason == both

    # The page's task and its timer (or two nodes) at the same moment: both reasons kept.
    other = await in_progress(await paper_of([["A"]]))
    await asyncio.gather(*(exam.flag(other.id, f"理由{n}") for n in range(5)))
    kept = (await Attempt.get(id=other.id)).flag_reason.split("；")
    assert sorted(kept) == [f"理由{n}" for n in range(5)]
    assert len(exam.with_reason("；".join(["很长的理由" * 20] * 5), "再一个")) == 500


async def test_time_given_back_and_the_hand_in_asked_for(db: None) -> None:
    deadline = datetime.now(UTC) + timedelta(minutes=30)
    attempt = await in_progress(await paper_of([["A"]]), deadline=deadline)
    await exam.give_back(attempt.id, deadline, 4.5)
    await exam.give_back(attempt.id, deadline + timedelta(seconds=4.5), 0)  # nothing to give
    back = await Attempt.get(id=attempt.id)
    assert back.deadline == deadline + timedelta(seconds=4.5)
    assert back.time_credit_seconds == pytest.approx(4.5)

    asked = datetime.now(UTC)
    await exam.request_submit(attempt.id, asked)
    await exam.request_submit(attempt.id, asked + timedelta(seconds=10))  # the first one holds
    assert (await Attempt.get(id=attempt.id)).submit_requested_at == asked
