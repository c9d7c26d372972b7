"""The protocol's messages on the wire, byte for byte: the page's script reads these exact
shapes (static/js/examhall.js), so the typed messages must write what the hall always wrote."""

from __future__ import annotations

import pytest

from examhall import protocol as p
from face.challenge import Challenge
from models.enums import FaceAction

CHALLENGE = Challenge("c0ffee", (FaceAction.OPEN_MOUTH,), frames=6, seconds=3.0).for_page()
HINT = CHALLENGE["actions"][0]["hint"]

WIRE: list[tuple[p.Message, str]] = [
    (p.Hello(type=p.HELLO, v=2), '{"type":"hello","v":2}'),
    (
        p.Answer(type=p.ANSWER, item=7, choice=["a1b2c3"], seq=3),
        '{"type":"answer","item":7,"choice":["a1b2c3"],"seq":3}',
    ),
    (p.Heartbeat(type=p.HEARTBEAT), '{"type":"heartbeat"}'),
    (p.Visibility(type=p.VISIBILITY, hidden=True), '{"type":"visibility","hidden":true}'),
    (p.Submit(type=p.SUBMIT), '{"type":"submit"}'),
    (
        p.Welcome(
            type=p.WELCOME,
            v=2,
            attempt=5,
            state=p.TESTING,
            remaining=1799.5,
            opens_in=0.0,
            answers={"7": {"choice": ["a1b2c3"], "seq": 3}},
            check=None,
            tries_left=3,
            question_count=10,
            duration=1800,
            pass_mark=60,
            photo=True,
        ),
        '{"type":"welcome","v":2,"attempt":5,"state":"testing","remaining":1799.5,'
        '"opens_in":0.0,"answers":{"7":{"choice":["a1b2c3"],"seq":3}},"check":null,'
        '"tries_left":3,"question_count":10,"duration":1800,"pass_mark":60,"photo":true}',
    ),
    (p.Ack(type=p.ACK, item=7, seq=3), '{"type":"ack","item":7,"seq":3}'),
    (
        p.Check(
            type=p.CHECK, stage=p.START, message="请正对摄像头", tries_left=3, challenge=CHALLENGE
        ),
        '{"type":"check","stage":"start","message":"请正对摄像头","tries_left":3,'
        '"challenge":{"id":"c0ffee","actions":[{"code":"open_mouth","label":"张嘴",'
        f'"hint":"{HINT}"}}],"frames":6,"seconds":3.0}}}}',
    ),
    (
        p.CheckResult(
            type=p.CHECK_RESULT,
            stage=p.RANDOM,
            passed=False,
            reason="no_face",
            message="未检测到人脸",
            tries_left=0,
            challenge=None,
        ),
        '{"type":"check_result","stage":"random","passed":false,"reason":"no_face",'
        '"message":"未检测到人脸","tries_left":0,"challenge":null}',
    ),
    (
        p.State(type=p.STATE, state=p.WAITING, remaining=1800.0, opens_in=12.5, message=""),
        '{"type":"state","state":"waiting","remaining":1800.0,"opens_in":12.5,"message":""}',
    ),
    (
        p.Result(type=p.RESULT, score=70, passed=True, pass_mark=60),
        '{"type":"result","score":70,"passed":true,"pass_mark":60}',
    ),
    (
        p.Error(type=p.ERROR, code=p.LOCKED, message="答题已锁定", item=7, seq=4),
        '{"type":"error","code":"locked","message":"答题已锁定","item":7,"seq":4}',
    ),
    (
        p.Error(type=p.ERROR, code=p.TOO_FAST, message="操作过于频繁，请稍候", refused="frame"),
        '{"type":"error","code":"too_fast","message":"操作过于频繁，请稍候","refused":"frame"}',
    ),
    (p.Notice(type=p.NOTICE, text="请摘下口罩"), '{"type":"notice","text":"请摘下口罩"}'),
    (
        p.Bye(type=p.BYE, code=p.DONE, message="试卷已提交"),
        '{"type":"bye","code":"done","message":"试卷已提交"}',
    ),
]


@pytest.mark.parametrize(("message", "wire"), WIRE, ids=[m["type"] for m, _ in WIRE])
def test_every_message_is_written_as_the_page_reads_it(message: p.Message, wire: str) -> None:
    assert p.encode(message) == wire
    if message["type"] in p.CLIENT_TYPES:
        assert p.decode(wire) == message
    else:
        assert p.decode_server(wire) == message


def test_every_type_has_a_message() -> None:
    assert {m["type"] for m, _ in WIRE} == {*p.CLIENT_TYPES, *p.SERVER_TYPES} - {p.PAPER}


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        '{"type":"welcome"}',  # a server's message from a client
        '{"type":"answer","item":0,"choice":[],"seq":1}',
        '{"type":"answer","item":1,"choice":[],"seq":true}',
        '{"type":"answer","item":1,"choice":"a1b2c3","seq":1}',
        '{"type":"answer","item":1,"choice":["1","2","3","4","5","6","7"],"seq":1}',
        '{"type":"visibility","hidden":"yes"}',
        "[" * 5000,
        '{"type":"heartbeat","pad":"' + "x" * p.MAX_TEXT_BYTES + '"}',
    ],
)
def test_a_client_message_out_of_shape_is_refused(text: str) -> None:
    with pytest.raises(p.ProtocolError):
        p.decode(text)


def test_a_burst_round_trips_and_a_broken_one_is_refused() -> None:
    frames = [b"\xff\xd8one", b"\xff\xd8two"]
    data = p.encode_burst("c0ffee", frames)
    assert data.startswith(p.BURST_MAGIC)
    assert p.decode_burst(data) == ("c0ffee", frames)
    for broken in (data[:-1], b"BRST\x00\x05{oops", b"\xff\xd8 a bare JPEG"):
        with pytest.raises(p.ProtocolError):
            p.decode_burst(broken)
