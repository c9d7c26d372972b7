"""The exam hall's wire protocol, version 1: the one definition that the server, the page,
the tests and the load-test client follow.

One WebSocket per attempt at ``/examhall/ws``, opened by a logged-in physician (the session
cookie), from the portal's own origin. Text messages are JSON objects with a ``type``;
binary messages are webcam frames (JPEG) answering the face check that is pending. The
server is the authority on time, questions, answers, checks and the score.

Client → server
  hello       {v}                          first message; the server answers ``welcome``
  answer      {item, choice, seq}          choice: option ids; seq grows per item and makes
                                           a resend idempotent (``item:seq`` is the key)
  heartbeat   {}                           every ~10 s; the monitor shows the last one
  visibility  {hidden}                     the page was hidden or shown again
  submit      {}                           hand in: the server asks for the submit check
  (binary)    JPEG bytes                   a frame for the pending face check

Server → client
  welcome     {v, attempt, state, remaining, opens_in, answers, check, tries_left,
               question_count, duration, pass_mark}
              answers: {item: {choice, seq}} already stored (resend what is missing)
  paper       {items: [{id, position, type, stem, options: [{id, text}]}]}  after the
              start check; never carries the answer key
  ack         {item, seq}                  stored in the database; safe to forget
  check       {stage, message, tries_left} send a frame now (start / random / submit)
  check_result {stage, passed, reason, message, tries_left}  reason: a FaceReason value,
              "busy" (the verifier is saturated: retry) or "limit" (no tries left: a proctor
              decides)
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

VERSION = 1
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

MAX_TEXT_BYTES = 8 * 1024  # a text message larger than this is refused


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
    except ValueError:
        raise ProtocolError("消息格式错误") from None
    if not isinstance(message, dict) or message.get("type") not in CLIENT_TYPES:
        raise ProtocolError("未知的消息类型")
    if message["type"] == ANSWER:
        item, choice, seq = message.get("item"), message.get("choice"), message.get("seq")
        if not isinstance(item, int) or not isinstance(seq, int) or seq < 1:
            raise ProtocolError("答案消息缺少题目或序号")
        if not isinstance(choice, list) or not all(isinstance(c, str) for c in choice):
            raise ProtocolError("答案格式错误")
        if len(choice) > 6:
            raise ProtocolError("答案格式错误")
    if message["type"] == VISIBILITY and not isinstance(message.get("hidden"), bool):
        raise ProtocolError("页面状态格式错误")
    return message


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
)
# After a bye with one of these a page stays closed: reconnecting cannot help.
FINAL_BYES = (TAKEN_OVER, DONE, ENDED_BY_PROCTOR, NOT_OPEN, NOT_ELIGIBLE)


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
    }
