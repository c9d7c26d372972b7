"""A sitting's timer: the window opening, the random check's moment, the deadline and the
grace period, and the server's clock re-sent to the page every ``TIME_PUSH_SECONDS``.

One task per sitting (``run``), sleeping until the next of those moments or until the sitting
wakes it (a check passed, a proctor's action); ``tick`` does what the moment asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from examhall import protocol as p

if TYPE_CHECKING:
    from examhall.sitting import Sitting

log = logging.getLogger(__name__)

RANDOM_RESPONSE = timedelta(minutes=3)  # a random check still pending after this is flagged
TIME_PUSH_SECONDS = 30.0  # the remaining time is re-sent this often
START_SPREAD_SECONDS = 3.0  # waiting pages begin within this much after the window opens


async def run(sitting: Sitting) -> None:
    while not sitting.closed:
        now = datetime.now(UTC)
        wake = [now + timedelta(seconds=TIME_PUSH_SECONDS)]
        attempt = sitting.attempt
        if attempt.started_at is None:
            spread = timedelta(seconds=random.uniform(0, START_SPREAD_SECONDS))
            wake.append(sitting.seat.window.starts_at + spread)
        else:
            if attempt.random_check_at and sitting.state == p.TESTING:
                wake.append(attempt.random_check_at)
            if attempt.random_check_at and sitting.pending == p.RANDOM:
                wake.append(attempt.random_check_at + RANDOM_RESPONSE)
            if attempt.deadline:
                wake.append(attempt.deadline)
                grace = timedelta(seconds=sitting.hall.settings.exam_grace_seconds)
                wake.append(attempt.deadline + grace)
        later = [w for w in wake if w > now]
        target = min(later) if later else now
        sitting.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sitting.wake.wait(), (target - now).total_seconds() + 0.05)
        if sitting.closed:
            return
        try:
            await tick(sitting, datetime.now(UTC))
        except Exception:
            log.exception("hall timer of attempt %s", sitting.attempt.id)


async def tick(sitting: Sitting, now: datetime) -> None:
    attempt = sitting.attempt
    if attempt.started_at is None:
        if (
            sitting.pending is None
            and now >= sitting.seat.window.starts_at
            and not sitting.verifying
        ):
            await sitting.begin(now)
            await sitting.send_paper()
            await sitting.announce("考试开始")
        else:  # the waiting room's clock, and a sign of life for the page
            await sitting.clock(now)
        return
    if sitting.grace_over(now) and not sitting.verifying:
        grade = await sitting.hall.finalise(
            attempt.id, sitting.seat.paper_id, sitting.seat.pass_mark, verified=False
        )
        await attempt.refresh()
        sitting.state = p.SUBMITTED
        if grade is not None:
            await sitting.finished_message()
        return
    if attempt.deadline and now >= attempt.deadline and sitting.state != p.FINISHING:
        sitting.state, sitting.pending = p.FINISHING, p.FINAL
        sitting.hall.event(attempt.id, "deadline")
        await sitting.announce("考试时间到，答题已锁定，请完成交卷人脸识别")
        await sitting.ask(p.FINAL)
        return
    if (
        sitting.pending == p.RANDOM
        and attempt.random_check_at
        and now >= attempt.random_check_at + RANDOM_RESPONSE
        and "随机人脸识别超时" not in attempt.flag_reason
    ):
        minutes = int(RANDOM_RESPONSE.total_seconds() // 60)
        await sitting.flag(f"随机人脸识别超时（{minutes} 分钟内未完成）", "random_timeout")
    if (
        sitting.state == p.TESTING
        and attempt.random_check_at
        and now >= attempt.random_check_at
        and p.RANDOM not in sitting.checks.passed
    ):
        sitting.state, sitting.pending = p.CHECKING, p.RANDOM
        await sitting.announce("随机人脸识别，答题已暂停")
        await sitting.ask(p.RANDOM)
        return
    await sitting.clock(now)
