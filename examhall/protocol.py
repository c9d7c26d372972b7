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
"""

from __future__ import annotations

import json
from typing import Any

VERSION = 2
PATH = "/examhall/ws"

# client → server
HELLO = "hello"
ANSWER = "answer"
HEARTBEAT = "heartbeat"
VISIBILITY = "visibility"
SUBMIT = "submit"
CLIENT_TYPES = (HELLO, ANSWER, HEARTBEAT, VISIBILITY, SUBMIT)

# server → client
WELCOME = "welcome"
PAPER = "paper"
ACK = "ack"
CHECK = "check"
CHECK_RESULT = "check_result"
STATE = "state"
RESULT = "result"
ERROR = "error"
NOTICE = "notice"
BYE = "bye"

# attempt states as the client sees them
WAITING = "waiting"  # the waiting room: the start check can be passed, the test has not begun
TESTING = "testing"  # questions can be answered
CHECKING = "checking"  # a random check is pending: answering is paused
FINISHING = "finishing"  # the submit check is pending (asked for, or the time is up)
SUBMITTED = "submitted"  # graded
ENDED = "ended"  # ended by a proctor or voided
STATES = (WAITING, TESTING, CHECKING, FINISHING, SUBMITTED, ENDED)

# face-check stages
START = "start"
RANDOM = "random"
FINAL = "submit"

# error and bye codes
BAD_MESSAGE = "bad_message"
TOO_FAST = "too_fast"
PAUSED = "paused"
LOCKED = "locked"
NOT_STARTED = "not_started"
NO_CHECK = "no_check"
BUSY = "busy"
TAKEN_OVER = "taken_over"
NOT_OPEN = "not_open"
NOT_ELIGIBLE = "not_eligible"
DONE = "done"
ENDED_BY_PROCTOR = "ended_by_proctor"
STALE = "stale"  # a burst for a challenge that is no longer the pending one
LOGGED_OUT = "logged_out"  # the physician's log-in ended (password changed, account disabled)

# check_result reasons besides the FaceReason values
LIMIT = "limit"  # no tries left: a proctor decides
NO_REFERENCE = "no_reference"  # no registered photo: nothing to compare with, not a try

MAX_TEXT_BYTES = 8 * 1024  # a text message larger than this is refused
MAX_MESSAGE_BYTES = 2 * 1024 * 1024  # any message (a burst included): the server's limit
MAX_BURST_FRAMES = 30
MAX_NUMBER = 2**31 - 1  # item ids and sequence numbers fit a database integer
BURST_MAGIC = b"BRST"


class ProtocolError(ValueError):
    """A client message that does not follow the protocol."""


def encode(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields}, ensure_ascii=False, separators=(",", ":"))


def decode(text: str) -> dict[str, Any]:
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


SERVER_TYPES = (WELCOME, PAPER, ACK, CHECK, CHECK_RESULT, STATE, RESULT, ERROR, NOTICE, BYE)
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
