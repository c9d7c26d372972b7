"""The hall of one web process: its sittings (examhall/sitting.py), admission, the sweeper
that finishes abandoned attempts, and the channel through which other nodes and proctors
reach the sittings it holds.

Admission: at most ``EXAM_ENTRY_LIMIT`` physicians are entering (handshake to welcome) at
once on a process; the others wait in a short line (up to ``EXAM_ENTRY_WAIT_SECONDS``)
instead of being refused at once, and only a line that does not move is refused with 503 and
Retry-After, which the page follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response
from starlette.websockets import WebSocket

from core import metrics
from core.settings import Settings
from examhall import papers
from examhall import protocol as p
from examhall.beats import Beats, Login, Touch
from examhall.checks import FaceChecks
from examhall.live import Live
from examhall.seat import Refused, find_seat
from examhall.sitting import Sitting
from examhall.writes import Writes
from face.client import FaceService
from rules import exam

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 3
SWEEP_SECONDS = 30


class Hall:
    """One per web process."""

    def __init__(
        self, settings: Settings, redis: Any, face: FaceService, touch: Touch | None = None
    ) -> None:
        self.settings = settings
        self.node = uuid.uuid4().hex
        self.live = Live(redis, self.node)
        self.writes = Writes(self.live)
        self.beats = Beats(self.live, touch, self._logged_out)
        self.checks = FaceChecks(face)
        self.texts = papers.Texts()
        self.sittings: dict[int, Sitting] = {}
        self.entry = asyncio.Semaphore(settings.exam_entry_limit)
        self.entering = 0  # handshakes between admission and welcome
        self.queued = 0  # handshakes waiting for admission
        self.refused = 0  # handshakes refused with 503 since start
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.live.listen(self._control)
        self.beats.start()
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for sitting in list(self.sittings.values()):
            await sitting.close(p.BUSY, "服务器正在重启，请稍候自动重连")
        await self.beats.close()
        await self.writes.flush()
        await self.live.close()

    def event(self, attempt_id: int, kind: str, **detail: Any) -> None:
        """A timeline event: stored (the proctor's timeline) and fed to the live monitor,
        written behind (examhall/writes.py)."""
        self.writes.event(attempt_id, kind, detail)

    async def _control(self, message: dict[str, Any]) -> None:
        sitting = self.sittings.get(int(message.get("attempt", 0)))
        if sitting is None:
            return
        op = message.get("op")
        if op == "takeover" and message.get("conn") == sitting.conn:
            await sitting.close(p.TAKEN_OVER, "本场考试已在另一个页面或设备上打开，此页面已断开")
        elif op == "notice":
            text = str(message.get("text", ""))[:500]
            await sitting.send(p.Notice(type=p.NOTICE, text=text))
        elif op == "end":
            await sitting.ended(str(message.get("reason", "")))
        elif op == "recheck":
            await sitting.recheck()

    async def _logged_out(self, attempt_ids: list[int]) -> None:
        for attempt_id in attempt_ids:
            sitting = self.sittings.get(attempt_id)
            if sitting is not None:
                await sitting.close(
                    p.LOGGED_OUT, "登录已失效（密码已修改或账号已停用），请重新登录"
                )

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep(datetime.now(UTC))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sweeping overdue attempts failed")
            await asyncio.sleep(SWEEP_SECONDS)

    async def sweep(self, now: datetime) -> int:
        """Attempts whose grace period is over with nobody connected to finish them:
        graded and flagged as unverified. Any node may run this; one update wins."""
        done = 0
        for attempt_id, paper_id, pass_mark in await exam.overdue(
            now, self.settings.exam_grace_seconds
        ):
            if attempt_id in self.sittings:
                continue
            done += bool(await self.finalise(attempt_id, paper_id, pass_mark, verified=False))
        return done

    async def finalise(
        self, attempt_id: int, paper_id: int, pass_mark: int, verified: bool
    ) -> exam.Grade | None:
        """Grade and submit once (rules/exam.py), with the process's answer keys; the
        timeline and the monitor hear of it."""
        grade = await exam.finalise(attempt_id, paper_id, pass_mark, verified, self.texts.keys)
        if grade is None:
            return None
        self.event(attempt_id, "submitted", score=grade.score, verified=verified)
        if not verified:
            self.event(attempt_id, "flagged", reason="unverified")
        return grade


async def serve(ws: WebSocket, hall: Hall, physician_id: int, login: Login | None = None) -> None:
    """The endpoint's body once the physician is known: admit, find the seat, sit."""
    settings = hall.settings
    if hall.queued >= settings.exam_entry_limit * 4 or not await _admitted(hall):
        hall.refused += 1
        metrics.hall_refused()
        busy = Response(
            "考场入场人数较多，请稍候自动重试",
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            media_type="text/plain; charset=utf-8",
        )
        await ws.send_denial_response(busy)
        return
    hall.entering += 1
    entered = False

    def done_entering() -> None:
        nonlocal entered
        if not entered:
            entered = True
            hall.entering -= 1
            hall.entry.release()

    try:
        await _serve(ws, hall, physician_id, login, done_entering)
    finally:
        done_entering()


async def _admitted(hall: Hall) -> bool:
    """A slot among those entering, waiting a little for one (a short line moves fast)."""
    hall.queued += 1
    try:
        await asyncio.wait_for(hall.entry.acquire(), hall.settings.exam_entry_wait_seconds)
    except TimeoutError:
        return False
    finally:
        hall.queued -= 1
    return True


async def _serve(
    ws: WebSocket,
    hall: Hall,
    physician_id: int,
    login: Login | None,
    entered: Callable[[], None],
) -> None:
    try:
        seat = await find_seat(physician_id, datetime.now(UTC))
    except Refused as exc:
        await ws.accept()
        await ws.send_text(p.encode(p.Bye(type=p.BYE, code=exc.code, message=exc.message)))
        await ws.close(code=4003)
        return
    except Exception as exc:  # e.g. no questions in the bank
        log.exception("no seat for physician %s", physician_id)
        await ws.accept()
        message = getattr(exc, "message", "暂时无法进入考场，请稍后重试")
        await ws.send_text(p.encode(p.Bye(type=p.BYE, code=p.BUSY, message=message)))
        await ws.close(code=4003)
        return
    await ws.accept()
    await Sitting(hall, ws, seat, login, entered).run()
