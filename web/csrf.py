"""CSRF protection for every unsafe request, forms and htmx alike, in one middleware.

The token is an HMAC of the session id, so it changes when the session id rotates at log-in
and needs no storage. Forms send it as ``csrf_token``; htmx sends it in ``X-CSRF-Token``
(set once on <body hx-headers>). The body is read here (within MAX_BODY_BYTES), checked,
and replayed to the endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.sessions import Session

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
FIELD = "csrf_token"
HEADER = "x-csrf-token"

Reject = Callable[[Scope, Receive, Send, int, str], Awaitable[None]]


def csrf_token(secret: str, session: Session) -> str:
    return hmac.new(secret.encode(), f"csrf:{session.id}".encode(), hashlib.sha256).hexdigest()


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def form_token(headers: Headers, body: bytes, max_part: int) -> str | None:
    content_type = headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs(body.decode("latin-1"), keep_blank_values=True).get(FIELD)
        return values[0] if values else None
    if content_type.startswith("multipart/form-data"):

        async def stream():  # type: ignore[no-untyped-def]
            yield body

        try:
            form = await MultiPartParser(headers, stream(), max_part_size=max_part).parse()
        except MultiPartException:
            return None
        value = form.get(FIELD)
        await form.close()
        return value if isinstance(value, str) else None
    return None


class CSRFMiddleware:
    def __init__(self, app: ASGIApp, secret: str, max_body: int, reject: Reject) -> None:
        self.app = app
        self.secret = secret
        self.max_body = max_body
        self.reject = reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != headers.get("host"):
            await self.reject(scope, receive, send, 403, "请求来源不正确，已拒绝。")
            return
        try:
            body = await read_body(receive, self.max_body)
        except BodyTooLarge:
            limit = self.max_body // (1024 * 1024)
            await self.reject(scope, receive, send, 413, f"提交的内容过大（上限 {limit} MB）。")
            return
        expected = csrf_token(self.secret, scope["session_obj"])
        supplied = headers.get(HEADER) or await form_token(headers, body, self.max_body)
        if not supplied or not hmac.compare_digest(supplied, expected):
            await self.reject(
                scope, receive, send, 403, "页面已过期或请求来源无法验证，请刷新页面后重试。"
            )
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
