"""What is measured besides the played window: the reconciliation of every acknowledged
answer with the database, real log-ins, the baselines (a bare ``websockets`` echo server, the
hall saturated, raw ``face_recognition``) and the server processes the sampler watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
import re
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import websockets

from core.settings import Settings
from examhall import protocol as p
from examhall.client import HallClient
from tools.loadtest import report as report_
from tools.loadtest import sampler
from tools.loadtest.prepare import (
    PASSWORD,
    Options,
    Seat,
)
from tools.loadtest.report import Recorder


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
    transport = httpx.AsyncHTTPTransport()  # one pool: a client each for its own cookies

    async def one(username: str) -> None:
        nonlocal failed
        async with gate:
            http = httpx.AsyncClient(base_url=url, timeout=60, transport=transport)
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
    await transport.aclose()
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
    """Each client sends, waits for the answer, sends again (at most ``per_client_hz``).
    Every client is connected before the clock starts: the figure is the steady state."""
    latencies: list[float] = []
    gap = 1 / per_client_hz if per_client_hz else 0.0
    opened = await asyncio.gather(*(open_one(n) for n in range(clients)), return_exceptions=True)
    roundtrips = [r for r in opened if not isinstance(r, BaseException)]
    stop_at = time.monotonic() + seconds

    async def run(roundtrip: Callable[[], Awaitable[None]]) -> None:
        while time.monotonic() < stop_at:
            started = time.monotonic()
            await roundtrip()
            latencies.append((time.monotonic() - started) * 1000)
            if gap:
                await asyncio.sleep(max(0.0, gap - (time.monotonic() - started)))

    started = time.monotonic()
    await asyncio.gather(*(run(r) for r in roundtrips), return_exceptions=True)
    wall = time.monotonic() - started
    return {
        "clients": len(roundtrips),
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
        message = p.encode(p.Answer(type=p.ANSWER, item=123456, choice=["a1b2c3"], seq=1))

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
    from examhall.sitting import RATE

    rec = Recorder(time.time())
    clients: list[HallClient] = []

    async def open_one(n: int) -> Callable[[], Awaitable[None]]:
        seat = seats[n]
        acked = rec.acked.setdefault(seat.attempt_id, {})
        sent = rec.sent.setdefault(seat.attempt_id, {})
        box: dict[str, asyncio.Future[p.Ack | p.Error]] = {}

        def on_message(message: p.ServerMessage) -> None:
            if message["type"] == p.ACK:
                acked[message["item"]] = max(acked.get(message["item"], 0), message["seq"])
            waiting = "f" in box and not box["f"].done()
            if waiting and (message["type"] == p.ACK or message["type"] == p.ERROR):
                box["f"].set_result(message)

        client = HallClient(url, seat.cookie, on_message=on_message, inbox_limit=8)
        clients.append(client)
        for attempt in range(30):  # a refused entry (503) tries again, as the page does
            try:
                await client.connect()
                break
            except websockets.InvalidStatus:
                if attempt == 29:
                    raise
                await asyncio.sleep(1 + attempt % 3)
        await client.expect(p.PAPER, within=60)
        turn = itertools.cycle(client.items)

        async def roundtrip() -> None:
            item = next(turn)
            box["f"] = asyncio.get_running_loop().create_future()
            seq = await client.answer(item["id"], [item["options"][0]["id"]])
            sent[item["id"]] = seq
            answer = await asyncio.wait_for(box["f"], 30)
            if answer["type"] == p.ERROR:
                rec.error(f"error:{answer['code']}")

        return roundtrip

    try:
        figures = await closed_loop(len(seats), seconds, open_one, RATE * 0.9)
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()
    figures["errors"] = len(rec.errors)
    return figures, rec


def face_baseline(settings: Settings, processes: int, checks: int = 12) -> dict[str, Any]:
    """Raw analysis of the same live bursts the simulated pages send, no Redis."""
    from tools import face_bench

    turns = dataclasses.replace(settings, face_actions="turn_left,turn_right")
    return face_bench.raw_figures(face_bench.checks(checks), turns, processes)


def server_processes(options: Options) -> dict[str, int]:
    found: dict[str, int] = {}
    web: list[int] = []
    for url in options.urls:
        port = urlsplit(url).port or 80
        for pid in sampler.pids_listening(port):
            web.append(pid)
            found[f"web:{port}:{pid}"] = pid
            for child in sampler.children(pid):
                found[f"web:{port}:{child}"] = child
    for pid in sampler.face_worker_pids(web[0] if web else None):
        found[f"face:{pid}"] = pid
    for pid in options.pids:
        found[f"pid:{pid}"] = pid
    found[f"loadtest:{os.getpid()}"] = os.getpid()
    return found
