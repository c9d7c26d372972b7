"""The exam hall page (``/examhall/``): rules, camera, and the script that talks to the hall.

The page's script (``static/js/examhall.js``) reads every protocol name from the JSON rendered
into the page, so the protocol is defined once, in ``examhall.protocol``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from examhall import protocol
from models.enums import QuestionType, Role
from portal.web import render, requires

STATE_NAMES = ("WAITING", "TESTING", "CHECKING", "FINISHING", "SUBMITTED", "ENDED")
CODE_NAMES = (
    "BAD_MESSAGE",
    "TOO_FAST",
    "PAUSED",
    "LOCKED",
    "NOT_STARTED",
    "NO_CHECK",
    "BUSY",
    "TAKEN_OVER",
    "NOT_OPEN",
    "NOT_ELIGIBLE",
    "DONE",
    "ENDED_BY_PROCTOR",
)
# After a bye with one of these the page stays closed: reconnecting cannot help.
FINAL_BYES = (
    protocol.TAKEN_OVER,
    protocol.DONE,
    protocol.ENDED_BY_PROCTOR,
    protocol.NOT_OPEN,
    protocol.NOT_ELIGIBLE,
)


def page_protocol() -> dict[str, Any]:
    """``protocol.for_page()`` plus what the page also reacts to: the states and codes by
    name, the bye codes that end the page, and the question types with their labels."""
    return {
        **protocol.for_page(),
        "state": {name.lower(): getattr(protocol, name) for name in STATE_NAMES},
        "codes": {name.lower(): getattr(protocol, name) for name in CODE_NAMES},
        "final_byes": list(FINAL_BYES),
        "question_types": {t.value: t.label for t in QuestionType},
    }


@requires(Role.PHYSICIAN)
async def hall_page(request: Request) -> Response:
    response = render(request, "examhall/index.html", {"protocol": page_protocol()})
    response.headers["Cache-Control"] = "no-store"
    return response


routes: list[BaseRoute] = [Route("/examhall/", hall_page)]
