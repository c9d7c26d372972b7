"""The exam hall over a real uvicorn, with real `websockets` clients, real face workers and
real bursts of the clip (face/samples.py): a whole attempt, failed and passed checks, resume,
take-over, the deadline."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from starlette.applications import Starlette

from examhall import protocol as p
from examhall.client import HallClient
from models.enums import AttemptStatus, FaceStage, Phase, Procedure
from models.exam import Answer, Attempt, AttemptEvent, FaceCheck, Paper
from models.period import Enrollment, PhaseWindow
from tests.face_helpers import grey_jpeg
from tests.sitting import key_of, live, opposite, recheck, sitter, start


async def test_a_whole_attempt(
    app: Starlette, client: httpx.AsyncClient, base_url: str, worker: Any
) -> None:
    me = await sitter(app, client)
    hall = HallClient(base_url, me.cookie)
    await start(hall)
    assert len(hall.items) == 10
    assert all("answer" not in item for item in hall.items)  # no key reaches the page
    attempt = await Attempt.get(paper__physician_id=me.physician.id)
    assert attempt.status == AttemptStatus.IN_PROGRESS and attempt.deadline is not None
    assert attempt.random_check_at is not None
    share = (attempt.random_check_at - attempt.started_at).total_seconds() / (30 * 60)
    assert 0.2 <= share <= 0.8

    right = {item["id"]: await key_of(item) for item in hall.items}
    first, *rest = hall.items
    for item in rest[:6]:
        await hall.answer(item["id"], right[item["id"]])
    for item in rest[:6]:
        await hall.expect(p.ACK, item=item["id"])
    assert not hall.unacked

    # The random check: answering pauses until a burst of the asked action passes.
    await Attempt.filter(id=attempt.id).update(
        random_check_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    await recheck(app, attempt.id)
    await hall.expect(p.CHECK, stage=p.RANDOM)
    await hall.answer(first["id"], right[first["id"]])
    paused = await hall.expect(p.ERROR, item=first["id"])
    assert paused["code"] == p.PAUSED
    asked = hall.challenge
    assert asked is not None
    await hall.burst(opposite(hall))  # a real turn, the other way
    refused = await hall.expect(p.CHECK_RESULT)
    assert not refused["passed"] and refused["reason"] == "no_action"
    label = asked["actions"][0]["label"]
    assert f"未完成指定动作（请{label}）" in refused["message"] and refused["tries_left"] == 2
    assert refused["challenge"]["id"] != asked["id"]  # every try has its own challenge
    await hall.burst(live(hall, 1))
    assert (await hall.expect(p.CHECK_RESULT))["passed"]
    await hall.expect(p.STATE, state=p.TESTING)
    await hall.answer(first["id"], right[first["id"]])
    await hall.expect(p.ACK, item=first["id"], seq=2)

    await hall.send(p.Submit(type=p.SUBMIT))
    await hall.expect(p.CHECK, stage=p.FINAL)
    await hall.burst(live(hall, 2))
    assert (await hall.expect(p.CHECK_RESULT))["passed"]
    result = await hall.expect(p.RESULT)
    assert result == {"type": p.RESULT, "score": 70, "passed": True, "pass_mark": 60}
    bye = await hall.expect(p.BYE)
    assert bye["code"] == p.DONE
    await hall.close()

    attempt = await Attempt.get(id=attempt.id)
    assert attempt.status == AttemptStatus.SUBMITTED and attempt.score == 70 and attempt.passed
    assert not attempt.flagged and attempt.time_credit_seconds > 0
    checks = await FaceCheck.filter(attempt_id=attempt.id).order_by("id")
    assert [(c.stage, c.passed) for c in checks] == [
        (FaceStage.START, True),
        (FaceStage.RANDOM, False),
        (FaceStage.RANDOM, True),
        (FaceStage.SUBMIT, True),
    ]
    await app.state.hall.writes.flush()  # timeline events are written behind
    kinds = [e.kind async for e in AttemptEvent.filter(attempt_id=attempt.id)]
    for kind in ("connected", "started", "check_asked", "check_failed", "submitted"):
        assert kind in kinds
    # Coming back shows the result and nothing else.
    again = HallClient(base_url, me.cookie)
    welcome = await again.connect()
    assert welcome["state"] == p.SUBMITTED
    assert (await again.expect(p.RESULT))["score"] == 70
    await again.close()
    assert app.state.hall.entering == 0  # every entry was counted out again
    guide = (await client.get("/")).text  # the physician's guide has moved on
    assert "已交卷：70 分，合格" in guide


async def test_resume_and_take_over(
    app: Starlette, client: httpx.AsyncClient, base_url: str, worker: Any
) -> None:
    me = await sitter(app, client)
    hall = HallClient(base_url, me.cookie)
    await start(hall)
    items = hall.items
    for item in items[:3]:
        await hall.answer(item["id"], [item["options"][0]["id"]])
        await hall.expect(p.ACK, item=item["id"])
    await hall.answer(items[3]["id"], [items[3]["options"][1]["id"]])
    await hall.drop()  # cut before (maybe) the ack arrived

    again = HallClient(base_url, me.cookie)
    again.unacked = dict(hall.unacked)
    again.seqs = hall.seqs
    welcome = await again.connect()
    assert welcome["state"] == p.TESTING and welcome["check"] is None
    assert {int(k) for k in welcome["answers"]} >= {i["id"] for i in items[:3]}
    assert 29 * 60 < welcome["remaining"] <= 30 * 60
    await again.expect(p.PAPER)
    await asyncio.sleep(0.2)
    while again.unacked:
        await again.expect(p.ACK)
    stored = await Answer.filter(attempt__paper__physician_id=me.physician.id).count()
    assert stored == 4

    # A second page for the same attempt takes over; the first is told and closed.
    third = HallClient(base_url, me.cookie)
    await third.connect()
    bye = await again.expect(p.BYE)
    assert bye["code"] == p.TAKEN_OVER and "另一个页面" in bye["message"]
    await third.close()
    await again.close()


async def test_deadline_locks_answers_and_sweep_flags(
    app: Starlette, client: httpx.AsyncClient, base_url: str, worker: Any
) -> None:
    me = await sitter(app, client)
    hall = HallClient(base_url, me.cookie)
    await start(hall)
    attempt = await Attempt.get(paper__physician_id=me.physician.id)
    await Attempt.filter(id=attempt.id).update(deadline=datetime.now(UTC) + timedelta(seconds=1))
    await recheck(app, attempt.id)
    finishing = await hall.expect(p.STATE, state=p.FINISHING, within=10)
    assert "时间到" in finishing["message"]
    await hall.expect(p.CHECK, stage=p.FINAL)
    item = hall.items[0]
    await hall.answer(item["id"], [item["options"][0]["id"]])
    locked = await hall.expect(p.ERROR, item=item["id"])
    assert locked["code"] == p.LOCKED
    assert not await Answer.filter(attempt_id=attempt.id).exists()
    await hall.close()

    # Nobody finished the submit check: after the grace period the sweep grades and flags.
    swept = await app.state.hall.sweep(datetime.now(UTC) + timedelta(hours=1))
    assert swept >= 1
    attempt = await Attempt.get(id=attempt.id)
    assert attempt.status == AttemptStatus.SUBMITTED and attempt.score == 0
    assert attempt.flagged and "未核验" in attempt.flag_reason


async def test_who_may_enter(
    app: Starlette, client: httpx.AsyncClient, base_url: str, worker: Any
) -> None:
    me = await sitter(app, client)
    url = base_url.replace("http", "ws") + p.PATH
    with pytest.raises(websockets.InvalidStatus) as anonymous:
        await websockets.connect(url)
    assert anonymous.value.response.status_code == 403
    with pytest.raises(websockets.InvalidStatus) as foreign:
        await websockets.connect(
            url, additional_headers={"Cookie": me.cookie, "Origin": "https://evil.example"}
        )
    assert foreign.value.response.status_code == 403

    # Every entry slot taken: a handshake waits in line a moment (here 0.5 s), then is
    # refused with 503 and Retry-After; a slot freed meanwhile lets it in.
    hall = app.state.hall
    before = hall.settings
    hall.settings = dataclasses.replace(before, exam_entry_wait_seconds=0.5)
    for _ in range(before.exam_entry_limit):
        await hall.entry.acquire()
    try:
        with pytest.raises(websockets.InvalidStatus) as busy:
            await websockets.connect(url, additional_headers={"Cookie": me.cookie})
        assert busy.value.response.status_code == 503
        assert busy.value.response.headers["Retry-After"] == "3"
        assert "稍候" in busy.value.response.body.decode()
        refused = hall.refused
        waiting = HallClient(base_url, me.cookie)
        entering = asyncio.create_task(waiting.connect())
        await asyncio.sleep(0.2)
        hall.entry.release()  # one physician got in: the line moves
        assert (await entering)["state"] in (p.WAITING, p.TESTING)
        assert hall.refused == refused
        await waiting.close()
        await hall.entry.acquire()
    finally:
        for _ in range(before.exam_entry_limit):
            hall.entry.release()
        hall.settings = before

    # Before the waiting room opens the hall says when it will.
    await PhaseWindow.filter(period_id=me.period.id, phase=Phase.TEST).update(
        starts_at=datetime.now(UTC) + timedelta(hours=3),
        ends_at=datetime.now(UTC) + timedelta(hours=5),
    )
    early = HallClient(base_url, me.cookie)
    with pytest.raises(ConnectionError):
        await early.connect()
    assert early.closed_with is not None and early.closed_with["code"] == p.NOT_OPEN
    assert "候考室" in early.closed_with["message"]

    # Inside the waiting room the start check passes, and the test waits for the window.
    await PhaseWindow.filter(period_id=me.period.id, phase=Phase.TEST).update(
        starts_at=datetime.now(UTC) + timedelta(minutes=10)
    )
    waiting = HallClient(base_url, me.cookie, origin=base_url)
    welcome = await waiting.connect()
    assert welcome["state"] == p.WAITING and welcome["opens_in"] > 500
    await waiting.expect(p.CHECK, stage=p.START)
    await waiting.burst(live(waiting))
    assert (await waiting.expect(p.CHECK_RESULT))["passed"]
    state = await waiting.expect(p.STATE)
    assert state["state"] == p.WAITING and "候考室" in state["message"]
    await waiting.send(p.Answer(type=p.ANSWER, item=1, choice=[], seq=1))
    assert (await waiting.expect(p.ERROR))["code"] == p.NOT_STARTED
    assert not waiting.items
    await waiting.close()
    assert (await Paper.get(physician_id=me.physician.id)) is not None


async def test_bad_input_changes_nothing(
    app: Starlette, client: httpx.AsyncClient, base_url: str, worker: Any
) -> None:
    me = await sitter(app, client)
    hall = HallClient(base_url, me.cookie)
    await start(hall)
    item = hall.items[0]
    assert hall.ws is not None
    deep = "[" * 2000 + "]" * 2000  # 4 KB that exhausts a recursive parser
    huge_seq = f'{{"type": "answer", "item": {item["id"]}, "choice": [], "seq": {2**70}}}'
    for raw in (
        "not json",
        '{"type": "nope"}',
        '{"type": "answer", "item": "x", "seq": 1}',
        deep,
        huge_seq,
    ):
        await hall.ws.send(raw)
        assert (await hall.expect(p.ERROR))["code"] == p.BAD_MESSAGE
    await hall.send(p.Answer(type=p.ANSWER, item=999_999, choice=[], seq=1))
    assert (await hall.expect(p.ERROR, item=999_999))["code"] == p.BAD_MESSAGE
    await hall.send(p.Answer(type=p.ANSWER, item=item["id"], choice=["forged"], seq=1))
    assert (await hall.expect(p.ERROR, item=item["id"]))["code"] == p.BAD_MESSAGE
    await hall.burst([grey_jpeg()], "none")  # no check is pending
    assert (await hall.expect(p.ERROR))["code"] == p.NO_CHECK
    for _ in range(100):  # faster than a person can act
        await hall.send(p.Heartbeat(type=p.HEARTBEAT))
    flood = await hall.expect(p.ERROR, code=p.TOO_FAST)
    assert flood["refused"] == p.HEARTBEAT
    attempt = await Attempt.get(paper__physician_id=me.physician.id)
    assert not await Answer.filter(attempt_id=attempt.id).exists()
    await hall.close()

    # Not a JPEG, at a check: refused with the reason, another try allowed.
    await hall.connect()
    await hall.send(p.Submit(type=p.SUBMIT))
    await asyncio.sleep(0.2)
    await hall.expect(p.CHECK, stage=p.FINAL)
    await hall.burst([b"GIF89a this is no photo"] * 4)
    unreadable = await hall.expect(p.CHECK_RESULT)
    assert not unreadable["passed"] and unreadable["tries_left"] == 2
    assert unreadable["reason"] == "unreadable"
    assert (await Attempt.get(id=attempt.id)).status == AttemptStatus.IN_PROGRESS
    # A burst that is no burst, or one for a challenge no longer asked: no try is spent.
    assert hall.ws is not None
    await hall.ws.send(b"\xff\xd8 a bare JPEG, as version 1 sent")
    assert (await hall.expect(p.ERROR, code=p.BAD_MESSAGE))["refused"] == "frame"
    await hall.ws.send(p.BURST_MAGIC + b"\x00\x05{oops")
    await hall.expect(p.ERROR, code=p.BAD_MESSAGE)
    await hall.burst(live(hall, 1), challenge="an-old-one")
    stale = await hall.expect(p.ERROR, code=p.STALE)
    assert stale["challenge"]["id"] == hall.challenge["id"]
    assert await FaceCheck.filter(attempt_id=attempt.id).count() == 2
    # Two more failed submit checks use the tries up; a reconnect still asks for the submit
    # check (the request to hand in is remembered), it does not reopen answering.
    for _ in range(2):
        await hall.burst(opposite(hall))
        await hall.expect(p.CHECK_RESULT)
    assert (await Attempt.get(id=attempt.id)).flagged
    await hall.close()
    welcome = await hall.connect()
    assert welcome["state"] == p.FINISHING and welcome["check"] == p.FINAL
    assert welcome["tries_left"] == 0
    await hall.close()

    # A simplified-procedure physician has no test.
    other = await sitter(app, client)
    await Enrollment.filter(physician_id=other.physician.id).update(procedure=Procedure.SIMPLIFIED)
    refused = HallClient(base_url, other.cookie)
    with pytest.raises(ConnectionError):
        await refused.connect()
    assert refused.closed_with is not None and refused.closed_with["code"] == p.NOT_ELIGIBLE


async def test_an_ended_log_in_closes_the_hall(
    app: Starlette, client: httpx.AsyncClient, base_url: str, worker: Any
) -> None:
    """A password changed or reset elsewhere, or the account disabled, ends the log-in: the
    open hall finds out at its next heartbeat and closes for good."""
    me = await sitter(app, client)
    hall = HallClient(base_url, me.cookie)
    await start(hall)
    await hall.send(p.Heartbeat(type=p.HEARTBEAT))
    await asyncio.sleep(0.2)
    assert hall.is_open
    await app.state.sessions.end_all(me.physician.account_id)
    await hall.send(p.Heartbeat(type=p.HEARTBEAT))
    bye = await hall.expect(p.BYE)
    assert bye["code"] == p.LOGGED_OUT and bye["code"] in p.FINAL_BYES
    assert "重新登录" in bye["message"]
    await hall.close()
