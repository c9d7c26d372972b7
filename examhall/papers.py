"""Papers: drawn per physician ahead of the window, and shown to the physician who sits one.

A paper has the period's number of questions: public knowledge (laws, ethics, humanities)
and professional questions of the physician's practice category and scope. The order of the
questions, the order of each question's options and the option ids all differ per
physician: ``PaperItem.option_map`` maps the ids shown to this physician to the question's
own option keys, so the answer key never needs to reach the browser.
"""

from __future__ import annotations

import bisect
import json
import random
import secrets
import time
from array import array
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from core.db import as_json, fetch
from core.errors import DomainError
from models.enums import (
    EnrollmentStatus,
    Procedure,
    QuestionCategory,
    QuestionStatus,
    QuestionType,
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


TEXT_TTL = 300.0  # seconds a question's text is reused before it is read again
ITEMS = (
    "SELECT id, position, question_id, option_map FROM paper_item WHERE paper_id = ? "
    "ORDER BY position"
)


def _json(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Text:
    """A question as every paper shows it, its strings JSON-encoded once."""

    type: str
    stem: str
    options: dict[str, str]  # option key -> JSON-encoded text
    answer: list[str]  # the keys of the right options, sorted: stays on the server


class Texts:
    """The question texts of a process: a bank has hundreds of questions and thousands of
    papers show them, each in its own order with its own option ids. A question on a paper
    keeps its answer, type and options (题库管理 refuses those edits), but its wording may be
    corrected: a text is read again when it is older than ``TEXT_TTL`` seconds."""

    def __init__(self) -> None:
        self._texts: dict[int, Text] = {}
        self._read: dict[int, float] = {}

    async def ensure(self, ids: Iterable[int]) -> None:
        now = time.monotonic()
        missing = {i for i in ids if now - self._read.get(i, -TEXT_TTL) >= TEXT_TTL}
        if not missing:
            return
        rows = await Question.filter(id__in=missing).values_list(
            "id", "type", "stem", "options", "answer"
        )
        for qid, kind, stem, options, answer in rows:
            texts = {o["key"]: _json(o["text"]) for o in options}
            kind = str(getattr(kind, "value", kind))
            self._texts[qid] = Text(kind, _json(stem), texts, sorted(answer))
            self._read[qid] = now

    def __getitem__(self, question_id: int) -> Text:
        return self._texts[question_id]

    async def keys(self, question_ids: Collection[int]) -> dict[int, list[str]]:
        """The answer keys of these questions (rules.exam.AnswerKeys), from the cache."""
        await self.ensure(question_ids)
        return {qid: self._texts[qid].answer for qid in question_ids}


@dataclass(slots=True)
class Sheet:
    """What a sitting keeps of its paper to check an answer, in a few KB (not its texts):
    the item ids (sorted, with their position index), each item's kind and option ids."""

    ids: array[int]  # item ids, sorted
    order: array[int]  # for each of ``ids``, its index in position order
    kinds: bytes  # per position: b"m" multiple choice, b"s" one answer
    options: bytes  # the option ids of every item, 3 bytes each, in position order
    offsets: array[int]  # where each position's options start in ``options`` (and the end)

    def __len__(self) -> int:
        return len(self.ids)

    def problem(self, item_id: int, choice: list[str]) -> str:
        """Why an answer does not fit the paper ("" when it does)."""
        at = bisect.bisect_left(self.ids, item_id)
        if at == len(self.ids) or self.ids[at] != item_id:
            return "答案与试题不符"
        n = self.order[at]
        allowed = self.options[self.offsets[n] : self.offsets[n + 1]]
        for shown in choice:
            if len(shown) != 6 or not all(c in "0123456789abcdef" for c in shown):
                return "答案与试题不符"
            raw = bytes.fromhex(shown)
            if not any(allowed[k : k + 3] == raw for k in range(0, len(allowed), 3)):
                return "答案与试题不符"
        if len(set(choice)) != len(choice):
            return "答案与试题不符"
        if self.kinds[n : n + 1] != b"m" and len(choice) > 1:
            return "本题只能选择一个选项"
        return ""


async def load_paper(paper_id: int, texts: Texts) -> tuple[Sheet, str]:
    """The sheet a sitting keeps, and the ``paper`` message (protocol.PAPER) as the page
    receives it: this physician's order and option ids over the shared texts, never the
    answer key. One query, no model objects."""
    rows = [
        (r["id"], r["position"], r["question_id"], as_json(r["option_map"]))
        for r in await fetch(ITEMS, paper_id)
    ]
    await texts.ensure(r[2] for r in rows)
    parts, kinds, options, offsets = [], bytearray(), bytearray(), array("l", [0])
    for item_id, position, question_id, option_map in rows:
        text = texts[question_id]
        shown = ",".join(
            f'{{"id":"{oid}","text":{text.options[key]}}}' for oid, key in option_map.items()
        )
        parts.append(
            f'{{"id":{item_id},"position":{position},"type":"{text.type}",'
            f'"stem":{text.stem},"options":[{shown}]}}'
        )
        kinds += b"m" if text.type == QuestionType.MULTIPLE else b"s"
        for oid in option_map:
            options += bytes.fromhex(oid)
        offsets.append(len(options))
    by_id = sorted(range(len(rows)), key=lambda n: rows[n][0])
    sheet = Sheet(
        ids=array("q", (rows[n][0] for n in by_id)),
        order=array("l", by_id),
        kinds=bytes(kinds),
        options=bytes(options),
        offsets=offsets,
    )
    return sheet, '{"type":"paper","items":[' + ",".join(parts) + "]}"
