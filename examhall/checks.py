"""A sitting's face checks: a burst for the pending challenge, judged by the face workers.

Each try is recorded by the face service; a failure says why and comes with the next
challenge; past the period's retry limit the attempt is flagged and waits for a proctor.
Time spent waiting for the verifier during the test is given back. A physician without a
registered photo is told so, and such a try costs nothing.
"""

from __future__ import annotations

import time

from core import metrics
from examhall import protocol as p
from examhall.sitting import NO_PHOTO_MESSAGE, STAGES, Sitting
from face.client import FaceService
from models.enums import FaceReason

LABELS = {p.START: "开考", p.RANDOM: "随机", p.FINAL: "交卷"}


class FaceChecks:
    def __init__(self, face: FaceService) -> None:
        self.face = face

    async def burst(self, sitting: Sitting, data: bytes) -> None:
        stage = sitting.pending
        if stage is None:
            await sitting.send(p.Error(type=p.ERROR, code=p.NO_CHECK, message="当前无需人脸识别"))
            return
        if sitting.verifying:
            busy = "正在识别上一组画面，请稍候"
            await sitting.send(p.Error(type=p.ERROR, code=p.BUSY, message=busy))
            return
        try:
            challenge_id, frames = p.decode_burst(data)
        except p.ProtocolError as exc:
            await sitting.send(
                p.Error(type=p.ERROR, code=p.BAD_MESSAGE, message=str(exc), refused="frame")
            )
            return
        if not sitting.seat.has_photo:  # nothing to compare with: not a try
            await sitting.send(
                p.CheckResult(
                    type=p.CHECK_RESULT,
                    stage=stage,
                    passed=False,
                    reason=p.NO_REFERENCE,
                    message=NO_PHOTO_MESSAGE,
                    tries_left=sitting.tries_left(),
                )
            )
            return
        if sitting.tries_left() <= 0:
            await sitting.send(
                p.CheckResult(
                    type=p.CHECK_RESULT,
                    stage=stage,
                    passed=False,
                    reason=p.LIMIT,
                    message="人脸识别未通过次数已达上限，已通知监考人员，请等待处理",
                    tries_left=0,
                )
            )
            return
        challenge = sitting.challenge
        if challenge is None or challenge_id != challenge.id:
            await sitting.send(
                p.Error(
                    type=p.ERROR,
                    code=p.STALE,
                    message="验证动作已更新，请按新的提示重新验证",
                    challenge=challenge.for_page() if challenge else None,
                )
            )
            return
        sitting.verifying = True
        started = time.monotonic()
        try:
            result = await self.face.verify(
                sitting.seat.physician_id,
                frames,
                STAGES[stage],
                challenge.codes,
                attempt_id=sitting.attempt.id,
                # A burst cannot arrive before it could be filmed: one that does was made
                # beforehand (a replay), whatever it shows.
                refused=FaceReason.REPLAY if challenge.too_early() else None,
            )
        finally:
            sitting.verifying = False
        metrics.face_checked(stage, result, time.monotonic() - started)
        if sitting.attempt.started_at is not None and sitting.state != p.SUBMITTED:
            await sitting.give_back(time.monotonic() - started)
        if result.busy:  # the same challenge stays: the page sends the same burst again
            await sitting.send(
                p.CheckResult(
                    type=p.CHECK_RESULT,
                    stage=stage,
                    passed=False,
                    reason=p.BUSY,
                    message=result.message,
                    tries_left=sitting.tries_left(),
                )
            )
            return
        reason = str(getattr(result.reason, "value", result.reason))
        sitting.checked(stage, result.passed, reason)
        sitting.hall.event(
            sitting.attempt.id,
            "check_passed" if result.passed else "check_failed",
            stage=stage,
            reason=reason,
            distance=result.distance,
            check=result.check_id,
        )
        if not result.passed:
            await sitting.hall.live.count(sitting.attempt.id, "failed_checks")
            left = sitting.tries_left()
            message = f"{result.message}，请按提示重试（还可尝试 {left} 次）"
            if left <= 0:
                await sitting.flag(
                    f"{LABELS[stage]}人脸识别连续未通过（{result.message}）", "check_failed", stage
                )
                message = f"{result.message}。未通过次数已达上限，已通知监考人员，请等待处理"
            await sitting.send(
                p.CheckResult(
                    type=p.CHECK_RESULT,
                    stage=stage,
                    passed=False,
                    reason=reason,
                    message=message,
                    tries_left=left,
                    challenge=sitting.new_challenge().for_page() if left > 0 else None,
                )
            )
            return
        sitting.challenge = None
        await sitting.send(
            p.CheckResult(
                type=p.CHECK_RESULT,
                stage=stage,
                passed=True,
                reason=reason,
                message="验证通过",
                tries_left=sitting.tries_left(),
            )
        )
        await sitting.passed(stage)
