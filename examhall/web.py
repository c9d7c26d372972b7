"""The hall's endpoints: the WebSocket, and 【业务水平测评】 leading to the page."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from examhall import protocol
from examhall.hall import Hall, serve
from models.enums import Role
from web.endpoint import current_user, requires
from web.sessions import get_session


def same_origin(ws: WebSocket) -> bool:
    """Browsers always send Origin on a WebSocket: a foreign one is a hijacking attempt.
    Clients that are not browsers (the load-test tool) send none and rely on the cookie."""
    origin = ws.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == ws.headers.get("host")


async def hall_socket(ws: WebSocket) -> None:
    found = current_user(ws)
    if found is None or found.role != Role.PHYSICIAN or found.physician_id is None:
        await ws.close(code=1008)  # before accept: the handshake answers 403
        return
    if not same_origin(ws):
        await ws.close(code=1008)
        return
    hall: Hall = ws.app.state.hall
    # The log-in rides on the heartbeats: renewed with them, and the hall closes when it ends.
    await serve(ws, hall, found.physician_id, (get_session(ws).id, found.account_id))


@requires(Role.PHYSICIAN)
async def test_entry(request: Request) -> Response:
    return RedirectResponse("/examhall/", status_code=303)


routes: list[BaseRoute] = [
    WebSocketRoute(protocol.PATH, hall_socket),
    Route("/physician/test", test_entry),
]
