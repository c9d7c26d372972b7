"""The exam hall page (``/examhall/``): rules, camera, and the script that talks to the hall."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from examhall import protocol
from models.enums import Role
from portal.web import render, requires


@requires(Role.PHYSICIAN)
async def hall_page(request: Request) -> Response:
    return render(request, "examhall/index.html", {"protocol": protocol.for_page()})


routes: list[BaseRoute] = [Route("/examhall/", hall_page)]
