"""考前练习: unlimited practice sets until the test window opens (the rules; the pages are
``portal/practice.py``).

考前练习在业务水平测评开始前，可不限次数答题学习. A physician whose registration is approved
and whose enrollment in the current period stands draws a set of 10, 20 or 50 active
questions: about a third public knowledge (laws, ethics, humanities), two thirds 专业知识 of
the physician's practice category and scope (or of the whole category), topped up from the
other kind when one runs short. One question per screen; each answer is checked on the
server at once (the key is only sent after answering) and the first answer stands. The 错题本
holds the questions whose latest answer was wrong; 重做错题 makes a set of them.

When the test window opens practice closes: no new sets, no answers, and no set or 错题本
content is shown (it would be a crib sheet during the test).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from core.errors import DomainError, NotFound
from models.enums import Phase, QuestionCategory, QuestionStatus, QuestionType, RegistrationStatus
from models.exam import Question
from models.period import Period
from models.physician import Physician
from models.training import PracticeAnswer, PracticeSet
from rules.enrollment import REJECTED, active_enrollment
from rules.periods import current_period, window
from rules.questions import PUBLIC_CATEGORIES

SET_SIZES = (10, 20, 50)
DEFAULT_SIZE = 20
PROFESSIONAL_SHARE = 2 / 3
REDO_LIMIT = 50  # questions in one 重做错题 set
SOURCE_LABELS = {"draw": "随机练习", "wrong": "错题重做"}
CLOSED_AT_TEST = (
    "业务水平测评已开始，考前练习已关闭。考前练习在业务水平测评开始前，可不限次数答题学习。"
)


def practice_open(period: Period, now: datetime) -> bool:
    """Practice is open until the test window of the period opens."""
    test = window(period, Phase.TEST)
    return test is None or now < test.starts_at


async def closed_reason(physician: Physician, period: Period | None, now: datetime) -> str:
    """Why this physician cannot practise now ("" when practice is open)."""
    if period is None:
        return "当前没有进行中的考核周期，暂不能练习"
    if physician.registration_status != RegistrationStatus.APPROVED:
        return "注册审核通过后方可使用考前练习，请先在【个人资料】中完成注册"
    enrollment = await active_enrollment(physician.id, period.id)
    if enrollment is None or enrollment.status in REJECTED:
        return "报名成功后方可使用考前练习，请先到【考试报名】报名"
    if not practice_open(period, now):
        return CLOSED_AT_TEST
    return ""


async def require_open(physician: Physician, now: datetime) -> Period:
    period = await current_period()
    reason = await closed_reason(physician, period, now)
    if reason:
        raise DomainError(reason)
    assert period is not None
    return period


def score(practice_set: PracticeSet) -> int:
    return round(100 * practice_set.correct_count / max(1, practice_set.question_count))


async def pools(physician: Physician) -> tuple[list[int], list[int]]:
    """Active question ids: (public knowledge, 专业知识 of the physician's category/scope)."""
    active = Question.filter(status=QuestionStatus.ACTIVE)
    public = await active.filter(category__in=PUBLIC_CATEGORIES).values_list("id", flat=True)
    professional = await active.filter(
        Q(practice_scope=physician.practice_scope) | Q(practice_scope=""),
        category=QuestionCategory.PROFESSIONAL,
        practice_category=physician.practice_category,
    ).values_list("id", flat=True)
    return cast(list[int], public), cast(list[int], professional)


def pick(public: list[int], professional: list[int], count: int, rng: random.Random) -> list[int]:
    """About 1/3 public, 2/3 professional; a short pool is made up from the other one."""
    want_professional = min(round(count * PROFESSIONAL_SHARE), len(professional))
    want_public = min(count - want_professional, len(public))
    want_professional = min(count - want_public, len(professional))
    chosen = rng.sample(professional, want_professional) + rng.sample(public, want_public)
    rng.shuffle(chosen)
    return chosen


async def _create(physician: Physician, period: Period, ids: list[int], source: str) -> PracticeSet:
    async with in_transaction():
        practice_set = await PracticeSet.create(
            physician=physician, period=period, source=source, question_count=len(ids)
        )
        await PracticeAnswer.bulk_create(
            [
                PracticeAnswer(practice_set=practice_set, question_id=qid, position=n)
                for n, qid in enumerate(ids, start=1)
            ]
        )
    return practice_set


async def start_set(
    physician: Physician,
    count: int,
    *,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> PracticeSet:
    """A new set of ``count`` questions drawn at random (fewer when the bank is small)."""
    period = await require_open(physician, now or datetime.now(UTC))
    if count not in SET_SIZES:
        raise DomainError("请选择每套题数：10、20 或 50 题", field="count")
    public, professional = await pools(physician)
    ids = pick(public, professional, count, rng or random.SystemRandom())
    if not ids:
        raise DomainError("题库中暂无可练习的题目，请稍后再试")
    return await _create(physician, period, ids, "draw")


async def wrong_question_ids(physician_id: int) -> list[int]:
    """Active questions whose latest answer by this physician was wrong, latest first."""
    rows = (
        await PracticeAnswer.filter(
            practice_set__physician_id=physician_id,
            answered_at__isnull=False,
            question__status=QuestionStatus.ACTIVE,
        )
        .order_by("answered_at", "id")
        .values_list("question_id", "correct")
    )
    latest: dict[int, bool] = {}
    for question_id, correct in rows:
        latest.pop(question_id, None)  # re-inserted: the dict keeps the answer order
        latest[question_id] = bool(correct)
    return [qid for qid, correct in reversed(latest.items()) if not correct]


async def start_redo(physician: Physician, *, now: datetime | None = None) -> PracticeSet:
    """重做错题: a set of the latest wrongly answered questions (at most ``REDO_LIMIT``)."""
    period = await require_open(physician, now or datetime.now(UTC))
    ids = (await wrong_question_ids(physician.id))[:REDO_LIMIT]
    if not ids:
        raise DomainError("错题本中没有题目，无需重做")
    return await _create(physician, period, ids, "wrong")


async def own_set(physician_id: int, set_id: int) -> PracticeSet:
    found = await PracticeSet.get_or_none(id=set_id, physician_id=physician_id)
    if found is None:
        raise NotFound()
    return found


def chosen_keys(question: Question, raw: list[str]) -> list[str]:
    keys = {o["key"] for o in question.options}
    chosen = sorted({c.strip().upper() for c in raw if c.strip()})
    if not chosen:
        raise DomainError("请选择答案后再提交", field="choice")
    if any(c not in keys for c in chosen):
        raise DomainError("所选答案不在选项中，请重新选择", field="choice")
    if question.type != QuestionType.MULTIPLE and len(chosen) != 1:
        raise DomainError(f"{question.type.label}只能选择一个答案", field="choice")
    return chosen


async def answer(
    physician: Physician,
    set_id: int,
    position: int,
    raw: list[str],
    *,
    now: datetime | None = None,
) -> PracticeAnswer:
    """Check one answer. The first answer to a question of a set stands (a repeat is
    answered with the stored result and counts nothing)."""
    practice_set = await own_set(physician.id, set_id)
    now = now or datetime.now(UTC)
    await require_open(physician, now)
    item = await PracticeAnswer.get_or_none(
        practice_set_id=practice_set.id, position=position
    ).select_related("question")
    if item is None:
        raise NotFound()
    if item.answered_at is not None:
        return item
    chosen = chosen_keys(item.question, raw)
    correct = chosen == sorted(item.question.answer)
    async with in_transaction():  # the answer and the set's counts together
        changed = await PracticeAnswer.filter(id=item.id, answered_at__isnull=True).update(
            chosen=chosen, correct=correct, answered_at=now
        )
        if changed:
            await PracticeSet.filter(id=practice_set.id).update(
                answered_count=F("answered_count") + 1,
                correct_count=F("correct_count") + int(correct),
            )
            counted = await PracticeSet.get(id=practice_set.id)
            if counted.answered_count >= counted.question_count:
                await PracticeSet.filter(id=practice_set.id, finished_at__isnull=True).update(
                    finished_at=now
                )
    return await PracticeAnswer.get(id=item.id).select_related("question")


@dataclass(frozen=True)
class Summary:
    sets: int
    best: int | None  # best score of a finished set

    @property
    def text(self) -> str:
        """For the 温馨提示 guide: "" before the first set."""
        if not self.sets:
            return ""
        best = "" if self.best is None else f"，最高 {self.best} 分"
        return f"（本期已练习 {self.sets} 套{best}）"


async def summary(physician_id: int, period_id: int) -> Summary:
    rows = await PracticeSet.filter(physician_id=physician_id, period_id=period_id).values_list(
        "question_count", "correct_count", "finished_at"
    )
    scores = [round(100 * c / max(1, n)) for n, c, finished in rows if finished is not None]
    return Summary(len(rows), max(scores) if scores else None)
