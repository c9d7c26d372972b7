"""One connected page of one attempt: a ``Sitting``, run by the WebSocket endpoint.

The database is the authority. A sitting derives its state (examhall/state.py) from the
attempt and its face checks when it starts, so a page that reconnects (to any node) resumes
where it was: every acknowledged answer, the same deadline, the same pending check. Between
statements it keeps plain data only: the seat (examhall/seat.py), the attempt's facts, its
checks, and a sheet of a few KB to check answers against (examhall/papers.py); answers are
committed in groups and timeline events written behind (examhall/writes.py), heartbeats
written once a second for the whole node (examhall/beats.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from core.db import as_json, fetch
from examhall import messages, papers, timer
from examhall import protocol as p
from examhall.beats import Login
from examhall.seat import Seat
from examhall.state import Checks, derive
from face.challenge import Challenge, new_challenge
from models.enums import FaceReason, FaceStage
from rules import exam

if TYPE_CHECKING:
    from examhall.hall import Hall

STAGES = {p.START: FaceStage.START, p.RANDOM: FaceStage.RANDOM, p.FINAL: FaceStage.SUBMIT}
RATE = 20.0  # messages per second a client may send on average
BURST = 60.0
NO_PHOTO_MESSAGE = (
    "您还没有注册照片，无法进行人脸识别（本次不计入验证次数）。请联系所在执业机构，"
    "在【考核信息查看】中为您【更换照片】后再进入考场。"
)
ASKS = {
    p.START: "开考前人脸识别：请正对摄像头，保持光线充足",
    p.RANDOM: "随机人脸识别：答题已暂停，请正对摄像头完成验证",
    p.FINAL: "交卷前人脸识别：验证通过后试卷方可提交",
}
ANSWERS = "SELECT item_id, choice, seq FROM answer WHERE attempt_id = ?"
CHECKS = "SELECT stage, passed, approved_by_id FROM face_check WHERE attempt_id = ?"


class Sitting:
    """One connected page of one attempt."""

    __slots__ = (
        "_last",
        "_paper_z",
        "_send_lock",
        "_tokens",
        "attempt",
        "challenge",
        "checks",
        "closed",
        "conn",
        "entered",
        "hall",
        "login",
        "pending",
        "seat",
        "sheet",
        "state",
        "verifying",
        "wake",
        "ws",
    )

    def __init__(
        self,
        hall: Hall,
        ws: WebSocket,
        seat: Seat,
        login: Login | None = None,
        entered: Callable[[], None] | None = None,
    ) -> None:
        self.hall = hall
        self.login = login
        self.entered = entered
        self.ws = ws
        self.seat = seat
        self.attempt = seat.attempt
        self.conn = uuid.uuid4().hex
        self.state = p.WAITING
        self.pending: str | None = None  # the face check waited for
        self.challenge: Challenge | None = None  # what the pending check asks this try
        self.checks = Checks()
        self.verifying = False
        self.sheet: papers.Sheet | None = None
        self._paper_z = b""  # the paper message, compressed, while waiting for the start
        self.closed = False
        self._send_lock = asyncio.Lock()
        self.wake = asyncio.Event()  # the timer looks again (examhall/timer.py)
        self._tokens = BURST
        self._last = time.monotonic()

    # --- sending ----------------------------------------------------------------

    async def send(self, message: p.ServerMessage) -> None:
        await self.send_text(p.encode(message))

    async def send_text(self, text: str) -> None:
        if self.closed or self.ws.application_state != WebSocketState.CONNECTED:
            return
        async with self._send_lock:
            with contextlib.suppress(Exception):  # the socket went away: the reader notices
                await self.ws.send_text(text)

    async def close(self, code: str, message: str) -> None:
        if self.closed:
            return
        await self.send(p.Bye(type=p.BYE, code=code, message=message))
        self.closed = True
        self.wake.set()
        with contextlib.suppress(Exception):
            await self.ws.close(code=1000 if code == p.DONE else 4000)

    # --- time ---------------------------------------------------------------------

    def remaining(self, now: datetime | None = None) -> float:
        deadline = self.attempt.deadline
        if deadline is None:
            return self.seat.duration_minutes * 60.0
        now = now or datetime.now(UTC)
        return max(0.0, round((deadline - now).total_seconds(), 1))

    def opens_in(self, now: datetime | None = None) -> float:
        now = now or datetime.now(UTC)
        return max(0.0, round((self.seat.window.starts_at - now).total_seconds(), 1))

    def grace_over(self, now: datetime) -> bool:
        deadline = self.attempt.deadline
        grace = timedelta(seconds=self.hall.settings.exam_grace_seconds)
        return deadline is not None and now >= deadline + grace

    def tries_left(self) -> int:
        return self.checks.tries_left(self.pending, self.seat.window.face_retries)

    # --- the life of a sitting --------------------------------------------------------

    async def run(self) -> None:
        attempt, seat, hall = self.attempt, self.seat, self.hall
        info = {
            "physician": seat.physician_id,
            "name": seat.name,
            "institution_id": seat.institution_id,
            "institution": seat.institution,
            "prefecture_id": seat.prefecture_id,
            "period": seat.window.period_id,
        }
        old_node, old_conn = await hall.live.claim(attempt.id, self.conn, info)
        if old_conn and old_conn != self.conn:
            await hall.live.tell(
                old_node, {"op": "takeover", "attempt": attempt.id, "conn": old_conn}
            )
            previous = hall.sittings.get(attempt.id)
            if previous is not None:
                await previous.close(
                    p.TAKEN_OVER, "本场考试已在另一个页面或设备上打开，此页面已断开"
                )
        hall.sittings[attempt.id] = self
        hall.event(attempt.id, "connected", node=hall.node)
        ticking: asyncio.Task[None] | None = None
        try:
            await self._welcome()
            if self.entered is not None:
                self.entered()  # admitted: the next physician may enter
            # The timer starts from the state the welcome derived (the random check's
            # moment, the deadline), not from the state a fresh sitting starts with.
            ticking = asyncio.create_task(timer.run(self))
            while not self.closed:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if not self._allow():
                    refused = "frame" if message.get("bytes") is not None else "text"
                    if message.get("text"):
                        with contextlib.suppress(p.ProtocolError):
                            refused = p.decode(message["text"])["type"]
                    await self.send(
                        p.Error(
                            type=p.ERROR,
                            code=p.TOO_FAST,
                            message="操作过于频繁，请稍候",
                            refused=refused,
                        )
                    )
                    continue
                if message.get("bytes") is not None:
                    await hall.checks.burst(self, message["bytes"])
                elif message.get("text") is not None:
                    await messages.text(self, message["text"])
        except WebSocketDisconnect:
            pass
        finally:
            self.closed = True
            if ticking is not None:
                ticking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticking
            if hall.sittings.get(attempt.id) is self:
                del hall.sittings[attempt.id]
            with contextlib.suppress(Exception):
                if await hall.live.release(attempt.id, self.conn):
                    hall.event(attempt.id, "disconnected")

    def _allow(self) -> bool:
        now = time.monotonic()
        self._tokens = min(BURST, self._tokens + (now - self._last) * RATE)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    async def _welcome(self) -> None:
        attempt = self.attempt
        answers: dict[str, p.StoredAnswer] = {
            str(row["item_id"]): {"choice": as_json(row["choice"]), "seq": row["seq"]}
            for row in await fetch(ANSWERS, attempt.id)
        }
        await self.reload_checks()
        self.sheet, paper = await papers.load_paper(self.seat.paper_id, self.hall.texts)
        now = datetime.now(UTC)
        self.state, self.pending = derive(attempt, self.checks.passed, now)
        if self.state == p.WAITING and self.pending is None and now >= self.seat.window.starts_at:
            await self.begin(now)
        await self.send(
            p.Welcome(
                type=p.WELCOME,
                v=p.VERSION,
                attempt=attempt.id,
                state=self.state,
                remaining=self.remaining(),
                opens_in=self.opens_in(),
                answers=answers,
                check=self.pending,
                tries_left=self.tries_left(),
                question_count=len(self.sheet),
                duration=self.seat.duration_minutes * 60,
                pass_mark=self.seat.pass_mark,
                photo=self.seat.has_photo,
            )
        )
        if self.state in (p.SUBMITTED, p.ENDED):
            await self.finished_message()
            return
        if attempt.started_at is not None:
            await self.send_text(paper)
        else:  # kept, small, until the start (it would be read again by every waiting page)
            self._paper_z = zlib.compress(paper.encode(), 1)
        if self.pending:
            await self.ask(self.pending)
        await self.hall.live.update(attempt.id, state=self.state, stage=self.pending or "")

    async def reload_checks(self) -> None:
        rows = await fetch(CHECKS, self.attempt.id)
        self.checks = Checks.of((r["stage"], bool(r["passed"]), r["approved_by_id"]) for r in rows)

    async def finished_message(self) -> None:
        if self.state == p.SUBMITTED and self.attempt.score is not None:
            await self.send(
                p.Result(
                    type=p.RESULT,
                    score=self.attempt.score,
                    passed=bool(self.attempt.passed),
                    pass_mark=self.seat.pass_mark,
                )
            )
            await self.close(p.DONE, "试卷已提交")
        else:
            await self.close(p.ENDED_BY_PROCTOR, self.attempt.ended_reason or "本次测评已终止")

    async def begin(self, now: datetime) -> None:
        """Start the clock (rules/exam.py: the deadline, the moment of the random check)."""
        seat = self.seat
        deadline = await exam.start(
            self.attempt.id, now, seat.duration_minutes, seat.window.ends_at
        )
        await self.attempt.refresh()
        if deadline is not None:
            self.hall.event(self.attempt.id, "started", deadline=deadline.isoformat())
        self.state, self.pending = p.TESTING, None

    async def send_paper(self) -> None:
        if self._paper_z:
            paper, self._paper_z = zlib.decompress(self._paper_z).decode(), b""
        else:
            self.sheet, paper = await papers.load_paper(self.seat.paper_id, self.hall.texts)
        await self.send_text(paper)

    async def ask(self, stage: str) -> None:
        challenge = self.new_challenge()
        self.hall.event(self.attempt.id, "check_asked", stage=stage, actions=challenge.codes)
        await self.send(
            p.Check(
                type=p.CHECK,
                stage=stage,
                message=ASKS[stage],
                tries_left=self.tries_left(),
                challenge=challenge.for_page(),
            )
        )

    def new_challenge(self) -> Challenge:
        settings = self.hall.settings
        self.challenge = new_challenge(
            settings.face_action_pool, settings.face_burst_frames, settings.face_burst_seconds
        )
        return self.challenge

    async def clock(self, now: datetime | None = None, message: str = "") -> None:
        """The state and the server's clock (sent on changes and every 30 s)."""
        now = now or datetime.now(UTC)
        await self.send(
            p.State(
                type=p.STATE,
                state=self.state,
                remaining=self.remaining(now),
                opens_in=self.opens_in(now),
                message=message,
            )
        )

    async def announce(self, message: str = "") -> None:
        await self.clock(message=message)
        await self.hall.live.update(self.attempt.id, state=self.state, stage=self.pending or "")

    async def recheck(self) -> None:
        """Re-read the attempt and its checks (a proctor approved a check or changed
        something)."""
        await self.attempt.refresh()
        await self.reload_checks()
        if self.pending == p.FINAL and p.FINAL in self.checks.passed:
            await self.passed(p.FINAL)  # the submit check was passed by a proctor's hand
            return
        before = (self.state, self.pending)
        now = datetime.now(UTC)
        self.state, self.pending = derive(self.attempt, self.checks.passed, now)
        if self.state == p.WAITING and self.pending is None and now >= self.seat.window.starts_at:
            await self.begin(now)
        if self.state in (p.SUBMITTED, p.ENDED):
            await self.finished_message()
            return
        if self.attempt.started_at is not None and before[0] == p.WAITING:
            await self.send_paper()
        if (self.state, self.pending) != before:
            await self.announce()
            if self.pending:
                await self.ask(self.pending)
        self.wake.set()

    async def ended(self, reason: str) -> None:
        await self.attempt.refresh()
        await self.close(p.ENDED_BY_PROCTOR, reason or "监考人员已终止本次测评")

    # --- after a face check ---------------------------------------------------------

    def checked(self, stage: str, passed: bool, reason: FaceReason | str) -> None:
        """A face check was recorded: keep the counts in step with the database."""
        if passed:
            self.checks.passed.add(stage)
        elif reason not in (p.BUSY, p.NO_REFERENCE, p.LIMIT):
            self.checks.failed[stage] = self.checks.failed.get(stage, 0) + 1

    async def passed(self, stage: str) -> None:
        now = datetime.now(UTC)
        if stage == p.START:
            self.pending = None
            if now >= self.seat.window.starts_at:
                await self.begin(now)
                await self.send_paper()
                await self.announce("考试开始")
            else:
                await self.announce("验证通过，请在候考室等待开考，开考后自动显示试题")
        elif stage == p.RANDOM:
            self.pending = None
            self.state = p.TESTING
            await self.announce("验证通过，请继续答题")
        elif stage == p.FINAL:
            await self.hall.finalise(
                self.attempt.id, self.seat.paper_id, self.seat.pass_mark, verified=True
            )  # once
            await self.attempt.refresh()
            self.state, self.pending = derive(self.attempt, self.checks.passed, now)
            await self.finished_message()
        self.wake.set()

    async def flag(self, reason: str, cause: str, stage: str = "") -> None:
        """Flag the attempt for proctors (rules/exam.py), the monitor and the timeline."""
        joined = await exam.flag(self.attempt.id, reason)
        self.attempt.flagged, self.attempt.flag_reason = True, joined
        await self.hall.live.update(self.attempt.id, flagged=1)
        self.hall.event(self.attempt.id, "flagged", cause=cause, stage=stage, reason=reason)

    async def give_back(self, seconds: float) -> None:
        """Time spent waiting for the verifier is added to the deadline."""
        if seconds <= 0 or self.attempt.deadline is None:
            return
        await exam.give_back(self.attempt.id, self.attempt.deadline, seconds)
        await self.attempt.refresh()
