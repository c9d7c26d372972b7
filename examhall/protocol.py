"""The exam hall's wire protocol, version 2: the one definition that the server, the page,
the tests and the load-test client follow.

One WebSocket per attempt at ``/examhall/ws``, opened by a logged-in physician (the session
cookie), from the portal's own origin. Text messages are JSON objects with a ``type``;
binary messages are bursts of webcam frames answering the face check that is pending. The
server is the authority on time, questions, answers, checks and the score.

Version 2 (live face checks): a ``check`` carries a challenge (actions chosen by the server
for this try); the page films a burst of frames while the physician performs them and sends
the burst as one binary message (``encode_burst``). A failed try comes with the next
challenge. Version 1 pages (one still frame per check) are told to reload.

Client → server
  hello       {v}                          first message; the server answers ``welcome``
  answer      {item, choice, seq}          choice: option ids; seq grows per item and makes
                                           a resend idempotent (``item:seq`` is the key)
  heartbeat   {}                           every ~10 s; the monitor shows the last one
  visibility  {hidden}                     the page was hidden or shown again
  submit      {}                           hand in: the server asks for the submit check
  (binary)    burst                        the frames filmed for the pending challenge:
                                           b"BRST", a 2-byte big-endian header length, the
                                           header (JSON {challenge, sizes}), then the JPEGs
                                           one after another (``encode_burst``)

Server → client
  welcome     {v, attempt, state, remaining, opens_in, answers, check, tries_left,
               question_count, duration, pass_mark, photo}
              photo: false when the physician has no registered photo (no check can pass:
              the institution must 更换照片 first)
              answers: {item: {choice, seq}} already stored (resend what is missing)
  paper       {items: [{id, position, type, stem, options: [{id, text}]}]}  after the
              start check; never carries the answer key
  ack         {item, seq}                  stored in the database; safe to forget
  check       {stage, message, tries_left, challenge}  film and send a burst now (start /
              random / submit); challenge: {id, actions: [{code, label, hint}], frames,
              seconds}: perform the actions in order while ``frames`` frames are taken over
              ``seconds`` seconds
  check_result {stage, passed, reason, message, tries_left, challenge?}  reason: a
              FaceReason value, "busy" (the verifier is saturated: send the same burst again),
              "limit" (no tries left: a proctor decides) or "no_reference" (no registered
              photo: not counted as a try); challenge: the next one, after a failed try
  state       {state, remaining, opens_in, message}  the attempt moved on (see STATES);
              also re-sent every 30 s as the clock (opens_in: seconds until the window opens)
  result      {score, passed, pass_mark}   the paper is graded; the hall closes
  error       {code, message, refused?, item?, seq?}  a refused message; the connection
              stays open. refused: the type of the message refused ("frame" for a binary
              one); item and seq when an answer was refused (the page keeps it and resends)
  notice      {text}                       a proctor's message
  bye         {code, message}              sent just before the server closes the socket

Times are seconds (floats) remaining as the server counts them; clients show them and
never decide anything on their own clock.

In Python each message is a TypedDict below (``Ack``, ``CheckResult``, …; ``ClientMessage``
and ``ServerMessage`` are their unions, told apart by ``type``): the hall builds them,
``encode`` writes them, ``decode`` checks a client's, ``decode_server`` reads a server's (the
client of examhall/client.py and the load-test tool), and mypy checks every field on both
sides. The page's script gets the names from ``for_page``.
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal, NotRequired, TypedDict, cast

from face.challenge import PageChallenge

VERSION: Final = 2
PATH: Final = "/examhall/ws"

# client → server
HELLO: Final = "hello"
ANSWER: Final = "answer"
HEARTBEAT: Final = "heartbeat"
VISIBILITY: Final = "visibility"
SUBMIT: Final = "submit"
CLIENT_TYPES = (HELLO, ANSWER, HEARTBEAT, VISIBILITY, SUBMIT)

# server → client
WELCOME: Final = "welcome"
PAPER: Final = "paper"
ACK: Final = "ack"
CHECK: Final = "check"
CHECK_RESULT: Final = "check_result"
STATE: Final = "state"
RESULT: Final = "result"
ERROR: Final = "error"
NOTICE: Final = "notice"
BYE: Final = "bye"
SERVER_TYPES = (WELCOME, PAPER, ACK, CHECK, CHECK_RESULT, STATE, RESULT, ERROR, NOTICE, BYE)

# attempt states as the client sees them
WAITING: Final = "waiting"  # the waiting room: the start check can be passed, not begun
TESTING: Final = "testing"  # questions can be answered
CHECKING: Final = "checking"  # a random check is pending: answering is paused
FINISHING: Final = "finishing"  # the submit check is pending (asked for, or the time is up)
SUBMITTED: Final = "submitted"  # graded
ENDED: Final = "ended"  # ended by a proctor or voided
STATES = (WAITING, TESTING, CHECKING, FINISHING, SUBMITTED, ENDED)

# face-check stages
START: Final = "start"
RANDOM: Final = "random"
FINAL: Final = "submit"

# error and bye codes
BAD_MESSAGE: Final = "bad_message"
TOO_FAST: Final = "too_fast"
PAUSED: Final = "paused"
LOCKED: Final = "locked"
NOT_STARTED: Final = "not_started"
NO_CHECK: Final = "no_check"
BUSY: Final = "busy"
TAKEN_OVER: Final = "taken_over"
NOT_OPEN: Final = "not_open"
NOT_ELIGIBLE: Final = "not_eligible"
DONE: Final = "done"
ENDED_BY_PROCTOR: Final = "ended_by_proctor"
STALE: Final = "stale"  # a burst for a challenge that is no longer the pending one
LOGGED_OUT: Final = "logged_out"  # the log-in ended (password changed, account disabled)

# check_result reasons besides the FaceReason values
LIMIT: Final = "limit"  # no tries left: a proctor decides
NO_REFERENCE: Final = "no_reference"  # no registered photo: nothing to compare with, not a try

MAX_TEXT_BYTES = 8 * 1024  # a text message larger than this is refused
MAX_MESSAGE_BYTES = 2 * 1024 * 1024  # any message (a burst included): the server's limit
MAX_BURST_FRAMES = 30
MAX_NUMBER = 2**31 - 1  # item ids and sequence numbers fit a database integer
BURST_MAGIC = b"BRST"


# --- the messages ------------------------------------------------------------------------
# TypedDicts: plain dicts at run time (nothing is checked or copied on the hot path), checked
# by mypy where they are built and read. A message is built with its type first and its
# fields in the order below: the JSON keeps that order.


class Hello(TypedDict):
    type: Literal["hello"]
    v: int


class Answer(TypedDict):
    type: Literal["answer"]
    item: int
    choice: list[str]  # option ids
    seq: int


class Heartbeat(TypedDict):
    type: Literal["heartbeat"]


class Visibility(TypedDict):
    type: Literal["visibility"]
    hidden: bool


class Submit(TypedDict):
    type: Literal["submit"]


ClientMessage = Hello | Answer | Heartbeat | Visibility | Submit


class StoredAnswer(TypedDict):
    choice: list[str]
    seq: int


class Welcome(TypedDict):
    type: Literal["welcome"]
    v: int
    attempt: int
    state: str  # one of STATES
    remaining: float
    opens_in: float
    answers: dict[str, StoredAnswer]  # by item id (a JSON key: a string)
    check: str | None  # the stage pending
    tries_left: int
    question_count: int
    duration: int  # seconds
    pass_mark: int
    photo: bool


class Option(TypedDict):
    id: str
    text: str


class Item(TypedDict):
    id: int
    position: int
    type: str  # a QuestionType value
    stem: str
    options: list[Option]


class Paper(TypedDict):
    """Assembled from cached JSON fragments by ``examhall.papers.load_paper``."""

    type: Literal["paper"]
    items: list[Item]


class Ack(TypedDict):
    type: Literal["ack"]
    item: int
    seq: int


class Check(TypedDict):
    type: Literal["check"]
    stage: str
    message: str
    tries_left: int
    challenge: PageChallenge


class CheckResult(TypedDict):
    type: Literal["check_result"]
    stage: str
    passed: bool
    reason: str  # a FaceReason value, BUSY, LIMIT or NO_REFERENCE
    message: str
    tries_left: int
    challenge: NotRequired[PageChallenge | None]  # the next one, after a failed try


class State(TypedDict):
    type: Literal["state"]
    state: str
    remaining: float
    opens_in: float
    message: str


class Result(TypedDict):
    type: Literal["result"]
    score: int
    passed: bool
    pass_mark: int


class Error(TypedDict):
    type: Literal["error"]
    code: str
    message: str
    refused: NotRequired[str]  # the type of the message refused, "frame" for a burst
    item: NotRequired[int]  # an answer refused: kept by the page and sent again
    seq: NotRequired[int]
    challenge: NotRequired[PageChallenge | None]  # STALE: the challenge pending now


class Notice(TypedDict):
    type: Literal["notice"]
    text: str


class Bye(TypedDict):
    type: Literal["bye"]
    code: str
    message: str


ServerMessage = Welcome | Paper | Ack | Check | CheckResult | State | Result | Error | Notice | Bye
Message = ClientMessage | ServerMessage


class ProtocolError(ValueError):
    """A client message that does not follow the protocol."""


# One encoder for every message: json.dumps with these arguments would build a new one each time.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def encode(message: Message) -> str:
    """A message as it goes on the wire: compact JSON, non-ASCII text as is."""
    return _encode(message)


def decode(text: str) -> ClientMessage:
    """A client's text message, checked for shape (not for meaning)."""
    if len(text.encode()) > MAX_TEXT_BYTES:
        raise ProtocolError("消息过大")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):  # deep nesting exhausts the parser's stack
        raise ProtocolError("消息格式错误") from None
    if not isinstance(message, dict) or message.get("type") not in CLIENT_TYPES:
        raise ProtocolError("未知的消息类型")
    if message["type"] == ANSWER:
        item, choice, seq = message.get("item"), message.get("choice"), message.get("seq")
        if not isinstance(item, int) or not isinstance(seq, int) or isinstance(seq, bool):
            raise ProtocolError("答案消息缺少题目或序号")
        if not (0 < item <= MAX_NUMBER and 0 < seq <= MAX_NUMBER):
            raise ProtocolError("题目或序号无效")
        if not isinstance(choice, list) or not all(isinstance(c, str) for c in choice):
            raise ProtocolError("答案格式错误")
        if len(choice) > 6:
            raise ProtocolError("答案格式错误")
    if message["type"] == VISIBILITY and not isinstance(message.get("hidden"), bool):
        raise ProtocolError("页面状态格式错误")
    return cast(ClientMessage, message)


def decode_server(text: str | bytes) -> ServerMessage:
    """A server's message as a client reads it: trusted, not checked."""
    message: ServerMessage = json.loads(text)
    return message


def encode_burst(challenge: str, frames: list[bytes]) -> bytes:
    """The binary message of a burst (what the page builds with a Blob)."""
    header = json.dumps({"challenge": challenge, "sizes": [len(f) for f in frames]}).encode()
    return BURST_MAGIC + len(header).to_bytes(2, "big") + header + b"".join(frames)


def decode_burst(data: bytes) -> tuple[str, list[bytes]]:
    """The challenge id and the frames of a burst, checked for shape (not for content)."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError("人脸识别画面过大")
    if len(data) < 6 or data[:4] != BURST_MAGIC:
        raise ProtocolError("人脸识别画面格式错误，请刷新页面")
    length = int.from_bytes(data[4:6], "big")
    try:
        header = json.loads(data[6 : 6 + length])
    except (ValueError, RecursionError):
        raise ProtocolError("人脸识别画面格式错误，请刷新页面") from None
    challenge = header.get("challenge") if isinstance(header, dict) else None
    sizes = header.get("sizes") if isinstance(header, dict) else None
    if not isinstance(challenge, str) or not isinstance(sizes, list):
        raise ProtocolError("人脸识别画面格式错误，请刷新页面")
    if not 0 < len(sizes) <= MAX_BURST_FRAMES or not all(
        isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes
    ):
        raise ProtocolError("人脸识别画面数量不符")
    body = data[6 + length :]
    if sum(sizes) != len(body):
        raise ProtocolError("人脸识别画面不完整，请重新拍摄")
    frames, at = [], 0
    for n in sizes:
        frames.append(body[at : at + n])
        at += n
    return challenge[:64], frames


CODES = (
    BAD_MESSAGE,
    TOO_FAST,
    PAUSED,
    LOCKED,
    NOT_STARTED,
    NO_CHECK,
    BUSY,
    TAKEN_OVER,
    NOT_OPEN,
    NOT_ELIGIBLE,
    DONE,
    ENDED_BY_PROCTOR,
    STALE,
    LOGGED_OUT,
)
# After a bye with one of these a page stays closed: reconnecting cannot help.
FINAL_BYES = (TAKEN_OVER, DONE, ENDED_BY_PROCTOR, NOT_OPEN, NOT_ELIGIBLE, LOGGED_OUT)


def for_page() -> dict[str, Any]:
    """The constants the page's script needs, rendered into it (one definition)."""
    return {
        "version": VERSION,
        "path": PATH,
        "types": {t: t for t in (*CLIENT_TYPES, *SERVER_TYPES)},
        "states": list(STATES),
        "state": {s: s for s in STATES},
        "stages": {"start": START, "random": RANDOM, "submit": FINAL},
        "codes": {c: c for c in CODES},
        "final_byes": list(FINAL_BYES),
        "reasons": {"busy": BUSY, "limit": LIMIT, "no_reference": NO_REFERENCE},
        "burst_magic": BURST_MAGIC.decode(),
    }
