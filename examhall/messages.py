"""What a sitting does with a page's text messages (examhall/protocol.py, client → server):
a heartbeat, the page's version, the page hidden or shown, an answer, a request to hand in.

An answer is acknowledged only once it is stored (examhall/writes.py); one the state refuses
(the test has not begun, a check is pending, the time is up) comes back as an ``error`` with
its item and seq, and the page keeps it to send again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from core import metrics
from examhall import protocol as p
from rules import exam

if TYPE_CHECKING:
    from examhall.sitting import Sitting

HIDDEN_FLAG_AT = 5  # leaving the page this many times flags the attempt
REFUSALS = {
    p.WAITING: (p.NOT_STARTED, "考试尚未开始"),
    p.CHECKING: (p.PAUSED, "请先完成随机人脸识别，再继续答题"),
    p.FINISHING: (p.LOCKED, "答题已锁定"),
    p.SUBMITTED: (p.LOCKED, "试卷已提交"),
    p.ENDED: (p.LOCKED, "本次测评已终止"),
}


async def text(sitting: Sitting, text: str) -> None:
    try:
        message = p.decode(text)
    except p.ProtocolError as exc:
        await sitting.send(p.Error(type=p.ERROR, code=p.BAD_MESSAGE, message=str(exc)))
        return
    if message["type"] == p.HEARTBEAT:
        # Written once a second for the node; the log-in lasts as long as the test,
        # unless it is ended (the node closes such sittings, examhall/beats.py).
        sitting.hall.beats.beat(sitting.attempt.id, sitting.login)
    elif message["type"] == p.HELLO:
        if message.get("v") != p.VERSION:
            await sitting.send(
                p.Error(type=p.ERROR, code=p.BAD_MESSAGE, message="页面版本过旧，请刷新页面")
            )
    elif message["type"] == p.VISIBILITY:
        hidden = bool(message["hidden"])
        sitting.hall.event(sitting.attempt.id, "page_hidden" if hidden else "page_visible")
        if hidden:
            times = await sitting.hall.live.count(sitting.attempt.id, "hidden_events")
            if times == HIDDEN_FLAG_AT:
                await sitting.flag(f"多次离开考试页面（{times} 次）", "page_hidden")
    elif message["type"] == p.ANSWER:
        await answer(sitting, message)
    elif message["type"] == p.SUBMIT:
        await submit(sitting)


async def answer(sitting: Sitting, message: p.Answer) -> None:
    now = datetime.now(UTC)
    item_id, choice, seq = message["item"], message["choice"], message["seq"]
    refusal = REFUSALS.get(sitting.state)
    if refusal is None and sitting.attempt.deadline and now >= sitting.attempt.deadline:
        refusal = (p.LOCKED, "考试时间已到，答题已锁定")
    if refusal is not None:
        code, why = refusal
        await sitting.send(p.Error(type=p.ERROR, code=code, message=why, item=item_id, seq=seq))
        return
    problem = sitting.sheet.problem(item_id, choice) if sitting.sheet else "答案与试题不符"
    if problem:
        await sitting.send(
            p.Error(type=p.ERROR, code=p.BAD_MESSAGE, message=problem, item=item_id, seq=seq)
        )
        return
    try:
        await sitting.hall.writes.answer(sitting.attempt.id, item_id, sorted(choice), seq, now)
    except Exception:
        busy = "答案暂未保存，正在重试"
        await sitting.send(p.Error(type=p.ERROR, code=p.BUSY, message=busy, item=item_id, seq=seq))
        return
    await sitting.send(p.Ack(type=p.ACK, item=item_id, seq=seq))
    metrics.answer_acked(now)


async def submit(sitting: Sitting) -> None:
    if sitting.state != p.TESTING:
        if sitting.state == p.FINISHING:
            await sitting.ask(p.FINAL)
            return
        code, why = (
            (p.PAUSED, "请先完成随机人脸识别")
            if sitting.state == p.CHECKING
            else (p.LOCKED, "当前不能交卷")
        )
        await sitting.send(p.Error(type=p.ERROR, code=code, message=why))
        return
    if p.FINAL in sitting.checks.passed:
        await sitting.passed(p.FINAL)  # passed already (by a proctor's hand)
        return
    sitting.state, sitting.pending = p.FINISHING, p.FINAL
    now = datetime.now(UTC)
    await exam.request_submit(sitting.attempt.id, now)
    sitting.attempt.submit_requested_at = now
    sitting.hall.event(sitting.attempt.id, "submit_requested")
    await sitting.announce("请完成交卷前人脸识别")
    await sitting.ask(p.FINAL)
