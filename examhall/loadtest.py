"""``xjdk loadtest``: an exam-window spike rehearsal against running web nodes.

1. Prepare (straight into the database and Redis, nothing through the pages): a throwaway
   period marked 【压测】 made current for the run, an institution, N physicians with one
   precomputed argon2 hash and the face encoding of obama.jpg computed once, general
   enrollments, papers (``papers.generate_for_period``), attempts, and logged-in sessions
   written to the session store as a log-in writes them. The previous current period is
   named in the load-test period's name and made current again when the run ends.
2. Play a window with many simulated physicians per process (asyncio, ``HallClient`` and
   the protocol module): everyone connects within ``ramp`` seconds, passes the start check
   with real JPEG frames, answers at ``pace`` with think time, meets the random check (the
   server picks its moment between 20 % and 80 % of the attempt; the window is made to close
   soon after the run so that the moment falls inside it), hides the page now and then,
   drops and resumes (on another node when there are several), and hands in through the
   submit check. ``no_face`` inserts passing start and random checks before connecting, so
   the run measures the socket tier alone (it then skips the submit check, which the hall
   always asks for).
3. Measure the login throughput with a few real log-ins, optionally the baselines (a bare
   ``websockets`` echo server, the hall saturated, raw ``face_recognition``), reconcile every
   acknowledged answer against the database, and write the report (loadtest_report).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import re
import secrets
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import websockets
from tortoise.transactions import in_transaction

from core.settings import ROOT, Settings
from examhall import loadtest_report as report_
from examhall import protocol as p
from examhall.client import HallClient
from examhall.loadtest_report import Recorder

MARK = "【压测】"
PASSWORD = "Loadtest2026"
FACES = ROOT.parent / "shared" / "faces"
FRAMES = ("obama2.jpg", "obama-480p.jpg")
REFERENCE = "obama.jpg"
PREVIOUS = re.compile(r"原当前周期 #(\d+)")
HEARTBEAT_EVERY = 10.0  # as the page does
Fault = tuple[float, Callable[[], Awaitable[None]]]  # (seconds after the ramp begins, action)


@dataclass
class Options:
    """The knobs; the defaults suit a 2-core machine running ``make run`` (≈ 7 minutes)."""

    physicians: int = 200
    ramp: float = 60.0
    duration: float = 240.0
    pace: float = 20.0
    urls: list[str] = field(default_factory=lambda: ["http://127.0.0.1:8000"])
    no_face: bool = False
    processes: int = 1
    questions: int = 100
    reconnect_share: float = 0.1
    hidden_share: float = 0.2
    revise_share: float = 0.1
    logins: int = 20
    login_concurrency: int = 4
    baselines: bool = False
    baseline_clients: int = 200
    baseline_seconds: float = 15.0
    report: str = ""
    pids: list[int] = field(default_factory=list)
    seed: int = 0


@dataclass
class Seat:
    """What one simulated physician needs (it crosses process boundaries: plain data)."""

    physician_id: int
    attempt_id: int
    username: str
    cookie: str


@dataclass
class Plan:
    urls: list[str]
    t0: float
    ramp: float
    duration: float
    pace: float
    face: bool
    reconnect_share: float
    hidden_share: float
    revise_share: float
    seed: int


# --- preparing -----------------------------------------------------------------------------


@dataclass
class Prepared:
    period_id: int
    previous_current: int | None
    seats: list[Seat]
    spare: list[Seat]  # for the saturation baseline, checks already passed
    timings: dict[str, float]


async def prepare(settings: Settings, redis: Any, options: Options) -> Prepared:
    """Everything the run needs, inserted in bulk; see the module docstring."""
    from core.passwords import Hasher
    from core.questions import load_demo_questions
    from examhall.papers import generate_for_period
    from models.enums import FaceReason, FaceStage
    from models.exam import Attempt, FaceCheck, Paper, Question
    from portal.sessions import SessionStore

    timings: dict[str, float] = {}
    started = time.perf_counter()
    if not await Question.exists():
        print(f"题库为空：载入演示题库 {await load_demo_questions()} 题。", flush=True)
    previous = await _previous_current()
    hasher = Hasher(settings)
    password_hash = await asyncio.to_thread(hasher.hash_sync, PASSWORD)
    hasher.close()
    encoding = await asyncio.to_thread(_reference_encoding, settings)
    total = options.physicians + (options.baseline_clients if options.baselines else 0)
    period = await _period(options, previous)
    institution = await _institution()
    people = await _physicians(institution, total, password_hash, encoding)
    await _enroll(period, institution.id, people)
    timings["insert_s"] = time.perf_counter() - started
    mark = time.perf_counter()
    await generate_for_period(period)
    timings["papers_s"] = time.perf_counter() - mark
    papers = dict(await Paper.filter(period_id=period.id).values_list("physician_id", "id"))
    await Attempt.bulk_create([Attempt(paper_id=papers[pid]) for pid, _ in people], 500)
    attempts = dict(await Attempt.filter(paper__period_id=period.id).values_list("paper_id", "id"))
    store = SessionStore(redis, settings.session_idle_seconds)
    cookies = await _sessions(store, people, institution)
    seats = [Seat(pid, attempts[papers[pid]], username, cookies[pid]) for pid, username in people]
    chosen, spare = seats[: options.physicians], seats[options.physicians :]
    waived = spare if not options.no_face else seats
    await FaceCheck.bulk_create(
        [
            FaceCheck(
                physician_id=s.physician_id,
                attempt_id=s.attempt_id,
                stage=stage,
                passed=True,
                reason=FaceReason.OK,
                worker="loadtest",
            )
            for s in waived
            for stage in (FaceStage.START, FaceStage.RANDOM)
        ],
        500,
    )
    await _make_current(period.id)
    timings["prepare_s"] = time.perf_counter() - started
    return Prepared(period.id, previous, chosen, spare, timings)


async def _previous_current() -> int | None:
    """The period that is current outside load tests (a crashed run's period names it)."""
    from models.period import Period

    current = await Period.filter(is_current=True).first()
    if current is None:
        return None
    if current.name.startswith(MARK):
        found = PREVIOUS.search(current.name)
        return int(found.group(1)) or None if found else None
    return current.id


async def _period(options: Options, previous: int | None) -> Any:
    from models.enums import Phase
    from models.period import Period, PhaseWindow

    now = datetime.now(UTC)
    stamp = now.astimezone().strftime("%m-%d %H:%M")
    period = await Period.create(
        name=f"{MARK}考场压力测试 {stamp}（原当前周期 #{previous or 0}）",
        question_count=options.questions,
        duration_minutes=60,
    )
    day = timedelta(days=1)
    spans = {
        Phase.REGISTRATION: (now - 60 * day, now - 30 * day),
        Phase.SIMPLIFIED_REVIEW: (now - 50 * day, now - 20 * day),
        Phase.TRAINING: (now - 60 * day, now - 10 * day),
        Phase.TEST: (now - timedelta(minutes=5), now + day),  # narrowed by open_window
        Phase.EVALUATION: (now + day, now + 30 * day),
        Phase.RESULTS: (now + 40 * day, now + 200 * day),
    }
    await PhaseWindow.bulk_create(
        [
            PhaseWindow(period_id=period.id, phase=ph, starts_at=a, ends_at=b)
            for ph, (a, b) in spans.items()
        ]
    )
    return period


async def open_window(period_id: int, plan: Plan) -> datetime:
    """The test window closes a little after the run, so the hall draws every random check
    inside it: a physician whose clock starts at s ≤ R + d meets it by s + 0.8 (W - s),
    before handing in at R + D - D/20 or later, when the window lasts W = R + D + D/10
    (and the start check delayed s by d < 0.35 D)."""
    from models.enums import Phase
    from models.period import PhaseWindow

    ends = datetime.fromtimestamp(plan.t0 + plan.ramp + plan.duration + tail(plan), UTC)
    await PhaseWindow.filter(period_id=period_id, phase=Phase.TEST).update(ends_at=ends)
    return ends


def tail(plan: Plan) -> float:
    """The last stretch of the run in which physicians hand in (and the window's margin)."""
    return min(30.0, plan.duration / 10)


async def _institution() -> Any:
    from models.enums import OrgKind
    from models.org import County, Organisation, Prefecture

    name = f"{MARK}考场压力测试医院"
    found = await Organisation.get_or_none(name=name, kind=OrgKind.INSTITUTION)
    if found:
        return found
    prefecture = await Prefecture.get(code="650100")
    county = await County.filter(prefecture_id=prefecture.id).order_by("code").first()
    assert county is not None
    return await Organisation.create(
        kind=OrgKind.INSTITUTION,
        name=name,
        prefecture_id=prefecture.id,
        county_id=county.id,
        org_type="综合医院",
    )


async def _physicians(
    institution: Any, count: int, password_hash: str, encoding: bytes
) -> list[tuple[int, str]]:
    """``count`` approved physicians of the load-test institution: (physician id, username)."""
    from core.idcard import make_id_number, parse_id_number
    from models.enums import RegistrationStatus, Role
    from models.org import Account
    from models.physician import Physician

    taken = set(await Account.filter(username__startswith="65").values_list("username", flat=True))
    numbers: list[str] = []
    for n in itertools.count():
        if len(numbers) == count:
            break
        birth = date(1970, 1, 1) + timedelta(days=n // 100)
        number = make_id_number("650102", birth, 900 + n % 100)
        if number not in taken:
            numbers.append(number)
    await Account.bulk_create(
        [
            Account(
                username=number,
                role=Role.PHYSICIAN,
                password_hash=password_hash,
                display_name=f"压测医师{i:05d}",
                email=f"lt{number}@loadtest.invalid",
            )
            for i, number in enumerate(numbers)
        ],
        500,
    )
    accounts = await _ids(Account, "username", numbers)
    people = []
    for i, number in enumerate(numbers):
        parsed = parse_id_number(number)
        people.append(
            Physician(
                account_id=accounts[number],
                name=f"压测医师{i:05d}",
                id_number=number,
                sex=parsed.sex,
                birth_date=parsed.birth_date,
                prefecture_id=institution.prefecture_id,
                county_id=institution.county_id,
                institution_id=institution.id,
                practice_category="临床",
                practice_scope="内科专业",
                licence_number=f"LT{i:08d}",
                email=f"lt{number}@loadtest.invalid",
                mobile="13900000000",
                face_encoding=encoding,
                registration_status=RegistrationStatus.APPROVED,
            )
        )
    await Physician.bulk_create(people, 500)
    ids = await _ids(Physician, "id_number", numbers)
    return [(ids[n], n) for n in numbers]


async def _ids(model: Any, key: str, values: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for i in range(0, len(values), 500):
        rows = await model.filter(**{f"{key}__in": values[i : i + 500]}).values_list(key, "id")
        found.update(dict(rows))
    return found


async def _enroll(period: Any, institution_id: int, people: list[tuple[int, str]]) -> None:
    from models.enums import EnrollmentStatus, Procedure
    from models.period import Enrollment

    await Enrollment.bulk_create(
        [
            Enrollment(
                period_id=period.id,
                physician_id=pid,
                institution_id=institution_id,
                procedure=Procedure.GENERAL,
                status=EnrollmentStatus.SUBMITTED,
            )
            for pid, _ in people
        ],
        500,
    )


async def _sessions(store: Any, people: list[tuple[int, str]], institution: Any) -> dict[int, str]:
    """A logged-in session per physician, written as ``portal.auth`` writes a log-in."""
    from models.enums import Role
    from models.org import Account
    from portal.sessions import COOKIE, Session
    from portal.web import CurrentUser

    accounts = await _ids(Account, "username", [u for _, u in people])
    cookies: dict[int, str] = {}

    async def one(pid: int, username: str, n: int) -> None:
        session = Session(secrets.token_urlsafe(32), {}, is_new=True)
        user = CurrentUser(
            account_id=accounts[username],
            username=username,
            role=Role.PHYSICIAN,
            display_name=f"压测医师{n:05d}",
            organisation_id=institution.id,
            prefecture_id=institution.prefecture_id,
            physician_id=pid,
        )
        session.login(user.session_values())
        await store.save(session)
        cookies[pid] = f"{COOKIE}={session.id}"

    for i in range(0, len(people), 200):
        await asyncio.gather(
            *(one(pid, u, i + n) for n, (pid, u) in enumerate(people[i : i + 200]))
        )
    return cookies


def _reference_encoding(settings: Settings) -> bytes:
    from workers.face import analyse

    outcome = analyse(
        (FACES / REFERENCE).read_bytes(),
        None,
        settings.face_tolerance,
        settings.face_max_side,
        settings.face_upsample,
    )
    assert outcome.encoding is not None, outcome
    return outcome.encoding


async def _make_current(period_id: int | None) -> None:
    """Exactly one current period."""
    from models.period import Period

    async with in_transaction():
        await Period.filter(is_current=True).update(is_current=False)
        if period_id:
            await Period.filter(id=period_id).update(is_current=True)


async def restore_current(previous: int | None) -> None:
    from models.period import Period

    current = await Period.filter(is_current=True).first()
    if current is not None and current.name.startswith(MARK):
        await _make_current(previous)


async def cleanup(redis: Any) -> dict[str, int]:
    """Remove every load-test row (periods, institution, physicians, accounts, their audit
    entries and sessions, live-state keys) and make the previous period current again."""
    from models.exam import Attempt
    from models.ops import AuditLog
    from models.org import Account, Organisation
    from models.period import Period
    from models.physician import Physician
    from portal.sessions import SessionStore

    await restore_current(await _previous_current())
    periods = await Period.filter(name__startswith=MARK).values_list("id", flat=True)
    attempts = await Attempt.filter(paper__period_id__in=list(periods)).values_list("id", flat=True)
    orgs = await Organisation.filter(name__startswith=MARK).values_list("id", flat=True)
    rows = await Physician.filter(institution_id__in=list(orgs)).values("account_id")
    accounts = [int(r["account_id"]) for r in rows]
    store = SessionStore(redis, 60)
    for account_id in accounts:
        await store.end_all(account_id)
    for i in range(0, len(attempts), 500):
        chunk = attempts[i : i + 500]
        await redis.delete(*[f"hall:s:{a}" for a in chunk])
        await redis.zrem("hall:live", *[str(a) for a in chunk])
    async with in_transaction():
        await Period.filter(id__in=list(periods)).delete()  # papers, attempts, answers…
        for i in range(0, len(accounts), 500):
            ids = accounts[i : i + 500]
            await AuditLog.filter(actor_id__in=ids).delete()
            await Account.filter(id__in=ids).delete()  # and their physicians
        await Organisation.filter(id__in=list(orgs)).delete()
    return {"periods": len(periods), "physicians": len(accounts), "attempts": len(attempts)}


# --- one simulated physician -----------------------------------------------------------------


class Finished(Exception):
    """The attempt is over (submitted, ended, or refused for good)."""


CONNECT_ERRORS = (OSError, websockets.WebSocketException, TimeoutError, ConnectionError)


class Sim:
    def __init__(self, seat: Seat, plan: Plan, rec: Recorder, index: int) -> None:
        self.seat = seat
        self.plan = plan
        self.rec = rec
        self.rng = random.Random(plan.seed * 1_000_003 + index)
        self.node = index % len(plan.urls)
        self.client = self._client()
        self.frames = [(FACES / name).read_bytes() for name in FRAMES] if plan.face else []
        self.sent_at: dict[tuple[int, int], float] = {}
        self.retry: set[int] = set()
        self.check: str | None = None  # the check the server asked for and is waiting on
        self.face_reply: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None
        self.wake = asyncio.Event()
        self.opened = 0.0
        self.answered: list[int] = []
        self.acked = rec.acked.setdefault(seat.attempt_id, {})
        self.sent = rec.sent.setdefault(seat.attempt_id, {})

    def _client(self) -> HallClient:
        url = self.plan.urls[self.node]
        return HallClient(url, self.seat.cookie, on_message=self.on_message, inbox_limit=32)

    # messages, as they arrive

    def on_message(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == p.ACK:
            key = (message["item"], message["seq"])
            sent = self.sent_at.pop(key, None)
            if sent is not None:
                self.rec.acks.append((self.rec.now(), (time.monotonic() - sent) * 1000))
            self.acked[key[0]] = max(self.acked.get(key[0], 0), key[1])
        elif kind == p.ERROR:
            code = message.get("code")
            self.rec.error(f"error:{code}")
            if "item" in message:
                if code in (p.PAUSED, p.BUSY, p.NOT_STARTED):
                    self.retry.add(message["item"])
                elif code == p.LOCKED:  # the time is up: refused, not lost
                    self.client.unacked.pop(message["item"], None)
            elif code in (p.NO_CHECK, p.BUSY):  # a frame that was not taken
                self.face_reply = {"passed": code == p.NO_CHECK, "reason": code}
        elif kind == p.CHECK:
            self.check = message["stage"]
        elif kind == p.CHECK_RESULT:
            self.face_reply = message
            if message["passed"] and self.check == message["stage"]:
                self.check = None
        elif kind == p.RESULT:
            self.result = message
        elif kind == p.BYE and message.get("code") != p.DONE:
            self.rec.error(f"bye:{message.get('code')}")
        self.wake.set()

    async def until(self, done: Callable[[], object], within: float) -> bool:
        """Wait for ``done()`` while messages arrive; False when the time or the socket ends."""
        deadline = self.rec.now() + within
        while not done():
            left = deadline - self.rec.now()
            if left <= 0 or not self.client.is_open:
                return bool(done())
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), left)
        return True

    # the life of the attempt

    async def run(self) -> None:
        plan, rng = self.plan, self.rng
        start = rng.uniform(0, plan.ramp)
        end = plan.ramp + plan.duration - rng.uniform(0, tail(plan) / 2)
        span = max(end - start, 1.0)
        drop = rng.random() < plan.reconnect_share
        hide = rng.random() < plan.hidden_share
        drop_at = start + span * rng.uniform(0.3, 0.7) if drop else None
        hide_at = start + span * rng.uniform(0.1, 0.9) if hide else None
        await asyncio.sleep(max(0.0, start - self.rec.now()))
        try:
            await self.enter()
            next_answer = self.rec.now() + self.think()
            next_beat = self.rec.now() + HEARTBEAT_EVERY * rng.uniform(0.5, 1.0)
            show_at: float | None = None
            while self.rec.now() < end:
                now = self.rec.now()
                if not self.client.is_open:
                    await self.reconnect(dropped=False)
                    continue
                if self.check in (p.RANDOM, p.FINAL):
                    await self.face_check(self.check)
                    continue
                if drop_at is not None and now >= drop_at:
                    drop_at = None
                    await self.drop_and_resume()
                    continue
                if hide_at is not None and now >= hide_at:
                    hide_at, show_at = None, now + rng.uniform(2, 8)
                    await self.send(p.VISIBILITY, hidden=True)
                    self.rec.counts["page_hidden"] += 1
                if show_at is not None and now >= show_at:
                    show_at = None
                    await self.send(p.VISIBILITY, hidden=False)
                if now >= next_beat:
                    next_beat = now + HEARTBEAT_EVERY
                    await self.send(p.HEARTBEAT)
                if self.retry and self.client.state == p.TESTING:
                    await self.resend()
                if now >= next_answer:
                    next_answer = now + self.think()
                    await self.answer()
                times = (next_answer, next_beat, end, drop_at, hide_at, show_at)
                due = min(x for x in times if x is not None)
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), max(0.01, due - self.rec.now()))
            await self.settle()
            if plan.face:
                await self.submit()
        except Finished:
            pass
        finally:
            await self.close()

    def think(self) -> float:
        return self.plan.pace * self.rng.uniform(0.5, 1.5)

    async def enter(self) -> None:
        try:
            await self.connect(again=False)
        except CONNECT_ERRORS:
            await self.reconnect(dropped=True)
        if self.check == p.START:
            await self.face_check(p.START)
        if not await self.until(lambda: self.client.items, 60):
            self.rec.error("no_paper")
            raise Finished

    async def connect(self, again: bool) -> None:
        started = time.monotonic()
        try:
            welcome = await self.client.connect()
        except CONNECT_ERRORS as exc:
            self.rec.error(f"connect:{type(exc).__name__}")
            raise
        self.opened = self.rec.now()
        self.rec.connects.append((self.opened, (time.monotonic() - started) * 1000, again))
        now = time.monotonic()
        for item, (_, seq) in self.client.unacked.items():  # resent by connect
            self.sent_at[(item, seq)] = now
            self.rec.counts["resent"] += 1
        stored = welcome.get("answers", {})
        for item, seq in self.acked.items():
            if stored.get(str(item), {}).get("seq", 0) < seq:
                self.rec.error("resume_missing_answer")
        for item, row in stored.items():  # stored: acknowledged even if the ack was lost
            self.acked[int(item)] = max(self.acked.get(int(item), 0), row["seq"])
        if welcome["state"] in (p.SUBMITTED, p.ENDED):
            raise Finished
        self.check = welcome.get("check")

    async def reconnect(self, dropped: bool) -> None:
        """Connect again (to the next node when there are several) until it works."""
        self._closed()
        bye = self.client.closed_with or {}
        if bye.get("code") in (p.DONE, p.ENDED_BY_PROCTOR, p.NOT_ELIGIBLE, p.NOT_OPEN):
            raise Finished
        if not dropped:
            self.rec.counts["connection_lost"] += 1
        pause = 0.5
        for _ in range(40):
            await asyncio.sleep(pause * self.rng.uniform(0.5, 1.5))
            self.node = (self.node + 1) % len(self.plan.urls)
            old, self.client = self.client, self._client()
            self.client.unacked, self.client.seqs = old.unacked, old.seqs
            self.client.items = old.items
            try:
                await self.connect(again=True)
                return
            except CONNECT_ERRORS:
                pause = min(pause * 2, 5.0)
        self.rec.error("gave_up_reconnecting")
        raise Finished

    async def drop_and_resume(self) -> None:
        await self.client.drop()
        self.rec.counts["dropped"] += 1
        await asyncio.sleep(self.rng.uniform(1, 3))
        await self.reconnect(dropped=True)

    async def send(self, kind: str, **fields: Any) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.client.send(kind, **fields)

    async def answer(self) -> None:
        if self.client.state != p.TESTING or not self.client.items:
            return
        items = self.client.items
        if self.answered and (
            len(self.answered) == len(items) or self.rng.random() < self.plan.revise_share
        ):
            wanted = self.rng.choice(self.answered)
            item = next(i for i in items if i["id"] == wanted)
        else:
            item = items[len(self.answered)]
            self.answered.append(item["id"])
        ids = [o["id"] for o in item["options"]]
        choice = sorted(self.rng.sample(ids, 2 if item["type"] == "multiple" else 1))
        try:
            seq = await self.client.answer(item["id"], choice)
        except websockets.ConnectionClosed:
            seq = self.client.unacked[item["id"]][1]  # kept: the reconnect resends it
        self.sent_at[(item["id"], seq)] = time.monotonic()
        self.sent[item["id"]] = max(self.sent.get(item["id"], 0), seq)
        self.rec.counts["answers_sent"] += 1

    async def resend(self) -> None:
        await asyncio.sleep(0.5)
        for item in list(self.retry):
            self.retry.discard(item)
            pending = self.client.unacked.get(item)
            if pending is None:
                continue
            self.sent_at[(item, pending[1])] = time.monotonic()
            self.rec.counts["resent"] += 1
            await self.send(p.ANSWER, item=item, choice=pending[0], seq=pending[1])

    async def face_check(self, stage: str) -> None:
        """Send frames until the check passes (a busy verifier means: wait, send again)."""
        for attempt in itertools.count():
            frame = self.frames[attempt % len(self.frames)] if self.frames else b""
            started = time.monotonic()
            self.face_reply = None
            with contextlib.suppress(websockets.ConnectionClosed):
                await self.client.frame(frame)
            if not await self.until(lambda: self.face_reply is not None, 120):
                self.rec.error(f"face_{stage}_interrupted")
                if self.client.is_open:
                    raise Finished
                await self.reconnect(dropped=False)
                if self.check != stage:
                    return
                continue
            result = self.face_reply
            assert result is not None
            ms = (time.monotonic() - started) * 1000
            if result["passed"]:
                self.rec.faces.append((self.rec.now(), stage, ms, "passed"))
                return
            if result["reason"] == p.BUSY:
                self.rec.faces.append((self.rec.now(), stage, ms, "busy"))
                await asyncio.sleep(2 * self.rng.uniform(0.5, 1.5))
                continue
            self.rec.faces.append((self.rec.now(), stage, ms, "failed"))
            self.rec.error(f"face_failed:{result['reason']}")
            if result.get("tries_left", 0) <= 0 or attempt > 5:
                raise Finished
            await asyncio.sleep(1)

    async def submit(self) -> None:
        for _ in range(5):
            if not self.client.is_open:
                await self.reconnect(dropped=False)
            if self.check is None:
                await self.send(p.SUBMIT)
                if not await self.until(lambda: self.check is not None, 30):
                    self.rec.error("submit_not_asked")
                    continue
            stage = self.check
            assert stage is not None
            await self.face_check(stage)
            if stage == p.FINAL:
                if await self.until(lambda: self.result is not None, 30):
                    self.rec.counts["submitted"] += 1
                else:
                    self.rec.error("no_result")
                return
        raise Finished

    async def settle(self, within: float = 20.0) -> None:
        """Wait for the acks still outstanding (resending what was refused meanwhile)."""
        deadline = self.rec.now() + within
        while self.client.unacked and self.rec.now() < deadline:
            if not self.client.is_open:
                await self.reconnect(dropped=False)
            if self.retry:
                await self.resend()
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), 1.0)
        if self.client.unacked:
            self.rec.counts["unacked_at_end"] += len(self.client.unacked)

    def _closed(self) -> None:
        if self.opened:
            self.rec.intervals.append((self.opened, self.rec.now()))
            self.opened = 0.0

    async def close(self) -> None:
        self._closed()
        with contextlib.suppress(Exception):
            if self.client.on_message is None:  # cut off: no closing handshake
                await self.client.drop()
            else:
                await self.client.close()


OVERTIME = 90.0  # seconds past the window a simulated physician may still be finishing


async def play_slice(seats: list[Seat], plan: Plan) -> Recorder:
    """Every seat's physician, each a task; those not done by the end of the window plus
    ``OVERTIME`` (an overloaded server) are cut off and counted, so a run always ends."""
    rec = Recorder(plan.t0)
    sims = [Sim(seat, plan, rec, index) for index, seat in enumerate(seats)]
    tasks = [asyncio.create_task(s.run()) for s in sims]
    stop_at = plan.t0 + plan.ramp + plan.duration + tail(plan) + OVERTIME
    _, late = await asyncio.wait(tasks, timeout=max(1.0, stop_at - time.time()))
    for sim, task in zip(sims, tasks, strict=True):
        if task in late:
            rec.error("unfinished_at_cutoff")
            sim.client.on_message = None
            task.cancel()
        elif task.exception() is not None:
            rec.error(f"client_crashed:{type(task.exception()).__name__}")
    if late:
        await asyncio.wait(late, timeout=15)
    return rec


def _play_in_process(seats: list[Seat], plan: Plan) -> Recorder:
    import uvloop

    _raise_file_limit()
    return uvloop.run(play_slice(seats, plan))


def _raise_file_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def play(seats: list[Seat], plan: Plan, processes: int) -> Recorder:
    """The window, played by ``processes`` generator processes (1: in this event loop)."""
    if processes <= 1:
        return await play_slice(seats, plan)
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        parts = await asyncio.gather(
            *(
                loop.run_in_executor(pool, _play_in_process, seats[n::processes], plan)
                for n in range(processes)
            )
        )
    merged = Recorder(plan.t0)
    for part in parts:
        merged.merge(part)
    return merged


# --- after the window ------------------------------------------------------------------------


async def reconcile(rec: Recorder) -> dict[str, Any]:
    """Every answer the server acknowledged is stored with the acknowledged seq (or a later
    one the client sent), none twice."""
    from tortoise.functions import Count

    from models.exam import Answer

    attempt_ids = list(rec.acked)
    stored: dict[int, dict[int, int]] = {}
    duplicates = 0
    for i in range(0, len(attempt_ids), 500):
        chunk = attempt_ids[i : i + 500]
        rows = await Answer.filter(attempt_id__in=chunk).values_list("attempt_id", "item_id", "seq")
        for attempt_id, item_id, seq in rows:
            stored.setdefault(attempt_id, {})[item_id] = seq
        twice = (
            await Answer.filter(attempt_id__in=chunk)
            .annotate(n=Count("id"))
            .group_by("attempt_id", "item_id")
            .filter(n__gt=1)
            .values_list("attempt_id", flat=True)
        )
        duplicates += len(twice)
    lost: list[dict[str, int]] = []
    unexpected = 0
    acked_total = 0
    for attempt_id, items in rec.acked.items():
        sent = rec.sent.get(attempt_id, {})
        for item, seq in items.items():
            acked_total += 1
            have = stored.get(attempt_id, {}).get(item)
            if have is None or have < seq:
                lost.append(
                    {"attempt": attempt_id, "item": item, "acked": seq, "stored": have or 0}
                )
            elif have > max(seq, sent.get(item, 0)):
                unexpected += 1
    stored_total = sum(len(v) for v in stored.values())
    return {
        "ok": not lost and not duplicates and not unexpected,
        "acked": acked_total,
        "stored": stored_total,
        "stored_not_acked": stored_total - acked_total,
        "lost": len(lost),
        "lost_examples": lost[:20],
        "duplicates": duplicates,
        "unexpected": unexpected,
    }


CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


async def logins(url: str, usernames: list[str], concurrency: int) -> dict[str, Any]:
    """Real log-ins (each one argon2 verify on the server) with a few at a time."""
    import httpx

    gate = asyncio.Semaphore(concurrency)
    times: list[float] = []
    failed = 0

    async def one(username: str) -> None:
        nonlocal failed
        async with gate, httpx.AsyncClient(base_url=url, timeout=60) as http:
            try:
                page = await http.get("/login")
                token = CSRF.search(page.text)
                started = time.perf_counter()
                answer = await http.post(
                    "/login",
                    data={
                        "username": username,
                        "password": PASSWORD,
                        "csrf_token": token[1] if token else "",
                    },
                )
                times.append((time.perf_counter() - started) * 1000)
                failed += answer.status_code != 303
            except httpx.HTTPError:
                failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(u) for u in usernames))
    wall = time.perf_counter() - started
    return {
        "count": len(usernames),
        "concurrency": concurrency,
        "per_s": round(len(usernames) / wall, 2) if usernames else 0,
        "ms": report_.spread(times),
        "failed": failed,
    }


ECHO_SERVER = """
import asyncio, sys, uvloop
from websockets.asyncio.server import serve
async def echo(ws):
    async for message in ws:
        await ws.send(message)
async def main():
    async with serve(echo, "127.0.0.1", int(sys.argv[1]), compression=None, max_size=2**22):
        await asyncio.Future()
uvloop.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def closed_loop(
    clients: int, seconds: float, open_one: Callable[[int], Awaitable[Any]], per_client_hz: float
) -> dict[str, Any]:
    """Each client sends, waits for the answer, sends again (at most ``per_client_hz``)."""
    latencies: list[float] = []
    stop_at = time.monotonic() + seconds
    gap = 1 / per_client_hz if per_client_hz else 0.0

    async def run(n: int) -> None:
        roundtrip = await open_one(n)
        while time.monotonic() < stop_at:
            started = time.monotonic()
            await roundtrip()
            latencies.append((time.monotonic() - started) * 1000)
            if gap:
                await asyncio.sleep(max(0.0, gap - (time.monotonic() - started)))

    started = time.monotonic()
    await asyncio.gather(*(run(n) for n in range(clients)), return_exceptions=True)
    wall = time.monotonic() - started
    return {
        "clients": clients,
        "messages_per_s": round(len(latencies) / wall, 1),
        "ms": report_.spread(latencies),
    }


async def echo_baseline(clients: int, seconds: float) -> dict[str, Any]:
    port = free_port()
    server = await asyncio.create_subprocess_exec(sys.executable, "-c", ECHO_SERVER, str(port))
    sockets: list[Any] = []
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            await asyncio.sleep(0.1)
        message = p.encode(p.ANSWER, item=123456, choice=["a1b2c3"], seq=1)

        async def open_one(n: int) -> Callable[[], Awaitable[None]]:
            ws = await websockets.connect(f"ws://127.0.0.1:{port}", compression=None)
            sockets.append(ws)

            async def roundtrip() -> None:
                await ws.send(message)
                await ws.recv()

            return roundtrip

        return await closed_loop(clients, seconds, open_one, 0)
    finally:
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        server.kill()
        await server.wait()


async def hall_baseline(
    seats: list[Seat], url: str, seconds: float
) -> tuple[dict[str, Any], Recorder]:
    """The hall saturated: clients whose checks are passed answer back to back, each under
    the hall's rate limit (``hall.RATE`` messages a second)."""
    from examhall.hall import RATE

    rec = Recorder(time.time())
    clients: list[HallClient] = []

    async def open_one(n: int) -> Callable[[], Awaitable[None]]:
        seat = seats[n]
        acked = rec.acked.setdefault(seat.attempt_id, {})
        sent = rec.sent.setdefault(seat.attempt_id, {})
        box: dict[str, asyncio.Future[dict[str, Any]]] = {}

        def on_message(message: dict[str, Any]) -> None:
            if message["type"] == p.ACK:
                acked[message["item"]] = max(acked.get(message["item"], 0), message["seq"])
            if message["type"] in (p.ACK, p.ERROR) and "f" in box and not box["f"].done():
                box["f"].set_result(message)

        client = HallClient(url, seat.cookie, on_message=on_message, inbox_limit=8)
        clients.append(client)
        await client.connect()
        await client.expect(p.PAPER, within=60)
        turn = itertools.cycle(client.items)

        async def roundtrip() -> None:
            item = next(turn)
            box["f"] = asyncio.get_running_loop().create_future()
            seq = await client.answer(item["id"], [item["options"][0]["id"]])
            sent[item["id"]] = seq
            answer = await asyncio.wait_for(box["f"], 30)
            if answer["type"] == p.ERROR:
                rec.error(f"error:{answer.get('code')}")

        return roundtrip

    try:
        figures = await closed_loop(len(seats), seconds, open_one, RATE * 0.9)
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()
    figures["errors"] = len(rec.errors)
    return figures, rec


def face_baseline(settings: Settings, processes: int, frames: int = 24) -> dict[str, Any]:
    from workers import face_bench

    data = [(FACES / FRAMES[i % len(FRAMES)]).read_bytes() for i in range(frames)]
    return face_bench.raw_figures(data, _reference_encoding(settings), settings, processes)


# --- the whole run ---------------------------------------------------------------------------


def server_processes(options: Options) -> dict[str, int]:
    found: dict[str, int] = {}
    web: list[int] = []
    for url in options.urls:
        port = urlsplit(url).port or 80
        for pid in report_.pids_listening(port):
            web.append(pid)
            found[f"web:{port}:{pid}"] = pid
            for child in report_.children(pid):
                found[f"web:{port}:{child}"] = child
    for pid in report_.face_worker_pids(web[0] if web else None):
        found[f"face:{pid}"] = pid
    for pid in options.pids:
        found[f"pid:{pid}"] = pid
    found[f"loadtest:{os.getpid()}"] = os.getpid()
    return found


async def run(
    settings: Settings, redis: Any, face: Any, options: Options, faults: list[Fault] | None = None
) -> dict[str, Any]:
    """Prepare, play, measure, reconcile; returns the report (the database must be open)."""
    started_at = datetime.now(UTC).astimezone().isoformat(timespec="seconds")
    processes = server_processes(options)
    print(f"准备 {options.physicians} 名压测医师…", flush=True)
    prepared = await prepare(settings, redis, options)
    print(f"准备完成（{prepared.timings['prepare_s']:.1f} 秒），开始模拟考试窗口。", flush=True)
    plan = Plan(
        urls=options.urls,
        t0=time.time() + 1.0,
        ramp=options.ramp,
        duration=options.duration,
        pace=options.pace,
        face=not options.no_face,
        reconnect_share=options.reconnect_share,
        hidden_share=options.hidden_share,
        revise_share=options.revise_share,
        seed=options.seed or secrets.randbits(32),
    )
    extra: dict[str, Any] = {}
    try:
        window_ends = await open_window(prepared.period_id, plan)
        sampler = report_.Sampler(plan.t0, processes, redis, face)
        sampler.start()
        fault_tasks = [
            asyncio.create_task(_fault_at(plan.t0 + at, act)) for at, act in faults or []
        ]
        try:
            rec = await play(prepared.seats, plan, options.processes)
            for task in fault_tasks:
                await task
        finally:
            await sampler.stop()
        if options.logins:
            names = [s.username for s in prepared.seats[: options.logins]]
            extra["logins"] = await logins(options.urls[0], names, options.login_concurrency)
        if options.baselines:
            extra["baselines"] = await _baselines(settings, options, prepared, rec, processes)
    finally:
        await restore_current(prepared.previous_current)
    reconciliation = await reconcile(rec)
    meta = {
        "started": started_at,
        "command": " ".join(["xjdk", *sys.argv[2:]]) if sys.argv[1:2] == ["loadtest"] else "",
        "options": {**asdict(options), "processes": options.processes},
        "period_id": prepared.period_id,
        "window_ends": window_ends.isoformat(),
        "prepare": {k: round(v, 1) for k, v in prepared.timings.items()},
        "server_processes": processes,
        "machine": {"cpus": os.cpu_count()},
    }
    return report_.build(rec, sampler.samples, meta, reconciliation, extra)


async def _fault_at(at: float, act: Callable[[], Awaitable[None]]) -> None:
    await asyncio.sleep(max(0.0, at - time.time()))
    await act()


async def _baselines(
    settings: Settings,
    options: Options,
    prepared: Prepared,
    rec: Recorder,
    processes: dict[str, int],
) -> dict[str, Any]:
    from models.enums import Phase
    from models.period import PhaseWindow

    clients = len(prepared.spare)
    reopen = datetime.now(UTC) + timedelta(seconds=2 * options.baseline_seconds + 120)
    await PhaseWindow.filter(period_id=prepared.period_id, phase=Phase.TEST).update(
        ends_at=reopen
    )  # the spare physicians start after the played window closed
    print(f"基准：{clients} 个客户端，各 {options.baseline_seconds:.0f} 秒…", flush=True)
    echo = await echo_baseline(clients, options.baseline_seconds)
    hall, hall_rec = await hall_baseline(prepared.spare, options.urls[0], options.baseline_seconds)
    rec.acked.update(hall_rec.acked)
    rec.sent.update(hall_rec.sent)
    ratio = hall["messages_per_s"] / echo["messages_per_s"] if echo["messages_per_s"] else None
    out: dict[str, Any] = {
        "echo": echo,
        "hall": hall,
        "hall_vs_echo": {"ratio": round(ratio, 3) if ratio else None},
    }
    if not options.no_face:
        workers = sum(1 for k in processes if k.startswith("face:")) or 1
        raw = await asyncio.to_thread(face_baseline, settings, workers)
        out["face_raw"] = {"processes": workers, **{k: round(v, 2) for k, v in raw.items()}}
    return out


def save(report: dict[str, Any], path: str) -> list[str]:
    """``path`` without suffix (or ending .json/.html): writes both files."""
    base = Path(path)
    if base.suffix in (".json", ".html"):
        base = base.with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    json_path, html_path = base.with_suffix(".json"), base.with_suffix(".html")
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str))
    html_path.write_text(report_.html(report))
    return [str(json_path), str(html_path)]


def main(settings: Settings, options: Options, clean: bool) -> int:
    """What ``xjdk loadtest`` runs."""
    import uvloop

    from core.db import database
    from core.face import FaceService
    from core.redis import open_redis

    _raise_file_limit()

    async def go() -> int:
        handles = await open_redis(settings)
        try:
            async with database(settings.db_url):
                if clean:
                    removed = await cleanup(handles.text)
                    print(
                        f"已删除压测数据：{removed['periods']} 个周期，"
                        f"{removed['physicians']} 名医师，{removed['attempts']} 场测评。"
                    )
                    return 0
                face = FaceService(settings, handles.binary)
                report = await run(settings, handles.text, face, options)
                await face.close()
        finally:
            await handles.close()
        print(report_.summary(report))
        if options.report:
            print("报告：" + "，".join(save(report, options.report)))
        return 0 if report["reconciliation"]["ok"] else 1

    return uvloop.run(go())
