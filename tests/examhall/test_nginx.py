"""nginx, run from the committed deploy/nginx/xjdk.conf (TLS with a throwaway certificate),
in front of two ``xjdk serve`` processes in production mode, JSON logs, trusting nginx alone:
a log-in, the portal, static files from nginx, a whole exam attempt with the real face
worker during which the web process holding the socket is killed and the page resumes on
the other one through nginx with every acknowledged answer; then ``xjdk loadtest`` through
nginx. Skipped without nginx locally; CI installs it (.ci/run)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from core.settings import Settings
from examhall import protocol as p
from examhall.client import HallClient
from models.exam import Answer, Attempt
from models.ops import AuditLog
from tests.browser import free_port
from tests.helpers import CSRF, TEST_PASSWORD
from tests.servers import Nginx, require_nginx, start_nginx, wait_up, web_process
from tests.sitting import key_of, live, question_bank, sitter, start
from tools import loadtest
from web.sessions import COOKIE

FAIL_TIMEOUT = 10  # deploy/nginx/xjdk.conf: fail_timeout=10s
CLIENT_ADDRESS = "127.0.0.3"  # the test's own loopback address, not nginx's 127.0.0.1


@dataclass
class Stack:
    settings: Settings
    redis_url: str
    folder: Path
    ports: list[int]
    nginx: Nginx
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    restarted_at: float = -1e9
    logs: list[IO[bytes]] = field(default_factory=list)

    def node(self, index: int) -> str:
        return f"http://127.0.0.1:{self.ports[index]}"

    def start_node(self, index: int) -> None:
        log = (self.folder / f"web{index}.log").open("ab")
        self.logs.append(log)
        proc = web_process(
            self.settings,
            self.redis_url,
            self.ports[index],
            log=log,
            PRODUCTION="1",
            LOG_FORMAT="json",
            FORWARDED_ALLOW_IPS="127.0.0.1",
        )
        if index < len(self.procs):
            self.procs[index] = proc
        else:
            self.procs.append(proc)

    async def ensure_up(self) -> None:
        """Every web process running (the dead ones started again)."""
        for index, proc in enumerate(self.procs):
            if proc.poll() is not None:
                self.start_node(index)
                self.restarted_at = time.monotonic()
        for index, proc in enumerate(self.procs):
            await wait_up(self.node(index), proc)

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for index in range(len(self.ports)):
            text = (self.folder / f"web{index}.log").read_text(errors="replace")
            lines += [json.loads(line) for line in text.splitlines() if line.strip()]
        return lines

    def raw_logs(self) -> str:
        return "".join(
            (self.folder / f"web{i}.log").read_text(errors="replace")
            for i in range(len(self.ports))
        )

    async def holder(self) -> int:
        """Which web process holds the hall's socket (its /metrics, read directly)."""
        async with httpx.AsyncClient() as http:
            for index in range(len(self.ports)):
                if self.procs[index].poll() is not None:
                    continue
                text = (await http.get(self.node(index) + "/metrics")).text
                if re.search(r"^xjdk_hall_sessions 1\.0$", text, flags=re.M):
                    return index
        raise AssertionError("no web process holds the socket")


@pytest_asyncio.fixture(scope="module")
async def stack(
    app: Starlette, settings: Settings, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    require_nginx()
    folder = tmp_path_factory.mktemp("nginx")
    ports = [free_port(), free_port()]
    nginx = start_nginx(folder, ports)
    built = Stack(settings, redis_url, folder, ports, nginx)
    previous = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(folder / "cert.pem")  # websockets and httpx trust it
    try:
        for index in range(2):
            built.start_node(index)
        await built.ensure_up()
        yield built
    finally:
        if previous is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = previous
        for proc in built.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in built.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for log in built.logs:
            log.close()
        nginx.stop()


def browser(stack: Stack) -> httpx.AsyncClient:
    """A client connecting from CLIENT_ADDRESS, trusting the test's certificate."""
    context = ssl.create_default_context(cafile=stack.folder / "cert.pem")
    transport = httpx.AsyncHTTPTransport(local_address=CLIENT_ADDRESS, verify=context)
    return httpx.AsyncClient(base_url=stack.nginx.https, transport=transport)


async def test_a_sitting_through_nginx_survives_a_killed_web_process(
    app: Starlette, client: httpx.AsyncClient, worker: Any, stack: Stack
) -> None:
    await stack.ensure_up()
    me = await sitter(app, client)  # the physician, enrolled, with a registered photo
    id_number = me.physician.id_number
    async with browser(stack) as web:
        login_page = await web.get("/login", params={"next": f"/physicians?q={id_number}"})
        assert login_page.status_code == 200 and login_page.headers["server"] == "nginx"
        token = CSRF.search(login_page.text)
        assert token is not None
        forged = {"X-Forwarded-For": "203.0.113.99", "X-Request-ID": "spoofed"}
        answer = await web.post(
            "/login",
            data={"username": id_number, "password": TEST_PASSWORD, "csrf_token": token[1]},
            headers=forged,
        )
        assert answer.status_code == 303, answer.text
        assert "Secure" in answer.headers["set-cookie"]  # PRODUCTION=1 behind TLS
        login_id = answer.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", login_id)  # nginx's $request_id, not the client's
        home = await web.get("/")
        assert home.status_code == 200 and me.physician.name in home.text
        assert "strict-transport-security" in home.headers
        assert (await web.get("/examhall/")).status_code == 200

        css = await web.get("/static/css/site.css")  # nginx's own answer, not the app's
        assert css.status_code == 200 and css.headers["cache-control"] == "no-cache"
        assert "content-security-policy" not in css.headers
        assert (await web.get("/metrics")).status_code == 403
        ready = await web.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        cookie = f"{COOKIE}={web.cookies[COOKIE]}"

    async with httpx.AsyncClient() as plain:  # port 80 sends everyone to HTTPS
        moved = await plain.get(stack.nginx.http + "/login")
        assert moved.status_code == 301 and moved.headers["location"].startswith("https://")

    # The per-address limits see the client nginx saw, not nginx, not a forged header.
    login = (
        await AuditLog.filter(action="login", actor_id=me.physician.account_id)
        .order_by("-id")
        .first()
    )
    assert login is not None and login.ip == CLIENT_ADDRESS

    hall = HallClient(stack.nginx.https, cookie)
    await start(hall)  # the start check: a real burst judged by the real face worker
    attempt = await Attempt.get(paper__physician_id=me.physician.id)
    right = {item["id"]: await key_of(item) for item in hall.items}
    first = hall.items[:4]
    for item in first:
        await hall.answer(item["id"], right[item["id"]])
    for item in first:
        await hall.expect(p.ACK, item=item["id"])
    acknowledged = {item["id"] for item in first}

    holder = await stack.holder()
    in_flight = hall.items[4]
    await hall.answer(in_flight["id"], right[in_flight["id"]])  # its ack may never come
    stack.procs[holder].send_signal(signal.SIGKILL)
    stack.procs[holder].wait(timeout=10)
    for _ in range(100):  # nginx closes the page's socket when its process is gone
        if not hall.is_open:
            break
        await asyncio.sleep(0.1)
    assert not hall.is_open

    welcome = await hall.connect()  # the page reconnects: nginx picks the live process
    assert welcome["state"] == p.TESTING
    assert acknowledged <= {int(k) for k in welcome["answers"]}
    assert await stack.holder() == 1 - holder
    await hall.expect(p.PAPER)
    for item in hall.items:
        if str(item["id"]) not in welcome["answers"] and item["id"] != in_flight["id"]:
            await hall.answer(item["id"], right[item["id"]])
            await hall.expect(p.ACK, item=item["id"])
    for _ in range(50):  # the resent in-flight answer is acknowledged too
        if not hall.unacked:
            break
        await asyncio.sleep(0.1)
    assert not hall.unacked
    await hall.send(p.Submit(type=p.SUBMIT))
    await hall.expect(p.CHECK, stage=p.FINAL)
    await hall.burst(live(hall, 1))
    assert (await hall.expect(p.CHECK_RESULT))["passed"]
    assert (await hall.expect(p.RESULT))["score"] == 100
    await hall.close()
    assert await Answer.filter(attempt_id=attempt.id).count() == len(hall.items)

    # One JSON object per line; the log-in's line carries nginx's request id and the account
    # (never the ID number the physician logged in with, anywhere in any log).
    lines = stack.log_lines()
    posted = [
        line
        for line in lines
        if line.get("route") == "/login" and line.get("method") == "POST"
        and line.get("request_id") == login_id
    ]  # fmt: skip
    assert len(posted) == 1, posted
    assert posted[0]["status"] == 303 and posted[0]["account_id"] == me.physician.account_id
    assert posted[0]["role"] == "web" and posted[0]["level"] == "INFO"
    assert login_id in stack.nginx.access_log  # the same request in nginx's log
    for text in (stack.raw_logs(), stack.nginx.access_log, stack.nginx.error_log):
        assert id_number not in text
    await stack.ensure_up()  # the killed process back, for the next test


async def test_loadtest_through_nginx(app: Starlette, settings: Settings, stack: Stack) -> None:
    """``xjdk loadtest --url https://nginx`` at toy scale: physicians spread by nginx over
    both web processes, some dropping and resuming, every acknowledged answer stored."""
    await stack.ensure_up()
    # nginx tries a process that failed again only after fail_timeout.
    await asyncio.sleep(max(stack.restarted_at + FAIL_TIMEOUT - time.monotonic(), 0))
    await question_bank()
    options = loadtest.Options(
        physicians=8,
        ramp=1.0,
        duration=6.0,
        pace=1.0,
        urls=[stack.nginx.https],
        no_face=True,
        questions=10,
        reconnect_share=0.5,
        hidden_share=0.0,
        logins=2,
        login_concurrency=2,
        seed=11,
    )
    report = await loadtest.run(settings, app.state.redis, app.state.face, options)
    f = report["figures"]
    assert report["reconciliation"]["ok"], report["reconciliation"]
    assert f["error_count"] == 0, f["errors"]
    assert f["failed_connections"] == 0 and f["answers_acked"] > 8
    assert report["logins"]["failed"] == 0 and report["logins"]["count"] == 2
    served = [line for line in stack.log_lines() if line.get("route") == "/examhall/ws"]
    assert {line["process"] for line in served} >= {p.pid for p in stack.procs}  # both
