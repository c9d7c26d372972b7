"""One simulated physician (``Sim``: connects, passes the checks with real JPEG frames,
answers at a pace, hides the page, drops and resumes on another node, hands in) and the window
played by many of them, in this event loop or across spawned generator processes (``play``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import re
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, NamedTuple

import websockets

from core import gcpolicy
from examhall import protocol as p
from examhall.client import HallClient
from face import samples
from tools.loadtest.prepare import PASSWORD, Plan, Seat, tail
from tools.loadtest.report import Recorder
from web.sessions import COOKIE

HEARTBEAT_EVERY = 10.0  # as the page does
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
_TRANSPORT: list[Any] = []


def transport() -> Any:
    """The generator process's HTTP connection pool (made once: it is not cheap)."""
    import httpx

    if not _TRANSPORT:
        _TRANSPORT.append(httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=64)))
    return _TRANSPORT[0]


class FaceReply(NamedTuple):
    """What became of a burst: a check_result, or an error that did not take it."""

    passed: bool
    reason: str
    tries_left: int


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
        self.cookie = seat.cookie
        self.client = self._client()
        self.checks_passed = 0  # each check shows another of the clip's bursts (no replay)
        self.sent_at: dict[tuple[int, int], float] = {}
        self.retry: set[int] = set()
        self.check: str | None = None  # the check the server asked for and is waiting on
        self.face_reply: FaceReply | None = None
        self.result: p.Result | None = None
        self.wake = asyncio.Event()
        self.opened = 0.0
        self.answered: list[int] = []
        self.acked = rec.acked.setdefault(seat.attempt_id, {})
        self.sent = rec.sent.setdefault(seat.attempt_id, {})

    def _client(self) -> HallClient:
        url = self.plan.urls[self.node]
        return HallClient(url, self.cookie, on_message=self.on_message, inbox_limit=32)

    async def log_in(self) -> None:
        """A real log-in (argon2 on the server), as a physician does before entering: the
        hall then runs on the session it made."""
        import httpx

        url = self.plan.urls[self.node]
        started = time.monotonic()
        ok = False
        try:
            # One connection pool for the process; a client each, for its own cookies.
            http = httpx.AsyncClient(base_url=url, timeout=60, transport=transport())
            page = await http.get("/login")
            token = CSRF.search(page.text)
            answer = await http.post(
                "/login",
                data={
                    "username": self.seat.username,
                    "password": PASSWORD,
                    "csrf_token": token[1] if token else "",
                },
            )
            ok = answer.status_code == 303 and COOKIE in http.cookies
            if ok:
                self.cookie = f"{COOKIE}={http.cookies[COOKIE]}"
        except httpx.HTTPError:
            pass
        self.rec.logins.append((self.rec.now(), (time.monotonic() - started) * 1000, ok))
        if not ok:
            self.rec.error("login_failed")
            raise Finished

    # messages, as they arrive

    def on_message(self, message: p.ServerMessage) -> None:
        if message["type"] == p.ACK:
            key = (message["item"], message["seq"])
            sent = self.sent_at.pop(key, None)
            if sent is not None:
                self.rec.acks.append((self.rec.now(), (time.monotonic() - sent) * 1000))
            self.acked[key[0]] = max(self.acked.get(key[0], 0), key[1])
        elif message["type"] == p.ERROR:
            self.on_error(message)
        elif message["type"] == p.CHECK:
            self.check = message["stage"]
        elif message["type"] == p.CHECK_RESULT:
            self.face_reply = FaceReply(message["passed"], message["reason"], message["tries_left"])
            if message["passed"] and self.check == message["stage"]:
                self.check = None
        elif message["type"] == p.RESULT:
            self.result = message
        elif message["type"] == p.BYE and message["code"] != p.DONE:
            self.rec.error(f"bye:{message['code']}")
        self.wake.set()

    def on_error(self, message: p.Error) -> None:
        code, item = message["code"], message.get("item")
        if item is not None and code in (p.PAUSED, p.BUSY, p.NOT_STARTED):
            # An answer that crossed a check's start (or a busy moment) on the wire: the page
            # keeps it and sends it again, as here. Counted, not an error.
            self.rec.counts[f"answer_again:{code}"] += 1
            self.retry.add(item)
            return
        self.rec.error(f"error:{code}")
        if item is not None and code == p.LOCKED:  # the time is up: refused, not lost
            self.client.unacked.pop(item, None)
        elif item is None and code in (p.NO_CHECK, p.BUSY, p.STALE):  # a burst not taken
            self.face_reply = FaceReply(code == p.NO_CHECK, code, 0)

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
                    await self.send(p.Visibility(type=p.VISIBILITY, hidden=True))
                    self.rec.counts["page_hidden"] += 1
                if show_at is not None and now >= show_at:
                    show_at = None
                    await self.send(p.Visibility(type=p.VISIBILITY, hidden=False))
                if now >= next_beat:
                    next_beat = now + HEARTBEAT_EVERY
                    await self.send(p.Heartbeat(type=p.HEARTBEAT))
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
        if self.plan.login_storm:
            await self.log_in()
            self.client = self._client()
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
        except websockets.InvalidStatus as exc:
            if exc.response.status_code != 503:
                self.rec.error(f"connect:{type(exc).__name__}")
                raise
            self.rec.refused[self.seat.attempt_id] += 1  # the page waits and tries again
            raise
        except CONNECT_ERRORS as exc:
            self.rec.error(f"connect:{type(exc).__name__}")
            raise
        self.opened = self.rec.now()
        self.rec.connects.append((self.opened, (time.monotonic() - started) * 1000, again))
        now = time.monotonic()
        for item, (_, seq) in self.client.unacked.items():  # resent by connect
            self.sent_at[(item, seq)] = now
            self.rec.counts["resent"] += 1
        stored = welcome["answers"]
        for acked_item, seq in self.acked.items():
            row = stored.get(str(acked_item))
            if row is None or row["seq"] < seq:
                self.rec.error("resume_missing_answer")
        for key, row in stored.items():  # stored: acknowledged even if the ack was lost
            self.acked[int(key)] = max(self.acked.get(int(key), 0), row["seq"])
        if welcome["state"] in (p.SUBMITTED, p.ENDED):
            raise Finished
        self.check = welcome["check"]

    async def reconnect(self, dropped: bool) -> None:
        """Connect again (to the next node when there are several) until it works."""
        self._closed()
        bye = self.client.closed_with
        if bye and bye["code"] in (p.DONE, p.ENDED_BY_PROCTOR, p.NOT_ELIGIBLE, p.NOT_OPEN):
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

    async def send(self, message: p.ClientMessage) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.client.send(message)

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
            await self.send(p.Answer(type=p.ANSWER, item=item, choice=pending[0], seq=pending[1]))

    async def face_check(self, stage: str) -> None:
        """Film and send bursts until the check passes, as a page does: the challenge's
        actions shown by the clip (face/samples.py), filmed for the challenge's seconds; a
        busy verifier means: wait, send the same burst again."""
        frames: list[bytes] | None = None
        filmed_for = ""  # the challenge the frames were filmed for
        for attempt in itertools.count():
            if not await self.until(lambda: self.client.challenge is not None, 30):
                self.rec.error(f"face_{stage}_no_challenge")
                raise Finished
            challenge = self.client.challenge
            assert challenge is not None
            codes = [a["code"] for a in challenge["actions"]]
            if challenge["id"] != filmed_for:  # a new challenge (a reconnect): film again
                frames, filmed_for = None, challenge["id"]
            if frames is None:
                frames = samples.burst_for(codes, self.checks_passed)
                if frames is None:  # e.g. 张嘴: the clip cannot show it
                    self.rec.error("face_challenge_not_in_clip:" + "+".join(codes))
                    raise Finished
                await asyncio.sleep(float(challenge["seconds"]))  # filming
            started = time.monotonic()
            self.face_reply = None
            with contextlib.suppress(websockets.ConnectionClosed):
                await self.client.burst(frames, filmed_for)  # stale if a newer one came
            if not await self.until(lambda: self.face_reply is not None, 120):
                self.rec.error(f"face_{stage}_interrupted")
                if self.client.is_open:
                    raise Finished
                await self.reconnect(dropped=False)
                if self.check != stage:
                    return
                frames = None  # a new page, a new challenge
                continue
            result = self.face_reply
            assert result is not None
            ms = (time.monotonic() - started) * 1000
            if result.passed:
                self.rec.faces.append((self.rec.now(), stage, ms, "passed"))
                self.checks_passed += 1
                return
            if result.reason == p.BUSY:
                self.rec.faces.append((self.rec.now(), stage, ms, "busy"))
                await asyncio.sleep(2 * self.rng.uniform(0.5, 1.5))
                continue
            frames = None  # another challenge comes with the failure
            if result.reason == p.STALE:
                continue
            self.rec.faces.append((self.rec.now(), stage, ms, "failed"))
            self.rec.error(f"face_failed:{result.reason}")
            if result.tries_left <= 0 or attempt > 5:
                raise Finished
            await asyncio.sleep(1)

    async def submit(self) -> None:
        for _ in range(5):
            if not self.client.is_open:
                await self.reconnect(dropped=False)
            if self.check is None:
                await self.send(p.Submit(type=p.SUBMIT))
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
    ``OVERTIME`` (an overloaded server) are cut off and counted, so a run always ends.
    No full garbage collection runs meanwhile (core/gcpolicy.py): with thousands of
    simulated pages, one stopped the generator for up to 1.3 s and every reply that arrived
    meanwhile was timed that much late."""
    before = gcpolicy.hold_full_collections()
    try:
        return await _play(seats, plan)
    finally:
        gcpolicy.release(before)


async def _play(seats: list[Seat], plan: Plan) -> Recorder:
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
