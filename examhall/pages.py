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
from web.endpoint import render, requires


def page_protocol() -> dict[str, Any]:
    """``protocol.for_page()`` plus the question types with their labels."""
    return {**protocol.for_page(), "question_types": {t.value: t.label for t in QuestionType}}


@requires(Role.PHYSICIAN)
async def hall_page(request: Request) -> Response:
    response = render(request, "examhall/index.html", {"protocol": page_protocol()})
    response.headers["Cache-Control"] = "no-store"
    return response


routes: list[BaseRoute] = [Route("/examhall/", hall_page)]
