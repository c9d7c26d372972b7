"""Heartbeats, grouped: a sitting's heartbeat costs a dict entry; once a second the node
writes all of them in one Redis round trip (the live hash's last heartbeat, the live set) and
renews the log-ins they belong to in another, which also says which log-ins have ended."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from examhall.live import Live

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0

Login = tuple[str, int]  # the portal session id and its account id
Touch = Callable[[list[Login]], Awaitable[set[str]]]  # renews; answers the ended session ids
Ended = Callable[[list[int]], Awaitable[None]]  # the attempts whose log-in has ended


class Beats:
    def __init__(self, live: Live, touch: Touch | None, ended: Ended) -> None:
        self.live = live
        self.touch = touch
        self.ended = ended
        self._pending: dict[int, Login | None] = {}
        self._task: asyncio.Task[None] | None = None

    def beat(self, attempt_id: int, login: Login | None) -> None:
        self._pending[attempt_id] = login

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="heartbeats")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis away: the next beats will do
                log.warning("heartbeats not written", exc_info=True)

    async def flush(self) -> None:
        batch, self._pending = self._pending, {}
        if not batch:
            return
        await self.live.beat(list(batch), time.time())
        logins = {attempt: login for attempt, login in batch.items() if login is not None}
        if self.touch is None or not logins:
            return
        gone = await self.touch(list(logins.values()))
        if gone:
            await self.ended([a for a, login in logins.items() if login[0] in gone])
