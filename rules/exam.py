"""The rules of an attempt at the test (DESIGN.md §5), as plain async functions: starting its
clock, flagging it for proctors, giving back time, asking to hand in, grading, and finishing it.

The exam hall calls them from a sitting (examhall/sitting.py) and from the sweeper that
finishes abandoned attempts (examhall/hall.py); tests call them directly, without a socket.
They take ids and plain values, never a request, and change an attempt with a conditional
update, so that two nodes doing the same at the same moment change it once. What the hall
tells the page and the proctors' timeline about a change stays in the hall.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import F

from core.db import as_json, fetch
from models.enums import AttemptStatus
from models.exam import Attempt, Question

RANDOM_BETWEEN = (0.2, 0.8)  # of the time, when the random check comes
UNVERIFIED = "交卷人脸验证未在规定时间内完成（未核验）"
FLAG_REASON_MAX = 500  # the attempt's flag_reason column
FLAG_SEPARATOR = "；"

# The answer keys of questions, by question id: each a sorted list of option keys. The hall
# passes its process-wide cache (examhall.papers.Texts.keys); ``read_keys`` reads them.
AnswerKeys = Callable[[Collection[int]], Awaitable[Mapping[int, list[str]]]]


async def read_keys(question_ids: Collection[int]) -> dict[int, list[str]]:
    rows = await Question.filter(id__in=list(question_ids)).values_list("id", "answer")
    return {qid: sorted(answer) for qid, answer in rows}


@dataclass(frozen=True)
class Grade:
    score: int
    correct: int
    total: int
    passed: bool


GRADED_ITEMS = "SELECT id, question_id, option_map, points FROM paper_item WHERE paper_id = ?"
GIVEN = "SELECT item_id, choice FROM answer WHERE attempt_id = ?"


async def grade(
    paper_id: int, pass_mark: int, attempt_id: int, keys: AnswerKeys = read_keys
) -> Grade:
    """Score out of 100: the share of points of the questions answered exactly right."""
    items = await fetch(GRADED_ITEMS, paper_id)
    given = {r["item_id"]: as_json(r["choice"]) for r in await fetch(GIVEN, attempt_id)}
    answers = await keys({r["question_id"] for r in items})
    total = sum(r["points"] for r in items)
    earned = 0
    correct = 0
    for item in items:
        option_map = as_json(item["option_map"])
        chosen = sorted(option_map.get(c, "?") for c in given.get(item["id"], []))
        if chosen and chosen == answers[item["question_id"]]:
            earned += item["points"]
            correct += 1
    score = round(100 * earned / total) if total else 0
    return Grade(score, correct, len(items), score >= pass_mark)


async def finalise(
    attempt_id: int,
    paper_id: int,
    pass_mark: int,
    verified: bool,
    keys: AnswerKeys = read_keys,
    now: datetime | None = None,
) -> Grade | None:
    """Grade and submit an attempt in progress, once: None when it was not in progress (done
    already, by another node or page, or ended). An attempt whose submit check was not passed
    (``verified`` false: the grace period ran out) is flagged for proctors."""
    result = await grade(paper_id, pass_mark, attempt_id, keys)
    values: dict[str, Any] = {
        "status": AttemptStatus.SUBMITTED,
        "submitted_at": now or datetime.now(UTC),
        "score": result.score,
        "passed": result.passed,
    }
    if verified:
        changed = await Attempt.filter(id=attempt_id, status=AttemptStatus.IN_PROGRESS).update(
            **values
        )
        return result if changed else None
    while True:  # unverified: flagged in the same statement, keeping the reasons already there
        found = await (
            Attempt.filter(id=attempt_id, status=AttemptStatus.IN_PROGRESS)
            .first()
            .values("flag_reason")
        )
        if found is None:
            return None
        before = found["flag_reason"]
        if await Attempt.filter(
            id=attempt_id, status=AttemptStatus.IN_PROGRESS, flag_reason=before
        ).update(**values, flagged=True, flag_reason=with_reason(before, UNVERIFIED)):
            return result


async def overdue(now: datetime, grace_seconds: float) -> list[tuple[int, int, int]]:
    """Attempts in progress whose grace period after the deadline is over: (attempt id,
    paper id, pass mark) of each, for ``finalise`` unverified."""
    grace = timedelta(seconds=grace_seconds)
    rows = await Attempt.filter(
        status=AttemptStatus.IN_PROGRESS, deadline__lt=now - grace
    ).values_list("id", "paper_id", "paper__pass_mark")
    return [(int(a), int(p), int(m)) for a, p, m in rows]


async def start(
    attempt_id: int,
    now: datetime,
    duration_minutes: int,
    window_ends_at: datetime,
    rng: random.Random | None = None,
) -> datetime | None:
    """Start the clock, once: the deadline (the paper's duration, never past the window) and
    the moment of the random check, between 20 % and 80 % of the time. The deadline set, or
    None when the attempt had started already (on another page or node)."""
    deadline = min(now + timedelta(minutes=duration_minutes), window_ends_at)
    share = (rng or random).uniform(*RANDOM_BETWEEN)
    changed = await Attempt.filter(id=attempt_id, started_at__isnull=True).update(
        status=AttemptStatus.IN_PROGRESS,
        started_at=now,
        deadline=deadline,
        random_check_at=now + (deadline - now) * share,
    )
    return deadline if changed else None


def with_reason(reasons: str, reason: str) -> str:
    """The attempt's flag reasons with one more (once), as stored."""
    kept = [r for r in reasons.split(FLAG_SEPARATOR) if r]
    if reason not in kept:
        kept.append(reason)
    return FLAG_SEPARATOR.join(kept)[:FLAG_REASON_MAX]


async def flag(attempt_id: int, reason: str) -> str:
    """Flag the attempt for proctors; the reasons add up when there are several. Answers the
    reasons as stored.

    The reasons are written only over the ones read (compare and set, tried again when
    another writer came between): the page's task and its timer, or two nodes, flagging at
    the same moment each keep their reason."""
    while True:
        found = await Attempt.filter(id=attempt_id).first().values("flag_reason")
        if found is None:
            return ""
        before = found["flag_reason"]
        joined = with_reason(before, reason)
        if await Attempt.filter(id=attempt_id, flag_reason=before).update(
            flagged=True, flag_reason=joined
        ):
            return joined


async def give_back(attempt_id: int, deadline: datetime, seconds: float) -> None:
    """Time spent waiting for the face verifier is added to the deadline (``deadline`` the
    one the caller knows; the credit is counted apart)."""
    if seconds <= 0:
        return
    await Attempt.filter(id=attempt_id).update(
        time_credit_seconds=F("time_credit_seconds") + seconds,
        deadline=deadline + timedelta(seconds=seconds),
    )


async def request_submit(attempt_id: int, now: datetime) -> None:
    """交卷 asked for: kept, so that a reconnecting page (on any node) finishes the hand-in."""
    await Attempt.filter(id=attempt_id, submit_requested_at__isnull=True).update(
        submit_requested_at=now
    )
