"""Server-side sessions in Redis.

The cookie carries only a random id. Data lives under ``sess:<id>`` with a TTL that every
request renews, so inactivity really ends a session; logout deletes the key. A visitor who
has no data yet still gets an id (the CSRF token is derived from it) but nothing is stored.

Ending every session of an account (password changed or reset, account disabled) does not
depend on finding them: each session carries the account's ``session_epoch`` from its log-in,
and every request checks it against the account, with the account still active. Raising the
epoch (``Account.raise_epoch``) voids every session made before, however long ago, on every node.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import redis.asyncio as aioredis
from starlette.datastructures import Headers, MutableHeaders, State
from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import logs
from models.org import Account
from web.health import OPS_PATHS

COOKIE = "xjdk_session"
PASSWORD_PAGE = "/account/password"
# What an account with a temporary password may still reach before changing it (static
# files are public and skip the account check).
OPEN_WITH_TEMPORARY_PASSWORD = (PASSWORD_PAGE, "/logout", "/login")
_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _key(session_id: str) -> str:
    return f"sess:{session_id}"


def _account_key(account_id: int) -> str:
    return f"sess:account:{account_id}"


def _valid_id(value: str | None) -> bool:
    return bool(value) and len(value) == 43 and set(value) <= _ID_CHARS  # type: ignore[arg-type]


class Session:
    def __init__(self, session_id: str, data: dict[str, Any], is_new: bool) -> None:
        self.id = session_id
        self.data = data
        self.is_new = is_new
        self.modified = False
        self.rotated_from: str | None = None
        self.ended = False

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.modified = True

    def pop(self, key: str, default: Any = None) -> Any:
        if key in self.data:
            self.modified = True
        return self.data.pop(key, default)

    def flash(self, message: str, kind: str = "success") -> None:
        self.data.setdefault("flash", []).append({"kind": kind, "text": message})
        self.modified = True

    def login(self, values: dict[str, Any]) -> None:
        """Start an authenticated session under a fresh id (no session fixation)."""
        self.rotated_from = self.rotated_from or self.id
        self.id = secrets.token_urlsafe(32)
        self.data = dict(values)
        self.modified = True

    def end(self) -> None:
        self.rotated_from = self.rotated_from or self.id
        self.id = secrets.token_urlsafe(32)
        self.data = {}
        self.ended = True
        self.modified = True


class SessionStore:
    def __init__(self, redis: aioredis.Redis, idle_seconds: int) -> None:
        self.redis = redis
        self.idle_seconds = idle_seconds

    async def load(self, session_id: str) -> dict[str, Any] | None:
        key = _key(session_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(key)
        pipe.expire(key, self.idle_seconds)
        raw, _ = await pipe.execute()
        return json.loads(raw) if raw else None

    async def touch(self, logins: list[tuple[str, int]]) -> set[str]:
        """Keep sessions alive without requests (the exam hall's heartbeats, many at once:
        session id and account id), and their accounts' indexes with them, so that ending an
        account's sessions finds them however long the test lasts. Returns the session ids
        that have ended meanwhile."""
        pipe = self.redis.pipeline(transaction=False)
        for session_id, account_id in logins:
            pipe.expire(_key(session_id), self.idle_seconds)
            pipe.expire(_account_key(account_id), self.idle_seconds * 2)
        results = await pipe.execute()
        return {sid for (sid, _), alive in zip(logins, results[::2], strict=True) if not alive}

    async def save(self, session: Session) -> None:
        pipe = self.redis.pipeline(transaction=True)
        if session.rotated_from:
            pipe.delete(_key(session.rotated_from))
        if session.data:
            pipe.set(_key(session.id), json.dumps(session.data), ex=self.idle_seconds)
            account_id = session.data.get("account_id")
            if account_id:
                pipe.sadd(_account_key(account_id), session.id)
                pipe.expire(_account_key(account_id), self.idle_seconds * 2)
        else:
            pipe.delete(_key(session.id))
        await pipe.execute()

    async def end_all(self, account_id: int, keep: Session | None = None) -> int:
        """End every session of an account but ``keep`` (the caller's own), whatever their
        age. Returns how many were still in Redis."""
        return await self.ended(account_id, await Account.raise_epoch(account_id), keep)

    async def count(self, account_id: int) -> int:
        """How many sessions of the account Redis still knows."""
        return int(await self.redis.scard(_account_key(account_id)))

    async def ended(self, account_id: int, epoch: int, keep: Session | None = None) -> int:
        """After the account's epoch was raised to ``epoch``: delete its sessions that the
        index still knows at once (the epoch check ends any other at its next request) and
        carry ``keep`` over to the new epoch."""
        keep_id = keep.id if keep else None
        ids = await self.redis.smembers(_account_key(account_id))
        doomed = [str(i) for i in ids if i != keep_id]
        pipe = self.redis.pipeline(transaction=True)
        for session_id in doomed:
            pipe.delete(_key(session_id))
        pipe.delete(_account_key(account_id))
        if keep_id:
            pipe.sadd(_account_key(account_id), keep_id)
        await pipe.execute()
        if keep is not None:
            keep.set("epoch", epoch)
        return len(doomed)

    async def forget(self, session_id: str) -> None:
        await self.redis.delete(_key(session_id))


async def account_standing(data: dict[str, Any]) -> tuple[bool, bool]:
    """(the session is still valid, its account must change a temporary password first):
    the account exists, is active and has not raised its epoch since this log-in."""
    row = (
        await Account.filter(id=data["account_id"])
        .first()
        .values("is_active", "session_epoch", "must_change_password")
    )
    if row is None or not row["is_active"] or row["session_epoch"] != data.get("epoch", 0):
        return False, False
    return True, bool(row["must_change_password"])


def _open_with_temporary_password(path: str) -> bool:
    return path.startswith(OPEN_WITH_TEMPORARY_PASSWORD)


def _to_password_page(scope: Scope) -> Response:
    if Headers(scope=scope).get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": PASSWORD_PAGE})
    return RedirectResponse(PASSWORD_PAGE, status_code=303)


class SessionMiddleware:
    """``state.sessions`` (a SessionStore) is set by the lifespan once Redis is open."""

    def __init__(self, app: ASGIApp, state: State, secure: bool) -> None:
        self.app = app
        self.state = state
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["path"] in OPS_PATHS:  # health checks and metrics: no session, no cookie
            scope["session_obj"] = Session(secrets.token_urlsafe(32), {}, is_new=False)
            await self.app(scope, receive, send)
            return
        store: SessionStore = self.state.sessions
        cookie = HTTPConnection(scope).cookies.get(COOKIE)
        data = await store.load(cookie) if cookie and _valid_id(cookie) else None
        must_change = False
        if data is not None and cookie:
            session = Session(cookie, data, is_new=False)
            if "account_id" in data and not scope["path"].startswith("/static/"):
                valid, must_change = await account_standing(data)
                if not valid:  # ended by a password change, a reset, a disabled account
                    await store.forget(cookie)
                    session.end()
                    session.had_cookie = True  # type: ignore[attr-defined]
        else:
            session = Session(
                cookie if cookie and _valid_id(cookie) else secrets.token_urlsafe(32), {}, True
            )
            session.had_cookie = bool(cookie)  # type: ignore[attr-defined]
        scope["session_obj"] = session
        logs.account_id.set(session.data.get("account_id"))  # for this request's log lines
        if scope["type"] == "websocket":
            if must_change:  # not logged in for the exam hall until the password is changed
                session.data = {}
            await self.app(scope, receive, send)
            return
        if must_change and not _open_with_temporary_password(scope["path"]):
            await _to_password_page(scope)(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                if session.modified:
                    await store.save(session)
                if session.is_new or session.rotated_from:
                    headers = MutableHeaders(scope=message)
                    flags = "; Secure" if self.secure else ""
                    headers.append(
                        "Set-Cookie",
                        f"{COOKIE}={session.id}; Path=/; HttpOnly; SameSite=Lax{flags}",
                    )
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def get_session(conn: HTTPConnection) -> Session:
    session: Session = conn.scope["session_obj"]
    return session
