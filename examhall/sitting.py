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
import logging
import random
import time
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from tortoise.expressions import F

from core import metrics
from core.db import as_json, fetch
from examhall import papers
from examhall import protocol as p
from examhall.beats import Login
from examhall.seat import Seat
from examhall.state import Checks, derive
from face.challenge import Challenge, new_challenge
from models.enums import AttemptStatus, FaceReason, FaceStage
from models.exam import Attempt

if TYPE_CHECKING:
    from examhall.hall import Hall

log = logging.getLogger(__name__)

STAGES = {p.START: FaceStage.START, p.RANDOM: FaceStage.RANDOM, p.FINAL: FaceStage.SUBMIT}
RANDOM_BETWEEN = (0.2, 0.8)  # of the duration
RANDOM_RESPONSE = timedelta(minutes=3)  # a random check still pending after this is flagged
HIDDEN_FLAG_AT = 5  # leaving the page this many times flags the attempt
TIME_PUSH_SECONDS = 30.0  # the remaining time is re-sent this often
START_SPREAD_SECONDS = 3.0  # waiting pages begin within this much after the window opens
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
REFUSALS = {
    p.WAITING: (p.NOT_STARTED, "考试尚未开始"),
    p.CHECKING: (p.PAUSED, "请先完成随机人脸识别，再继续答题"),
    p.FINISHING: (p.LOCKED, "答题已锁定"),
    p.SUBMITTED: (p.LOCKED, "试卷已提交"),
    p.ENDED: (p.LOCKED, "本次测评已终止"),
}


class Sitting:
    """One connected page of one attempt."""

    __slots__ = (
        "_last",
        "_paper_z",
        "_send_lock",
        "_tokens",
        "_wake",
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
        self._wake = asyncio.Event()
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
        self._wake.set()
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
        timer: asyncio.Task[None] | None = None
        try:
            await self._welcome()
            if self.entered is not None:
                self.entered()  # admitted: the next physician may enter
            # The timer starts from the state the welcome derived (the random check's
            # moment, the deadline), not from the state a fresh sitting starts with.
            timer = asyncio.create_task(self._timer())
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
                    await self._text(message["text"])
        except WebSocketDisconnect:
            pass
        finally:
            self.closed = True
            if timer is not None:
                timer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await timer
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
            await self._begin(now)
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

    async def _begin(self, now: datetime) -> None:
        """Start the clock: the deadline, and the moment of the random check."""
        duration = timedelta(minutes=self.seat.duration_minutes)
        deadline = min(now + duration, self.seat.window.ends_at)
        random_at = now + (deadline - now) * random.uniform(*RANDOM_BETWEEN)
        changed = await Attempt.filter(id=self.attempt.id, started_at__isnull=True).update(
            status=AttemptStatus.IN_PROGRESS,
            started_at=now,
            deadline=deadline,
            random_check_at=random_at,
        )
        await self.attempt.refresh()
        if changed:
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
            await self._begin(now)
        if self.state in (p.SUBMITTED, p.ENDED):
            await self.finished_message()
            return
        if self.attempt.started_at is not None and before[0] == p.WAITING:
            await self.send_paper()
        if (self.state, self.pending) != before:
            await self.announce()
            if self.pending:
                await self.ask(self.pending)
        self._wake.set()

    async def ended(self, reason: str) -> None:
        await self.attempt.refresh()
        await self.close(p.ENDED_BY_PROCTOR, reason or "监考人员已终止本次测评")

    # --- the timer: window opening, random check, deadline, grace --------------------

    async def _timer(self) -> None:
        while not self.closed:
            now = datetime.now(UTC)
            wake = [now + timedelta(seconds=TIME_PUSH_SECONDS)]
            attempt = self.attempt
            if attempt.started_at is None:
                spread = timedelta(seconds=random.uniform(0, START_SPREAD_SECONDS))
                wake.append(self.seat.window.starts_at + spread)
            else:
                if attempt.random_check_at and self.state == p.TESTING:
                    wake.append(attempt.random_check_at)
                if attempt.random_check_at and self.pending == p.RANDOM:
                    wake.append(attempt.random_check_at + RANDOM_RESPONSE)
                if attempt.deadline:
                    wake.append(attempt.deadline)
                    grace = timedelta(seconds=self.hall.settings.exam_grace_seconds)
                    wake.append(attempt.deadline + grace)
            later = [w for w in wake if w > now]
            target = min(later) if later else now
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), (target - now).total_seconds() + 0.05)
            if self.closed:
                return
            try:
                await self._tick(datetime.now(UTC))
            except Exception:
                log.exception("hall timer of attempt %s", self.attempt.id)

    async def _tick(self, now: datetime) -> None:
        attempt = self.attempt
        if attempt.started_at is None:
            if self.pending is None and now >= self.seat.window.starts_at and not self.verifying:
                await self._begin(now)
                await self.send_paper()
                await self.announce("考试开始")
            else:  # the waiting room's clock, and a sign of life for the page
                await self.clock(now)
            return
        if self.grace_over(now) and not self.verifying:
            grade = await self.hall.finalise(
                attempt.id, self.seat.paper_id, self.seat.pass_mark, verified=False
            )
            await attempt.refresh()
            self.state = p.SUBMITTED
            if grade is not None:
                await self.finished_message()
            return
        if attempt.deadline and now >= attempt.deadline and self.state != p.FINISHING:
            self.state, self.pending = p.FINISHING, p.FINAL
            self.hall.event(attempt.id, "deadline")
            await self.announce("考试时间到，答题已锁定，请完成交卷人脸识别")
            await self.ask(p.FINAL)
            return
        if (
            self.pending == p.RANDOM
            and attempt.random_check_at
            and now >= attempt.random_check_at + RANDOM_RESPONSE
            and "随机人脸识别超时" not in attempt.flag_reason
        ):
            minutes = int(RANDOM_RESPONSE.total_seconds() // 60)
            await self.flag(f"随机人脸识别超时（{minutes} 分钟内未完成）", "random_timeout")
        if (
            self.state == p.TESTING
            and attempt.random_check_at
            and now >= attempt.random_check_at
            and p.RANDOM not in self.checks.passed
        ):
            self.state, self.pending = p.CHECKING, p.RANDOM
            await self.announce("随机人脸识别，答题已暂停")
            await self.ask(p.RANDOM)
            return
        await self.clock(now)

    # --- messages -------------------------------------------------------------------

    async def _text(self, text: str) -> None:
        try:
            message = p.decode(text)
        except p.ProtocolError as exc:
            await self.send(p.Error(type=p.ERROR, code=p.BAD_MESSAGE, message=str(exc)))
            return
        if message["type"] == p.HEARTBEAT:
            # Written once a second for the node; the log-in lasts as long as the test,
            # unless it is ended (the node closes such sittings, examhall/beats.py).
            self.hall.beats.beat(self.attempt.id, self.login)
        elif message["type"] == p.HELLO:
            if message.get("v") != p.VERSION:
                await self.send(
                    p.Error(type=p.ERROR, code=p.BAD_MESSAGE, message="页面版本过旧，请刷新页面")
                )
        elif message["type"] == p.VISIBILITY:
            hidden = bool(message["hidden"])
            self.hall.event(self.attempt.id, "page_hidden" if hidden else "page_visible")
            if hidden:
                times = await self.hall.live.count(self.attempt.id, "hidden_events")
                if times == HIDDEN_FLAG_AT:
                    await self.flag(f"多次离开考试页面（{times} 次）", "page_hidden")
        elif message["type"] == p.ANSWER:
            await self._answer(message)
        elif message["type"] == p.SUBMIT:
            await self._submit()

    async def _answer(self, message: p.Answer) -> None:
        now = datetime.now(UTC)
        item_id, choice, seq = message["item"], message["choice"], message["seq"]
        refusal = REFUSALS.get(self.state)
        if refusal is None and self.attempt.deadline and now >= self.attempt.deadline:
            refusal = (p.LOCKED, "考试时间已到，答题已锁定")
        if refusal is not None:
            await self.send(
                p.Error(type=p.ERROR, code=refusal[0], message=refusal[1], item=item_id, seq=seq)
            )
            return
        problem = self.sheet.problem(item_id, choice) if self.sheet else "答案与试题不符"
        if problem:
            await self.send(
                p.Error(type=p.ERROR, code=p.BAD_MESSAGE, message=problem, item=item_id, seq=seq)
            )
            return
        try:
            await self.hall.writes.answer(self.attempt.id, item_id, sorted(choice), seq, now)
        except Exception:
            busy = "答案暂未保存，正在重试"
            await self.send(p.Error(type=p.ERROR, code=p.BUSY, message=busy, item=item_id, seq=seq))
            return
        await self.send(p.Ack(type=p.ACK, item=item_id, seq=seq))
        metrics.answer_acked(now)

    async def _submit(self) -> None:
        if self.state != p.TESTING:
            if self.state == p.FINISHING:
                await self.ask(p.FINAL)
                return
            code, text = (
                (p.PAUSED, "请先完成随机人脸识别")
                if self.state == p.CHECKING
                else (p.LOCKED, "当前不能交卷")
            )
            await self.send(p.Error(type=p.ERROR, code=code, message=text))
            return
        if p.FINAL in self.checks.passed:
            await self.passed(p.FINAL)  # passed already (by a proctor's hand)
            return
        self.state, self.pending = p.FINISHING, p.FINAL
        now = datetime.now(UTC)
        await Attempt.filter(id=self.attempt.id, submit_requested_at__isnull=True).update(
            submit_requested_at=now
        )
        self.attempt.submit_requested_at = now
        self.hall.event(self.attempt.id, "submit_requested")
        await self.announce("请完成交卷前人脸识别")
        await self.ask(p.FINAL)

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
                await self._begin(now)
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
        self._wake.set()

    async def flag(self, reason: str, cause: str, stage: str = "") -> None:
        """Flag the attempt for proctors; the reasons add up when there are several."""
        await self.attempt.refresh()
        reasons = [r for r in self.attempt.flag_reason.split("；") if r]
        if reason not in reasons:
            reasons.append(reason)
        joined = "；".join(reasons)[:500]
        await Attempt.filter(id=self.attempt.id).update(flagged=True, flag_reason=joined)
        self.attempt.flagged, self.attempt.flag_reason = True, joined
        await self.hall.live.update(self.attempt.id, flagged=1)
        self.hall.event(self.attempt.id, "flagged", cause=cause, stage=stage, reason=reason)

    async def give_back(self, seconds: float) -> None:
        """Time spent waiting for the verifier is added to the deadline."""
        if seconds <= 0 or self.attempt.deadline is None:
            return
        await Attempt.filter(id=self.attempt.id).update(
            time_credit_seconds=F("time_credit_seconds") + seconds,
            deadline=self.attempt.deadline + timedelta(seconds=seconds),
        )
        await self.attempt.refresh()
