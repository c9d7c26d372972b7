"""A physician ready to sit the test, and the steps every hall test takes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette

from examhall import protocol as p
from examhall.client import HallClient
from face import samples
from models.enums import OrgKind, Phase, QuestionCategory, QuestionType
from models.exam import PaperItem, Question
from models.period import Period
from models.physician import Physician
from tests import factories
from tests.helpers import login
from web.sessions import COOKIE


async def question_bank() -> None:
    """A small bank: public questions and 临床/内科专业 ones, of every type."""
    if await Question.exists():
        return
    two = [{"key": "A", "text": "正确"}, {"key": "B", "text": "错误"}]
    four = [{"key": k, "text": f"选项{k}"} for k in "ABCD"]
    rows: list[tuple[QuestionType, QuestionCategory, str, str, list[Any], list[str]]] = [
        *[(QuestionType.SINGLE, QuestionCategory.LAW, "", "", four, ["B"])] * 6,
        *[
            (
                QuestionType.MULTIPLE,
                QuestionCategory.PROFESSIONAL,
                "临床",
                "内科专业",
                four,
                ["A", "C"],
            )
        ]
        * 6,
        *[(QuestionType.JUDGE, QuestionCategory.PROFESSIONAL, "临床", "", two, ["A"])] * 4,
    ]
    for n, (kind, category, practice, scope, options, answer) in enumerate(rows):
        await Question.create(
            type=kind,
            # Markup in a stem must show as text: pages never parse data as HTML.
            stem=f"{category.label}{kind.label}{n} <b>不是标签</b>",
            options=options,
            answer=answer,
            category=category,
            practice_category=practice,
            practice_scope=scope,
            fingerprint=f"hall-{n}",
        )


@dataclass
class Sitter:
    physician: Physician
    session: str  # the session cookie's value
    period: Period

    @property
    def cookie(self) -> str:
        """The Cookie header of the physician's log-in."""
        return f"{COOKIE}={self.session}"


async def sitter(app: Starlette, client: httpx.AsyncClient) -> Sitter:
    """A physician enrolled (general procedure) in a period whose test window is open, with
    the clip's frontal frame as the registered photo (face/samples.py), logged in."""
    await question_bank()
    period = await factories.period()
    await Period.filter(id=period.id).update(question_count=10, duration_minutes=30)
    await factories.open_window(period, Phase.TEST)
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    await app.state.face.store_photo(doc, samples.registration_photo())
    await factories.enrollment(period, doc)
    client.cookies.clear()
    assert (await login(client, doc.id_number)).status_code == 303
    return Sitter(doc, client.cookies[COOKIE], await Period.get(id=period.id))


async def key_of(item: dict[str, Any]) -> list[str]:
    """The right option ids of a paper item, as this physician's page shows them."""
    row = await PaperItem.get(id=item["id"]).select_related("question")
    return sorted(shown for shown, key in row.option_map.items() if key in row.question.answer)


def live(hall: HallClient, n: int = 0) -> list[bytes]:
    """The ``n``-th distinct burst of the clip that shows what the pending challenge asks
    (a check of an attempt may not show the frames of an earlier one: use 0, 1, 2)."""
    assert hall.challenge is not None, "no challenge pending"
    codes = [a["code"] for a in hall.challenge["actions"]]
    frames = samples.burst_for(codes, n)
    assert frames is not None, f"the clip cannot show {codes}"
    return frames


def opposite(hall: HallClient) -> list[bytes]:
    """A real burst that shows the other turn than the one asked."""
    assert hall.challenge is not None
    code = hall.challenge["actions"][0]["code"]
    other = "turn_right" if code == "turn_left" else "turn_left"
    frames = samples.burst_for([other], 2)
    assert frames is not None
    return frames


async def start(hall: HallClient) -> dict[str, Any]:
    """Connect and pass the start check: the paper is there and the clock runs."""
    welcome = await hall.connect()
    assert welcome["check"] == p.START and welcome["state"] == p.WAITING
    await hall.expect(p.CHECK, stage=p.START)
    await asyncio.sleep(hall.challenge["seconds"] if hall.challenge else 0)  # filming
    await hall.burst(live(hall, 0))
    result = await hall.expect(p.CHECK_RESULT)
    assert result["passed"], result
    await hall.expect(p.PAPER)
    await hall.expect(p.STATE, state=p.TESTING)
    return welcome


async def recheck(app: Starlette, attempt_id: int) -> None:
    """What a proctor's action does: the node holding the socket re-reads the attempt."""
    hall = app.state.hall
    await hall.live.tell(hall.node, {"op": "recheck", "attempt": attempt_id})
