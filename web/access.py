"""The outermost middleware: a request id, one access-log line and the HTTP metrics of
every request and hall socket.

The request id is the caller's ``X-Request-ID`` when it is a plain token (nginx sends its
``$request_id``, so a line of nginx's log and ours match), else a new one; it is answered in
``X-Request-ID`` and carried by every log line written while the request runs. The line
and the metrics name the route's template (``/physicians/{physician_id:int}``), never the
raw path or the query string, which may hold an ID number or a reset token.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import logs, metrics
from web.health import OPS_PATHS

log = logging.getLogger("xjdk.access")

REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
HEADER = "X-Request-ID"
UNMATCHED = "(unmatched)"


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    return str(getattr(route, "path", "")) or UNMATCHED


def account_of(scope: Scope) -> int | None:
    session = scope.get("session_obj")
    found = session.data.get("account_id") if session is not None else None
    return int(found) if found else None


class AccessMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-request-id", "")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        token = logs.request_id.set(request_id)
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind in ("http.response.start", "websocket.http.response.start"):
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = request_id
            elif kind == "websocket.accept":
                status = 101
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            elif kind == "websocket.close" and not status:
                status = 403  # closed before accepting: the handshake was refused
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            status = 500  # the error handler outside answers; the id stays for its log line
            self._done(scope, status, started)
            raise
        self._done(scope, status, started)
        logs.request_id.reset(token)

    def _done(self, scope: Scope, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        route = route_of(scope)
        method = scope.get("method", "WS") if scope["type"] == "http" else "WS"
        if scope["type"] == "http":
            metrics.http_request(method, route, status, seconds)
        account = account_of(scope)
        quiet = scope["path"] in OPS_PATHS or route == "/static"
        log.log(
            logging.DEBUG if quiet else logging.INFO,
            "%s %s %s %.1f ms%s",
            method,
            route,
            status,
            seconds * 1000,
            f" account={account}" if account else "",
            extra={
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "account_id": account,
            },
        )
