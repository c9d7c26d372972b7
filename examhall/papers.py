"""A paper as the hall shows it to the physician who sits one: the question texts of the
process (``Texts``, shared by every paper), and a paper's sheet (``Sheet``: the item ids, the
options shown, checked against each answer) with its welcome message assembled from prepared
JSON. Drawing papers is a rule: ``rules/papers.py``.
"""

from __future__ import annotations

import bisect
import json
import time
from array import array
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from core.db import as_json, fetch
from models.enums import QuestionType
from models.exam import Question

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
