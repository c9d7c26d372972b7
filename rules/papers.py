"""Papers: drawn per physician ahead of the window (``xjdk generate-papers``, the office
after a change of the exam parameters, the hall on a first entry without one).

A paper has the period's number of questions: public knowledge (laws, ethics, humanities)
and professional questions of the physician's practice category and scope. The order of the
questions, the order of each question's options and the option ids all differ per
physician: ``PaperItem.option_map`` maps the ids shown to this physician to the question's
own option keys, so the answer key never needs to reach the browser. How the hall shows a
paper to the physician who sits it: ``examhall/papers.py``.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from core.errors import DomainError
from models.enums import (
    EnrollmentStatus,
    Procedure,
    QuestionCategory,
    QuestionStatus,
)
from models.exam import Attempt, Paper, PaperItem, Question
from models.period import Enrollment, Period
from models.physician import Physician

PUBLIC = (QuestionCategory.LAW, QuestionCategory.ETHICS, QuestionCategory.HUMANITIES)
PUBLIC_SHARE = 0.3  # of a paper, the rest professional (either side fills in for the other)
STANDING = (EnrollmentStatus.SUBMITTED,)  # a general-procedure enrollment needs no review


@dataclass(frozen=True)
class Pools:
    """Question ids to draw from: public ones, and professional ones per (category, scope)."""

    public: list[int]
    professional: dict[tuple[str, str], list[int]]

    def professional_for(self, category: str, scope: str) -> list[int]:
        return self.professional.get((category, scope), []) + self.professional.get(
            (category, ""), []
        )


async def load_pools() -> Pools:
    rows = await Question.filter(status=QuestionStatus.ACTIVE).values(
        "id", "category", "practice_category", "practice_scope"
    )
    public = [r["id"] for r in rows if r["category"] in PUBLIC]
    professional: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        if r["category"] == QuestionCategory.PROFESSIONAL:
            key = (r["practice_category"], r["practice_scope"])
            professional.setdefault(key, []).append(r["id"])
    return Pools(public, professional)


def draw(pools: Pools, category: str, scope: str, count: int, rng: random.Random) -> list[int]:
    """``count`` question ids (fewer only when the bank has fewer), in random order."""
    public = pools.public
    professional = pools.professional_for(category, scope)
    want_public = min(len(public), round(count * PUBLIC_SHARE))
    want_professional = min(len(professional), count - want_public)
    want_public = min(len(public), count - want_professional)  # public fills a thin scope
    chosen = rng.sample(public, want_public) + rng.sample(professional, want_professional)
    rng.shuffle(chosen)
    return chosen


def shuffled_options(options: list[dict[str, Any]], rng: random.Random) -> dict[str, str]:
    """Fresh option ids for one physician, in shown order: {shown id: question key}."""
    keys = [o["key"] for o in options]
    rng.shuffle(keys)
    ids: dict[str, str] = {}
    for key in keys:
        shown = secrets.token_hex(3)
        while shown in ids:
            shown = secrets.token_hex(3)
        ids[shown] = key
    return ids


async def generate(period: Period, enrollment: Enrollment, pools: Pools | None = None) -> Paper:
    """The physician's paper for the period (the existing one if it was generated before)."""
    existing = await Paper.get_or_none(period_id=period.id, physician_id=enrollment.physician_id)
    if existing is not None:
        return existing
    pools = pools or await load_pools()
    physician = await Physician.get(id=enrollment.physician_id)
    rng = random.Random(secrets.randbits(64))
    ids = draw(
        pools, physician.practice_category, physician.practice_scope, period.question_count, rng
    )
    if not ids:
        raise DomainError("题库中没有可用的试题，请联系考核办公室")
    questions = {q.id: q for q in await Question.filter(id__in=ids)}
    try:
        async with in_transaction():
            paper = await Paper.create(
                period_id=period.id,
                physician_id=physician.id,
                enrollment_id=enrollment.id,
                duration_minutes=period.duration_minutes,
                pass_mark=period.pass_mark,
            )
            await _items(paper, ids, questions, rng)
    except IntegrityError:  # made at the same moment by another request
        return await Paper.get(period_id=period.id, physician_id=physician.id)
    return paper


async def _items(
    paper: Paper, ids: list[int], questions: dict[int, Question], rng: random.Random
) -> None:
    await PaperItem.bulk_create(
        [
            PaperItem(
                paper_id=paper.id,
                question_id=qid,
                position=n,
                option_map=shuffled_options(questions[qid].options, rng),
            )
            for n, qid in enumerate(ids, start=1)
        ]
    )


async def generate_for_period(period: Period) -> int:
    """Papers for every standing general-procedure enrollment that has none. Returns how
    many were made; safe to run again (``xjdk generate-papers`` and the office run it)."""
    pools = await load_pools()
    has_paper = Paper.filter(period_id=period.id).values_list("physician_id", flat=True)
    done = set(await has_paper)
    made = 0
    enrollments = await Enrollment.filter(
        Q(period_id=period.id, is_active=True, procedure=Procedure.GENERAL),
        status__in=STANDING,
    )
    for enrollment in enrollments:
        if enrollment.physician_id in done:
            continue
        await generate(period, enrollment, pools)
        made += 1
    return made


async def discard_unopened(period: Period) -> int:
    """Delete the period's papers that no attempt has opened (their draw followed parameters
    that have changed since); ``generate_for_period`` or the first entry draws them again."""
    opened = Subquery(Attempt.filter(paper__period_id=period.id).values("paper_id"))
    unopened = (
        await Paper.filter(period_id=period.id).exclude(id__in=opened).values_list("id", flat=True)
    )
    for start in range(0, len(unopened), 500):  # IN lists well below SQLite's limit
        chunk = list(unopened[start : start + 500])
        await Paper.filter(id__in=chunk).exclude(id__in=opened).delete()  # items cascade
    return len(unopened)
