"""The hall: one ``Session`` per connected attempt, run by the WebSocket endpoint.

The database is the authority. A session derives its state from the attempt row and the
face checks whenever it starts, so a page that reconnects (to any node) resumes where it
was: every acknowledged answer, the same deadline, the same pending check. Redis only tells
the proctors who is where (``examhall.live``) and carries messages between nodes.

Rules (DESIGN.md §5): the start check passes before the first question is shown; the random
check comes at a moment the server chose between 20 % and 80 % of the duration and pauses
answering until it passes; the paper is submitted only after the submit check passes. When
the time is up, answers lock and a grace period allows the submit check; without it the
attempt is graded, marked unverified and flagged for proctors. Time spent waiting for the
face verifier during the test is given back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q

from core import metrics
from core.settings import Settings
from examhall import papers
from examhall import protocol as p
from examhall.live import Live
from face.challenge import Challenge, new_challenge
from face.client import FaceService
from models.enums import (
    AttemptStatus,
    EnrollmentStatus,
    FaceReason,
    FaceStage,
    Phase,
    Procedure,
    RegistrationStatus,
)
from models.exam import Answer, Attempt, AttemptEvent, FaceCheck, Paper, PaperItem
from models.org import Organisation
from models.period import Enrollment, Period, PhaseWindow
from models.physician import Physician

log = logging.getLogger(__name__)

NO_PHOTO_MESSAGE = (
    "您还没有注册照片，无法进行人脸识别（本次不计入验证次数）。请联系所在执业机构，"
    "在【考核信息查看】中为您【更换照片】后再进入考场。"
)
STAGES = {p.START: FaceStage.START, p.RANDOM: FaceStage.RANDOM, p.FINAL: FaceStage.SUBMIT}
RANDOM_BETWEEN = (0.2, 0.8)  # of the duration
RANDOM_RESPONSE = timedelta(minutes=3)  # a random check still pending after this is flagged
HIDDEN_FLAG_AT = 5  # leaving the page this many times flags the attempt
TIME_PUSH_SECONDS = 30.0  # the remaining time is re-sent this often
RATE = 20.0  # messages per second a client may send on average
BURST = 60.0


KeepAlive = Callable[[], Awaitable[bool]]  # False: the log-in has ended


class Refused(Exception):
    """The physician may not enter the hall now; ``code`` and ``message`` say why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Seat:
    """Everything a session needs about its attempt, loaded once at connect."""

    physician: Physician
    institution: Organisation | None
    period: Period
    window: PhaseWindow
    paper: Paper
    attempt: Attempt


async def find_seat(physician_id: int, now: datetime) -> Seat:
    """The physician's attempt of the current period, created (with the paper) on first entry."""
    physician = await Physician.get_or_none(id=physician_id)
    if physician is None or physician.registration_status != RegistrationStatus.APPROVED:
        raise Refused(p.NOT_ELIGIBLE, "注册审核通过后方可参加业务水平测评")
    period = await Period.filter(is_current=True).prefetch_related("windows").first()
    window = next((w for w in period.windows if w.phase == Phase.TEST), None) if period else None
    if period is None or window is None:
        raise Refused(p.NOT_OPEN, "当前没有安排业务水平测评")
    enrollment = await Enrollment.filter(
        period_id=period.id, physician_id=physician.id, is_active=True
    ).first()
    if enrollment is None or enrollment.procedure != Procedure.GENERAL:
        raise Refused(p.NOT_ELIGIBLE, "只有一般程序报名的医师参加业务水平测评")
    if enrollment.status != EnrollmentStatus.SUBMITTED:
        raise Refused(p.NOT_ELIGIBLE, "报名状态不符合参加测评的条件")
    paper = await Paper.get_or_none(period_id=period.id, physician_id=physician.id)
    attempt = await Attempt.get_or_none(paper_id=paper.id) if paper else None
    opens = window.starts_at - timedelta(minutes=period.waiting_room_minutes)
    if attempt is None or attempt.started_at is None:
        if now < opens:
            raise Refused(p.NOT_OPEN, f"候考室将于开考前 {period.waiting_room_minutes} 分钟开放")
        if now >= window.ends_at:
            raise Refused(p.NOT_OPEN, "本次业务水平测评已结束")
    if paper is None:
        paper = await papers.generate(period, enrollment)
    if attempt is None:
        attempt, _ = await Attempt.get_or_create(paper_id=paper.id)
    institution = (
        await Organisation.get_or_none(id=physician.institution_id)
        if physician.institution_id
        else None
    )
    return Seat(physician, institution, period, window, paper, attempt)


async def check_passed(attempt_id: int, stage: FaceStage) -> bool:
    return await FaceCheck.filter(
        Q(passed=True) | Q(approved_by_id__isnull=False), attempt_id=attempt_id, stage=stage
    ).exists()


async def failed_tries(attempt_id: int, stage: FaceStage) -> int:
    return await FaceCheck.filter(
        attempt_id=attempt_id, stage=stage, passed=False, approved_by_id__isnull=True
    ).count()


class PaperCache:
    """The papers as pages receive them, kept for the window: a reconnect or a second node
    re-sends the paper without reading and shuffling 100 rows again. Bounded (oldest out)."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self._items: dict[int, list[dict[str, Any]]] = {}

    async def items(self, paper: Paper) -> list[dict[str, Any]]:
        found = self._items.get(paper.id)
        if found is None:
            found = await papers.items_for_client(paper)
            if len(self._items) >= self.size:
                self._items.pop(next(iter(self._items)))
            self._items[paper.id] = found
        return found


class Hall:
    """One per web process: the sessions connected to it, the sweeper, the node channel."""

    def __init__(self, settings: Settings, redis: Any, face: FaceService) -> None:
        self.settings = settings
        self.face = face
        self.node = uuid.uuid4().hex
        self.live = Live(redis, self.node)
        self.sessions: dict[int, Session] = {}
        self.entering = 0  # handshakes between accept and welcome (admission control)
        self.refused = 0  # handshakes refused with 503 since start
        self.papers = PaperCache()
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.live.listen(self._control)
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for session in list(self.sessions.values()):
            await session.close(p.BUSY, "服务器正在重启，请稍候自动重连")
        await self.live.close()

    async def _control(self, message: dict[str, Any]) -> None:
        session = self.sessions.get(int(message.get("attempt", 0)))
        if session is None:
            return
        op = message.get("op")
        if op == "takeover" and message.get("conn") == session.conn:
            await session.close(p.TAKEN_OVER, "本场考试已在另一个页面或设备上打开，此页面已断开")
        elif op == "notice":
            await session.send(p.NOTICE, text=str(message.get("text", ""))[:500])
        elif op == "end":
            await session.ended(str(message.get("reason", "")))
        elif op == "recheck":
            await session.recheck()

    async def event(self, attempt_id: int, kind: str, **detail: Any) -> None:
        """A timeline event: stored (the proctor's timeline) and fed to the live monitor."""
        await AttemptEvent.create(attempt_id=attempt_id, kind=kind, detail=detail)
        try:
            await self.live.publish_event(attempt_id, kind, detail)
        except Exception:  # the monitor feed is best effort, the database row is kept
            log.warning("hall event %s of attempt %s not published", kind, attempt_id)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep(datetime.now(UTC))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sweeping overdue attempts failed")
            await asyncio.sleep(30)

    async def sweep(self, now: datetime) -> int:
        """Attempts whose grace period is over with nobody connected to finish them:
        graded and flagged as unverified. Any node may run this; one update wins."""
        grace = timedelta(seconds=self.settings.exam_grace_seconds)
        overdue = await Attempt.filter(
            status=AttemptStatus.IN_PROGRESS, deadline__lt=now - grace
        ).select_related("paper")
        done = 0
        for attempt in overdue:
            if attempt.id in self.sessions:
                continue
            done += bool(await finalise(self, attempt, attempt.paper, verified=False))
        return done


async def finalise(
    hall: Hall, attempt: Attempt, paper: Paper, verified: bool
) -> papers.Grade | None:
    """Grade and submit once. Unverified attempts are flagged for proctors."""
    grade = await papers.grade(paper, attempt.id)
    values: dict[str, Any] = {
        "status": AttemptStatus.SUBMITTED,
        "submitted_at": datetime.now(UTC),
        "score": grade.score,
        "passed": grade.passed,
    }
    if not verified:
        values.update(flagged=True, flag_reason="交卷人脸验证未在规定时间内完成（未核验）")
    changed = await Attempt.filter(id=attempt.id, status=AttemptStatus.IN_PROGRESS).update(**values)
    if not changed:
        return None
    await hall.event(attempt.id, "submitted", score=grade.score, verified=verified)
    if not verified:
        await hall.event(attempt.id, "flagged", reason="unverified")
    return grade


class Session:
    """One connected page of one attempt."""

    def __init__(
        self,
        hall: Hall,
        ws: WebSocket,
        seat: Seat,
        keep_alive: KeepAlive | None = None,
        entered: Callable[[], None] | None = None,
    ) -> None:
        self.hall = hall
        self.keep_alive = keep_alive
        self.entered = entered
        self.ws = ws
        self.seat = seat
        self.attempt = seat.attempt
        self.conn = uuid.uuid4().hex
        self.state = p.WAITING
        self.pending: str | None = None  # the face check waited for
        self.challenge: Challenge | None = None  # what the pending check asks this try
        self.verifying = False
        self.random_done = False  # known passed: the 30-second tick stops asking the database
        self.items: dict[int, tuple[str, set[str]]] = {}  # item id -> (type, option ids)
        self.closed = False
        self._send_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._tokens = BURST
        self._last = time.monotonic()

    # --- sending ----------------------------------------------------------------

    async def send(self, kind: str, **fields: Any) -> None:
        if self.closed or self.ws.application_state != WebSocketState.CONNECTED:
            return
        async with self._send_lock:
            with contextlib.suppress(Exception):  # the socket went away: the reader notices
                await self.ws.send_text(p.encode(kind, **fields))

    async def close(self, code: str, message: str) -> None:
        if self.closed:
            return
        await self.send(p.BYE, code=code, message=message)
        self.closed = True
        self._wake.set()
        with contextlib.suppress(Exception):
            await self.ws.close(code=1000 if code == p.DONE else 4000)

    # --- time ---------------------------------------------------------------------

    def remaining(self, now: datetime | None = None) -> float:
        deadline = self.attempt.deadline
        if deadline is None:
            return self.seat.period.duration_minutes * 60.0
        now = now or datetime.now(UTC)
        return max(0.0, round((deadline - now).total_seconds(), 1))

    def opens_in(self, now: datetime | None = None) -> float:
        now = now or datetime.now(UTC)
        return max(0.0, round((self.seat.window.starts_at - now).total_seconds(), 1))

    def grace_over(self, now: datetime) -> bool:
        deadline = self.attempt.deadline
        grace = timedelta(seconds=self.hall.settings.exam_grace_seconds)
        return deadline is not None and now >= deadline + grace

    # --- the life of a session ------------------------------------------------------

    async def run(self) -> None:
        attempt = self.attempt
        seat = self.seat
        old_node, old_conn = await self.hall.live.claim(
            attempt.id,
            self.conn,
            {
                "physician": seat.physician.id,
                "name": seat.physician.name,
                "institution_id": seat.physician.institution_id or 0,
                "institution": seat.institution.name if seat.institution else "",
                "prefecture_id": seat.physician.prefecture_id,
                "period": seat.period.id,
            },
        )
        if old_conn and old_conn != self.conn:
            await self.hall.live.tell(
                old_node, {"op": "takeover", "attempt": attempt.id, "conn": old_conn}
            )
            previous = self.hall.sessions.get(attempt.id)
            if previous is not None:
                await previous.close(
                    p.TAKEN_OVER, "本场考试已在另一个页面或设备上打开，此页面已断开"
                )
        self.hall.sessions[attempt.id] = self
        await self.hall.event(attempt.id, "connected", node=self.hall.node)
        timer: asyncio.Task[None] | None = None
        try:
            await self._welcome()
            if self.entered is not None:
                self.entered()  # admitted: the next physician may enter
            # The timer starts from the state the welcome derived (the random check's
            # moment, the deadline), not from the state a fresh session starts with.
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
                        p.ERROR, code=p.TOO_FAST, message="操作过于频繁，请稍候", refused=refused
                    )
                    continue
                if message.get("bytes") is not None:
                    await self._burst(message["bytes"])
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
            if self.hall.sessions.get(attempt.id) is self:
                del self.hall.sessions[attempt.id]
            with contextlib.suppress(Exception):
                if await self.hall.live.release(attempt.id, self.conn):
                    await self.hall.event(attempt.id, "disconnected")

    def _allow(self) -> bool:
        now = time.monotonic()
        self._tokens = min(BURST, self._tokens + (now - self._last) * RATE)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    async def _welcome(self) -> None:
        await self.attempt.refresh_from_db()
        answers = {
            str(a.item_id): {"choice": a.choice, "seq": a.seq}
            for a in await Answer.filter(attempt_id=self.attempt.id)
        }
        await self._derive(datetime.now(UTC))
        period = self.seat.period
        await self.send(
            p.WELCOME,
            v=p.VERSION,
            attempt=self.attempt.id,
            state=self.state,
            remaining=self.remaining(),
            opens_in=self.opens_in(),
            answers=answers,
            check=self.pending,
            tries_left=await self._tries_left(),
            question_count=await PaperItem.filter(paper_id=self.seat.paper.id).count(),
            duration=period.duration_minutes * 60,
            pass_mark=self.seat.paper.pass_mark,
            photo=bool(self.seat.physician.face_encoding),
        )
        if self.state in (p.SUBMITTED, p.ENDED):
            await self._finished_message()
            return
        if self.attempt.started_at is not None:
            await self._send_paper()
        if self.pending:
            await self._ask(self.pending)
        await self.hall.live.update(self.attempt.id, state=self.state, stage=self.pending or "")

    async def _finished_message(self) -> None:
        if self.state == p.SUBMITTED and self.attempt.score is not None:
            await self.send(
                p.RESULT,
                score=self.attempt.score,
                passed=bool(self.attempt.passed),
                pass_mark=self.seat.paper.pass_mark,
            )
            await self.close(p.DONE, "试卷已提交")
        else:
            await self.close(p.ENDED_BY_PROCTOR, self.attempt.ended_reason or "本次测评已终止")

    async def _derive(self, now: datetime) -> None:
        """The state and pending check, from the database."""
        attempt = self.attempt
        if attempt.status == AttemptStatus.SUBMITTED:
            self.state, self.pending = p.SUBMITTED, None
        elif attempt.status in (AttemptStatus.ENDED, AttemptStatus.VOIDED):
            self.state, self.pending = p.ENDED, None
        elif attempt.started_at is None:
            self.state = p.WAITING
            passed = await check_passed(attempt.id, FaceStage.START)
            self.pending = None if passed else p.START
            if passed and now >= self.seat.window.starts_at:
                await self._begin(now)
        elif (attempt.deadline is not None and now >= attempt.deadline) or (
            attempt.submit_requested_at is not None  # 交卷 asked for, on any page
        ):
            self.state, self.pending = p.FINISHING, p.FINAL
        elif (
            attempt.random_check_at is not None
            and now >= attempt.random_check_at
            and not await self._random_passed()
        ):
            self.state, self.pending = p.CHECKING, p.RANDOM
        else:
            self.state, self.pending = p.TESTING, None

    async def _random_passed(self) -> bool:
        if not self.random_done:
            self.random_done = await check_passed(self.attempt.id, FaceStage.RANDOM)
        return self.random_done

    async def _begin(self, now: datetime) -> None:
        """Start the clock: the deadline, and the moment of the random check."""
        period = self.seat.period
        duration = timedelta(minutes=period.duration_minutes)
        deadline = min(now + duration, self.seat.window.ends_at)
        share = random.uniform(*RANDOM_BETWEEN)
        random_at = now + (deadline - now) * share
        changed = await Attempt.filter(id=self.attempt.id, started_at__isnull=True).update(
            status=AttemptStatus.IN_PROGRESS,
            started_at=now,
            deadline=deadline,
            random_check_at=random_at,
        )
        await self.attempt.refresh_from_db()
        if changed:
            await self.hall.event(self.attempt.id, "started", deadline=deadline.isoformat())
        self.state, self.pending = p.TESTING, None

    async def _send_paper(self) -> None:
        items = await self.hall.papers.items(self.seat.paper)
        self.items = {i["id"]: (i["type"], {o["id"] for o in i["options"]}) for i in items}
        await self.send(p.PAPER, items=items)

    async def _tries_left(self) -> int:
        if not self.pending:
            return self.seat.period.face_retries
        used = await failed_tries(self.attempt.id, STAGES[self.pending])
        return max(0, self.seat.period.face_retries - used)

    async def _ask(self, stage: str) -> None:
        messages = {
            p.START: "开考前人脸识别：请正对摄像头，保持光线充足",
            p.RANDOM: "随机人脸识别：答题已暂停，请正对摄像头完成验证",
            p.FINAL: "交卷前人脸识别：验证通过后试卷方可提交",
        }
        left = await self._tries_left()
        challenge = self._new_challenge()
        await self.hall.event(self.attempt.id, "check_asked", stage=stage, actions=challenge.codes)
        await self.send(
            p.CHECK,
            stage=stage,
            message=messages[stage],
            tries_left=left,
            challenge=challenge.for_page(),
        )

    def _new_challenge(self) -> Challenge:
        settings = self.hall.settings
        self.challenge = new_challenge(
            settings.face_action_pool, settings.face_burst_frames, settings.face_burst_seconds
        )
        return self.challenge

    async def _clock(self, now: datetime | None = None, message: str = "") -> None:
        """The state and the server's clock (sent on changes and every 30 s)."""
        now = now or datetime.now(UTC)
        await self.send(
            p.STATE,
            state=self.state,
            remaining=self.remaining(now),
            opens_in=self.opens_in(now),
            message=message,
        )

    async def _announce(self, message: str = "") -> None:
        await self._clock(message=message)
        await self.hall.live.update(self.attempt.id, state=self.state, stage=self.pending or "")

    async def recheck(self) -> None:
        """Re-read the attempt (a proctor approved a check or changed something)."""
        await self.attempt.refresh_from_db()
        if self.pending == p.FINAL and await check_passed(self.attempt.id, FaceStage.SUBMIT):
            await self._passed(p.FINAL)  # the submit check was passed by a proctor's hand
            return
        before = (self.state, self.pending)
        await self._derive(datetime.now(UTC))
        if self.state in (p.SUBMITTED, p.ENDED):
            await self._finished_message()
            return
        if self.attempt.started_at is not None and not self.items:
            await self._send_paper()
        if (self.state, self.pending) != before:
            await self._announce()
            if self.pending:
                await self._ask(self.pending)
        self._wake.set()

    async def ended(self, reason: str) -> None:
        await self.attempt.refresh_from_db()
        await self.close(p.ENDED_BY_PROCTOR, reason or "监考人员已终止本次测评")

    # --- the timer: window opening, random check, deadline, grace --------------------

    async def _timer(self) -> None:
        while not self.closed:
            now = datetime.now(UTC)
            wake = [now + timedelta(seconds=TIME_PUSH_SECONDS)]
            attempt = self.attempt
            if attempt.started_at is None:
                wake.append(self.seat.window.starts_at)
            else:
                if attempt.random_check_at and self.state == p.TESTING:
                    wake.append(attempt.random_check_at)
                if attempt.random_check_at and self.pending == p.RANDOM:
                    wake.append(attempt.random_check_at + RANDOM_RESPONSE)
                if attempt.deadline:
                    wake.append(attempt.deadline)
                    wake.append(
                        attempt.deadline + timedelta(seconds=self.hall.settings.exam_grace_seconds)
                    )
            target = min(w for w in wake if w > now) if any(w > now for w in wake) else now
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
                await self._send_paper()
                await self._announce("考试开始")
            else:  # the waiting room's clock, and a sign of life for the page
                await self._clock(now)
            return
        if self.grace_over(now) and not self.verifying:
            grade = await finalise(self.hall, attempt, self.seat.paper, verified=False)
            await attempt.refresh_from_db()
            self.state = p.SUBMITTED
            if grade is not None:
                await self._finished_message()
            return
        if attempt.deadline and now >= attempt.deadline and self.state != p.FINISHING:
            self.state, self.pending = p.FINISHING, p.FINAL
            await self.hall.event(attempt.id, "deadline")
            await self._announce("考试时间到，答题已锁定，请完成交卷人脸识别")
            await self._ask(p.FINAL)
            return
        if (
            self.pending == p.RANDOM
            and attempt.random_check_at
            and now >= attempt.random_check_at + RANDOM_RESPONSE
            and "随机人脸识别超时" not in attempt.flag_reason
        ):
            minutes = int(RANDOM_RESPONSE.total_seconds() // 60)
            await self._flag_attempt(
                f"随机人脸识别超时（{minutes} 分钟内未完成）", "random_timeout"
            )
            await attempt.refresh_from_db()
        if (
            self.state == p.TESTING
            and attempt.random_check_at
            and now >= attempt.random_check_at
            and not await self._random_passed()
        ):
            self.state, self.pending = p.CHECKING, p.RANDOM
            await self._announce("随机人脸识别，答题已暂停")
            await self._ask(p.RANDOM)
            return
        await self._clock(now)

    # --- messages -------------------------------------------------------------------

    async def _text(self, text: str) -> None:
        try:
            message = p.decode(text)
        except p.ProtocolError as exc:
            await self.send(p.ERROR, code=p.BAD_MESSAGE, message=str(exc))
            return
        kind = message["type"]
        if kind == p.HEARTBEAT:
            await self.hall.live.heartbeat(self.attempt.id)
            # The log-in lasts as long as the test, unless it is ended (a password changed
            # or reset elsewhere, the account disabled): then the hall closes too.
            if self.keep_alive is not None and not await self.keep_alive():
                await self.close(p.LOGGED_OUT, "登录已失效（密码已修改或账号已停用），请重新登录")
        elif kind == p.HELLO:
            if message.get("v") != p.VERSION:
                await self.send(p.ERROR, code=p.BAD_MESSAGE, message="页面版本过旧，请刷新页面")
        elif kind == p.VISIBILITY:
            hidden = bool(message["hidden"])
            await self.hall.event(self.attempt.id, "page_hidden" if hidden else "page_visible")
            if hidden:
                await self.hall.live.count(self.attempt.id, "hidden_events")
                times = await AttemptEvent.filter(
                    attempt_id=self.attempt.id, kind="page_hidden"
                ).count()
                if times == HIDDEN_FLAG_AT:
                    await self._flag_attempt(f"多次离开考试页面（{times} 次）", "page_hidden")
        elif kind == p.ANSWER:
            await self._answer(message)
        elif kind == p.SUBMIT:
            await self._submit()

    async def _answer(self, message: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        item_id, choice, seq = message["item"], message["choice"], message["seq"]
        refusal = {
            p.WAITING: (p.NOT_STARTED, "考试尚未开始"),
            p.CHECKING: (p.PAUSED, "请先完成随机人脸识别，再继续答题"),
            p.FINISHING: (p.LOCKED, "答题已锁定"),
            p.SUBMITTED: (p.LOCKED, "试卷已提交"),
            p.ENDED: (p.LOCKED, "本次测评已终止"),
        }.get(self.state)
        if refusal is None and self.attempt.deadline and now >= self.attempt.deadline:
            refusal = (p.LOCKED, "考试时间已到，答题已锁定")
        if refusal is not None:
            await self.send(p.ERROR, code=refusal[0], message=refusal[1], item=item_id, seq=seq)
            return
        known = self.items.get(item_id)
        if known is None or not set(choice) <= known[1] or len(set(choice)) != len(choice):
            await self.send(
                p.ERROR, code=p.BAD_MESSAGE, message="答案与试题不符", item=item_id, seq=seq
            )
            return
        if known[0] != "multiple" and len(choice) > 1:
            await self.send(
                p.ERROR, code=p.BAD_MESSAGE, message="本题只能选择一个选项", item=item_id, seq=seq
            )
            return
        try:
            await store_answer(self.attempt.id, item_id, sorted(choice), seq, now)
        except Exception:
            log.exception("answer of attempt %s not stored", self.attempt.id)
            await self.send(
                p.ERROR, code=p.BUSY, message="答案暂未保存，正在重试", item=item_id, seq=seq
            )
            return
        await self.send(p.ACK, item=item_id, seq=seq)
        metrics.answer_acked(now)

    async def _submit(self) -> None:
        if self.state != p.TESTING:
            code, text = (
                (p.PAUSED, "请先完成随机人脸识别")
                if self.state == p.CHECKING
                else (p.LOCKED, "当前不能交卷")
            )
            if self.state == p.FINISHING:
                await self._ask(p.FINAL)
                return
            await self.send(p.ERROR, code=code, message=text)
            return
        if await check_passed(self.attempt.id, FaceStage.SUBMIT):
            await self._passed(p.FINAL)  # passed already (by a proctor's hand)
            return
        self.state, self.pending = p.FINISHING, p.FINAL
        now = datetime.now(UTC)
        await Attempt.filter(id=self.attempt.id, submit_requested_at__isnull=True).update(
            submit_requested_at=now
        )
        self.attempt.submit_requested_at = now
        await self.hall.event(self.attempt.id, "submit_requested")
        await self._announce("请完成交卷前人脸识别")
        await self._ask(p.FINAL)

    # --- face checks ----------------------------------------------------------------

    async def _burst(self, data: bytes) -> None:
        stage = self.pending
        if stage is None:
            await self.send(p.ERROR, code=p.NO_CHECK, message="当前无需人脸识别")
            return
        if self.verifying:
            await self.send(p.ERROR, code=p.BUSY, message="正在识别上一组画面，请稍候")
            return
        try:
            challenge_id, frames = p.decode_burst(data)
        except p.ProtocolError as exc:
            await self.send(p.ERROR, code=p.BAD_MESSAGE, message=str(exc), refused="frame")
            return
        if not self.seat.physician.face_encoding:  # nothing to compare with: not a try
            await self.send(
                p.CHECK_RESULT,
                stage=stage,
                passed=False,
                reason=p.NO_REFERENCE,
                message=NO_PHOTO_MESSAGE,
                tries_left=await self._tries_left(),
            )
            return
        if await self._tries_left() <= 0:
            await self.send(
                p.CHECK_RESULT,
                stage=stage,
                passed=False,
                reason=p.LIMIT,
                message="人脸识别未通过次数已达上限，已通知监考人员，请等待处理",
                tries_left=0,
            )
            return
        challenge = self.challenge
        if challenge is None or challenge_id != challenge.id:
            await self.send(
                p.ERROR,
                code=p.STALE,
                message="验证动作已更新，请按新的提示重新验证",
                challenge=challenge.for_page() if challenge else None,
            )
            return
        self.verifying = True
        started = time.monotonic()
        try:
            result = await self.hall.face.verify(
                self.seat.physician.id,
                frames,
                STAGES[stage],
                challenge.codes,
                attempt_id=self.attempt.id,
                # A burst cannot arrive before it could be filmed: one that does was made
                # beforehand (a replay), whatever it shows.
                refused=FaceReason.REPLAY if challenge.too_early() else None,
            )
        finally:
            self.verifying = False
        waited = time.monotonic() - started
        metrics.face_checked(stage, result, waited)
        if self.attempt.started_at is not None and self.state != p.SUBMITTED:
            await self._give_back(waited)
        if result.busy:  # the same challenge stays: the page sends the same burst again
            await self.send(
                p.CHECK_RESULT,
                stage=stage,
                passed=False,
                reason=p.BUSY,
                message=result.message,
                tries_left=await self._tries_left(),
            )
            return
        reason = str(getattr(result.reason, "value", result.reason))
        await self.hall.event(
            self.attempt.id,
            "check_passed" if result.passed else "check_failed",
            stage=stage,
            reason=reason,
            distance=result.distance,
            check=result.check_id,
        )
        if not result.passed:
            await self.hall.live.count(self.attempt.id, "failed_checks")
            left = await self._tries_left()
            message = f"{result.message}，请按提示重试（还可尝试 {left} 次）"
            if left <= 0:
                await self._flag(stage, result.message)
                message = f"{result.message}。未通过次数已达上限，已通知监考人员，请等待处理"
            await self.send(
                p.CHECK_RESULT,
                stage=stage,
                passed=False,
                reason=reason,
                message=message,
                tries_left=left,
                challenge=self._new_challenge().for_page() if left > 0 else None,
            )
            return
        self.challenge = None
        await self.send(
            p.CHECK_RESULT,
            stage=stage,
            passed=True,
            reason=reason,
            message="验证通过",
            tries_left=await self._tries_left(),
        )
        await self._passed(stage)

    async def _passed(self, stage: str) -> None:
        now = datetime.now(UTC)
        if stage == p.START:
            self.pending = None
            if now >= self.seat.window.starts_at:
                await self._begin(now)
                await self._send_paper()
                await self._announce("考试开始")
            else:
                await self._announce("验证通过，请在候考室等待开考，开考后自动显示试题")
        elif stage == p.RANDOM:
            self.random_done = True
            self.pending = None
            self.state = p.TESTING
            await self._announce("验证通过，请继续答题")
        elif stage == p.FINAL:
            await finalise(self.hall, self.attempt, self.seat.paper, verified=True)  # once
            await self.attempt.refresh_from_db()
            await self._derive(now)
            await self._finished_message()
        self._wake.set()

    async def _flag(self, stage: str, why: str) -> None:
        labels = {p.START: "开考", p.RANDOM: "随机", p.FINAL: "交卷"}
        await self._flag_attempt(
            f"{labels[stage]}人脸识别连续未通过（{why}）", "check_failed", stage
        )

    async def _flag_attempt(self, reason: str, cause: str, stage: str = "") -> None:
        """Flag the attempt for proctors; the reasons add up when there are several."""
        await self.attempt.refresh_from_db()
        reasons = [r for r in self.attempt.flag_reason.split("；") if r]
        if reason not in reasons:
            reasons.append(reason)
        await Attempt.filter(id=self.attempt.id).update(
            flagged=True, flag_reason="；".join(reasons)[:500]
        )
        await self.hall.live.update(self.attempt.id, flagged=1)
        await self.hall.event(self.attempt.id, "flagged", cause=cause, stage=stage, reason=reason)

    async def _give_back(self, seconds: float) -> None:
        """Time spent waiting for the verifier is added to the deadline."""
        if seconds <= 0 or self.attempt.deadline is None:
            return
        await Attempt.filter(id=self.attempt.id).update(
            time_credit_seconds=F("time_credit_seconds") + seconds,
            deadline=self.attempt.deadline + timedelta(seconds=seconds),
        )
        await self.attempt.refresh_from_db()


async def store_answer(
    attempt_id: int, item_id: int, choice: list[str], seq: int, now: datetime
) -> None:
    """Durable before the acknowledgement. A resend (same or older seq) changes nothing."""
    updated = await Answer.filter(attempt_id=attempt_id, item_id=item_id, seq__lt=seq).update(
        choice=choice, seq=seq, answered_at=now
    )
    if updated:
        return
    with contextlib.suppress(IntegrityError):  # already stored with this or a later seq
        await Answer.create(attempt_id=attempt_id, item_id=item_id, choice=choice, seq=seq)


RETRY_AFTER_SECONDS = 3


async def serve(
    ws: WebSocket, hall: Hall, physician_id: int, keep_alive: KeepAlive | None = None
) -> None:
    """The endpoint's body once the physician is known: find the seat and run the session.

    Admission control: at most ``EXAM_ENTRY_LIMIT`` physicians are entering (handshake to
    welcome) at once on this process; the others get 503 with Retry-After at once, which
    costs nothing, instead of waiting in line until their clients time out and retry."""
    if hall.entering >= hall.settings.exam_entry_limit:
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

    try:
        await _serve(ws, hall, physician_id, keep_alive, done_entering)
    finally:
        done_entering()


async def _serve(
    ws: WebSocket,
    hall: Hall,
    physician_id: int,
    keep_alive: KeepAlive | None,
    entered: Callable[[], None],
) -> None:
    try:
        seat = await find_seat(physician_id, datetime.now(UTC))
    except Refused as exc:
        await ws.accept()
        await ws.send_text(p.encode(p.BYE, code=exc.code, message=exc.message))
        await ws.close(code=4003)
        return
    except Exception as exc:  # e.g. no questions in the bank
        await ws.accept()
        message = getattr(exc, "message", "暂时无法进入考场，请稍后重试")
        await ws.send_text(p.encode(p.BYE, code=p.BUSY, message=message))
        await ws.close(code=4003)
        return
    await ws.accept()
    await Session(hall, ws, seat, keep_alive, entered).run()
