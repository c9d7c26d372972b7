"""Two web processes share the database and Redis: an attempt started against the first one
continues against the second after the first is killed (kill -9), with every acknowledged
answer and the same deadline."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from core.settings import Settings
from examhall import protocol as p
from examhall.client import HallClient
from models.exam import Answer, Attempt
from tests.browser import free_port
from tests.servers import wait_up, web_process
from tests.sitting import key_of, live, sitter, start


@pytest.fixture
def nodes(settings: Settings, redis_url: str) -> Iterator[list[tuple[str, Any]]]:
    started = []
    for _ in range(2):
        port = free_port()
        started.append((f"http://127.0.0.1:{port}", web_process(settings, redis_url, port)))
    yield started
    for _, proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


async def test_attempt_moves_to_another_node(
    app: Starlette, client: httpx.AsyncClient, worker: Any, nodes: list[tuple[str, Any]]
) -> None:
    (first_url, first), (second_url, second) = nodes
    await wait_up(first_url, first)
    await wait_up(second_url, second)
    me = await sitter(app, client)

    hall = HallClient(first_url, me.cookie)
    await start(hall)
    attempt = await Attempt.get(paper__physician_id=me.physician.id)
    right = {item["id"]: await key_of(item) for item in hall.items}
    answered = hall.items[:5]
    for item in answered:
        await hall.answer(item["id"], right[item["id"]])
    for item in answered:
        await hall.expect(p.ACK, item=item["id"])

    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    await hall.drop()

    moved = HallClient(second_url, me.cookie)
    moved.seqs = hall.seqs
    welcome = await moved.connect()
    assert welcome["state"] == p.TESTING
    assert {int(k) for k in welcome["answers"]} == {i["id"] for i in answered}
    deadline = (await Attempt.get(id=attempt.id)).deadline
    assert deadline is not None
    assert abs(welcome["remaining"] - (deadline.timestamp() - time.time())) < 5
    await moved.expect(p.PAPER)
    rest = [i for i in moved.items if i["id"] not in {a["id"] for a in answered}]
    for item in rest:
        await moved.answer(item["id"], right[item["id"]])
        await moved.expect(p.ACK, item=item["id"])
    await moved.send(p.Submit(type=p.SUBMIT))
    await moved.expect(p.CHECK, stage=p.FINAL)
    await moved.burst(live(moved, 1))
    assert (await moved.expect(p.CHECK_RESULT))["passed"]
    assert (await moved.expect(p.RESULT))["score"] == 100
    await moved.close()
    assert await Answer.filter(attempt_id=attempt.id).count() == len(moved.items)
