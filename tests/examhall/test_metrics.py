"""``/metrics`` scraped from a real uvicorn while a physician sits the test with the real face
worker: the hall's gauges and counters, the face checks, the log-ins and the requests move as
the attempt goes; and with ``xjdk serve --workers 2`` a scrape adds up both processes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from core.settings import Settings
from examhall import protocol as p
from examhall.client import HallClient
from tests.browser import free_port
from tests.helpers import TEST_PASSWORD, login
from tests.servers import wait_up, web_process
from tests.sitting import key_of, live, sitter, start


async def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``url``/metrics by (name, labels)."""
    async with httpx.AsyncClient() as http:
        answer = await http.get(url + "/metrics")
    assert answer.status_code == 200, answer.status_code
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_counters_move_during_an_attempt(
    app: Starlette, client: httpx.AsyncClient, worker: Any, base_url: str
) -> None:
    before = await scrape(base_url)
    me = await sitter(app, client)
    assert (await login(client, me.physician.id_number, "wrong-password")).status_code == 400

    hall = HallClient(base_url, me.cookie)
    await start(hall)
    right = {item["id"]: await key_of(item) for item in hall.items}
    for item in hall.items[:3]:
        await hall.answer(item["id"], right[item["id"]])
        await hall.expect(p.ACK, item=item["id"])
    during = await scrape(base_url)

    assert value(during, "xjdk_hall_sessions") == 1
    assert value(during, "xjdk_hall_entering") == 0
    acked = value(during, "xjdk_hall_answers_acked_total")
    assert acked - value(before, "xjdk_hall_answers_acked_total") == 3
    count = "xjdk_hall_ack_seconds_count"
    assert value(during, count) - value(before, count) == 3
    passed = {"stage": p.START, "outcome": "passed"}
    assert value(during, "xjdk_face_checks_total", **passed) == (
        value(before, "xjdk_face_checks_total", **passed) + 1
    )
    checked = value(during, "xjdk_face_check_seconds_count", stage=p.START)
    assert checked == value(before, "xjdk_face_check_seconds_count", stage=p.START) + 1
    assert value(during, "xjdk_face_check_seconds_sum", stage=p.START) > 0
    for outcome in ("ok", "failed"):
        moved = value(during, "xjdk_logins_total", outcome=outcome)
        assert moved == value(before, "xjdk_logins_total", outcome=outcome) + 1
    posted = {"method": "POST", "route": "/login", "status": "303"}
    assert value(during, "xjdk_http_requests_total", **posted) >= 1

    # Admission control: a process whose line is full refuses, and says how often.
    state = app.state.hall
    line = state.settings.exam_entry_limit * 4
    state.queued += line
    try:
        url = base_url.replace("http", "ws") + p.PATH
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(url, additional_headers={"Cookie": me.cookie})
        full = await scrape(base_url)
        assert value(full, "xjdk_hall_queued") == line
    finally:
        state.queued -= line
    refused = value(full, "xjdk_hall_refused_total") - value(during, "xjdk_hall_refused_total")
    assert refused == 1

    await hall.send(p.Submit(type=p.SUBMIT))
    await hall.expect(p.CHECK, stage=p.FINAL)
    await hall.burst(live(hall, 1))
    assert (await hall.expect(p.CHECK_RESULT))["passed"]
    await hall.expect(p.RESULT)
    await hall.close()
    for _ in range(50):
        after = await scrape(base_url)
        if value(after, "xjdk_hall_sessions") == 0:
            break
        await asyncio.sleep(0.1)
    assert value(after, "xjdk_hall_sessions") == 0
    final = {"stage": p.FINAL, "outcome": "passed"}
    assert value(after, "xjdk_face_checks_total", **final) >= 1


async def test_lock_outs_are_counted(
    app: Starlette, client: httpx.AsyncClient, settings: Settings, base_url: str, worker: Any
) -> None:
    me = await sitter(app, client)
    before = await scrape(base_url)
    client.cookies.clear()
    for _ in range(settings.login_max_failures_account):
        await login(client, me.physician.id_number, "wrong-password")
    held = await login(client, me.physician.id_number, TEST_PASSWORD)
    assert held.status_code == 429
    after = await scrape(base_url)
    for outcome, moved in (("failed", settings.login_max_failures_account - 1), ("locked", 1)):
        delta = value(after, "xjdk_logins_total", outcome=outcome)
        assert delta - value(before, "xjdk_logins_total", outcome=outcome) == moved
    assert value(after, "xjdk_logins_total", outcome="held") >= 1


async def test_two_uvicorn_workers_are_added_up(
    app: Starlette, settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    """prometheus-client's multiprocess mode: whichever worker answers the scrape, it
    counts both workers' requests."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "web.log").open("wb") as log:
        proc = web_process(settings, redis_url, port, log=log, workers=2, LOG_FORMAT="json")
        try:
            await wait_up(url, proc)
            fresh = httpx.Limits(max_keepalive_connections=0)  # a new connection each time
            async with httpx.AsyncClient(limits=fresh) as http:
                pages = await asyncio.gather(*(http.get(url + "/login") for _ in range(40)))
            assert all(page.status_code == 200 for page in pages)
            for _ in range(6):  # answered by either worker, each time
                samples = await scrape(url)
                ok = {"method": "GET", "route": "/login", "status": "200"}
                assert value(samples, "xjdk_http_requests_total", **ok) == 40
                assert value(samples, "xjdk_hall_sessions") == 0
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    lines = [json.loads(line) for line in (tmp_path / "web.log").read_text().splitlines()]
    served = {line["process"] for line in lines if line.get("route") == "/login"}
    assert len(served) == 2  # both workers answered some of them
