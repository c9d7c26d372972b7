"""Face checks as the web side sees them: ``FaceService``.

``check_photo`` / ``keep_photo`` take a registration photo: one frontal face with open eyes,
large enough, stored re-encoded as a JPEG without metadata. ``verify`` judges the burst of a
live check: the registered physician, alive, doing the actions of the challenge, no replayed
picture (face/analysis.py says how).

A job goes onto a Redis stream read by a consumer group of worker processes
(face/worker.py). The answer comes back on this process's reply list, which one listener
task per process waits on with BLPOP and hands to the waiting caller: nobody polls, and
thousands of waiting callers share one Redis connection. Pictures above the byte or pixel
limits are refused before they are queued; when the queue is longer than FACE_QUEUE_LIMIT,
or no answer comes within FACE_TIMEOUT_SECONDS, the caller gets a ``busy`` result to retry
rather than a hang. Every check is recorded (FaceCheck); the frames of a failed check are
kept for proctors, those of a passed one are not (only their hashes, to refuse replays).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from core.errors import DomainError
from core.settings import Settings
from face import analysis
from face.challenge import missing_message
from face.jobs import (
    DEAD_STREAM,
    GROUP,
    STREAM,
    Envelope,
    Job,
    Kind,
    Outcome,
    Thresholds,
    decode_reply,
    reply_key,
)
from models.enums import FaceReason, FaceStage
from models.exam import FaceCheck
from models.physician import Physician

BUSY = "busy"
BUSY_MESSAGE = "人脸识别服务繁忙，正在重试，请稍候"
SEEN_CHECKS = 20  # earlier passed checks whose frames a new burst may not repeat

# What to do about a refused registration photo.
PHOTO_ADVICE = {
    FaceReason.NO_FACE: "未能识别出人脸，请上传光线充足、面部清晰的本人正面免冠照片",
    FaceReason.MULTIPLE_FACES: "照片中有多张人脸，请上传仅有本人的单人照片",
    FaceReason.FACE_TOO_SMALL: "照片中人脸过小，请上传头部约占画面一半高度的近照",
    FaceReason.NOT_FRONTAL: "人脸未正对镜头，请上传正面免冠照片",
    FaceReason.EYES_CLOSED: "照片中眼睛未睁开，请上传双眼自然睁开的照片",
    FaceReason.UNREADABLE: "无法读取该图片，请上传 JPG 或 PNG 格式的照片",
    FaceReason.TOO_MANY_PIXELS: "图片尺寸过大，请缩小后重新上传",
    FaceReason.TOO_LARGE: "照片文件过大，请压缩后重新上传",
}


@dataclass
class FaceResult:
    """The answer to a caller: passed or not and why, with the distance and timings."""

    passed: bool
    reason: FaceReason | str
    message: str
    distance: float | None = None
    box: list[int] | None = None
    queued_ms: float = 0.0
    compute_ms: float = 0.0
    total_ms: float = 0.0
    worker: str = ""
    check_id: int | None = None

    @property
    def busy(self) -> bool:
        return self.reason == BUSY


@dataclass(frozen=True)
class QueueStats:
    waiting: int
    in_progress: int
    parked: int
    oldest_wait_seconds: float


class FaceService:
    def __init__(self, settings: Settings, redis: aioredis.Redis) -> None:
        """``redis`` must not decode responses (frames are binary)."""
        self.settings = settings
        self.redis = redis
        self.node = uuid.uuid4().hex
        self.thresholds = Thresholds.from_settings(settings)
        self._waiters: dict[str, asyncio.Future[Outcome]] = {}
        self._listener: asyncio.Task[None] | None = None

    async def _listen(self) -> None:
        key = reply_key(self.node)
        while True:
            reply = await self.redis.blpop([key], timeout=5)
            if reply is None:
                continue
            job_id, outcome = decode_reply(reply[1])
            waiter = self._waiters.pop(job_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(outcome)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    async def ensure_group(self) -> None:
        """Workers create the group too; the app needs it only for ``stats``."""
        try:
            await self.redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except aioredis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def stats(self) -> QueueStats:
        """Backpressure, visible: jobs not yet taken, jobs being worked on, jobs parked, and
        how long the oldest unanswered job has been waiting."""
        await self.ensure_group()
        length = await self.redis.xlen(STREAM)
        pending = await self.redis.xpending(STREAM, GROUP)
        in_progress = int(pending["pending"]) if pending else 0
        oldest: Any = await self.redis.xrange(STREAM, count=1)
        wait = time.time() - Envelope.of(oldest[0][1]).queued_at if oldest else 0.0
        return QueueStats(
            waiting=max(length - in_progress, 0),
            in_progress=in_progress,
            parked=await self.redis.xlen(DEAD_STREAM),
            oldest_wait_seconds=round(max(wait, 0.0), 3),
        )

    def refusal(self, pictures: list[bytes], byte_limit: int) -> FaceReason | None:
        """Why these pictures cannot be queued at all: empty, too many bytes or pixels."""
        for data in pictures:
            if len(data) > byte_limit:
                return FaceReason.TOO_LARGE
            refused = analysis.refusal(data, self.settings.face_max_pixels)
            if refused is not None:
                return refused
        return None if pictures else FaceReason.UNREADABLE

    async def run(self, kind: Kind, pictures: list[bytes], **extra: Any) -> Outcome | None:
        """One job through the workers; None when the service is too busy to answer."""
        if await self.redis.xlen(STREAM) >= self.settings.face_queue_limit:
            return None
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(), name="face-replies")
        timeout = self.settings.face_timeout_seconds
        now = time.time()
        job = Job(
            kind=kind,
            id=uuid.uuid4().hex,
            reply_to=reply_key(self.node),
            queued_at=now,
            deadline=now + timeout,
            pictures=pictures,
            thresholds=self.thresholds,
            **extra,
        )
        waiter: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiters[job.id] = waiter
        await self.redis.xadd(STREAM, job.fields())  # type: ignore[arg-type]
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return None
        finally:
            self._waiters.pop(job.id, None)

    # --- registration photos --------------------------------------------------------------

    async def check_photo(self, image: bytes) -> Outcome:
        """The photo checked and encoded, or DomainError(field="photo") saying what to do."""
        refused = self.refusal([image], self.settings.face_max_photo_bytes)
        outcome = Outcome(False, refused) if refused else await self.run(Kind.PHOTO, [image])
        if outcome is None:
            raise DomainError(BUSY_MESSAGE, field="photo")
        if not outcome.passed or not outcome.encoding:
            advice = PHOTO_ADVICE.get(outcome.reason, outcome.reason.label)
            if outcome.reason == FaceReason.TOO_LARGE:
                advice += f"（不超过 {self.settings.face_max_photo_bytes // 1024 // 1024} MB）"
            raise DomainError(f"照片不符合要求：{advice}", field="photo")
        return outcome

    async def keep_photo(self, physician: Physician, checked: Outcome) -> None:
        """Store a photo passed by ``check_photo``: the re-encoded JPEG, never the upload."""
        relative = Path("photos") / f"{physician.id}-{uuid.uuid4().hex[:8]}.jpg"
        physician.photo = await self._write_media(relative, checked.photo)
        physician.face_encoding = checked.encoding
        physician.photo_hash = checked.photo_hash
        await physician.save(update_fields=["photo", "face_encoding", "photo_hash"])
        await FaceCheck.create(
            physician=physician, stage=FaceStage.REGISTRATION, passed=True, reason=FaceReason.OK
        )

    async def store_photo(self, physician: Physician, image: bytes) -> None:
        """Check and keep a new or replaced photo (DomainError when it is not suitable)."""
        await self.keep_photo(physician, await self.check_photo(image))

    # --- live checks ----------------------------------------------------------------------

    async def verify(
        self,
        physician_id: int,
        frames: list[bytes],
        stage: FaceStage,
        actions: list[str],
        attempt_id: int | None = None,
        refused: FaceReason | None = None,
    ) -> FaceResult:
        """Is this burst the registered physician, alive, doing ``actions``? Recorded
        whatever the answer (a busy service records nothing: the page retries).
        ``refused``: the caller already knows it fails, and why (recorded, not analysed)."""
        started = time.perf_counter()
        physician = await Physician.get_or_none(id=physician_id)
        if physician is None:
            return FaceResult(False, FaceReason.NO_REFERENCE, "医师不存在")
        outcome: Outcome | None
        refused = refused or self.refusal(frames, self.settings.face_max_frame_bytes)
        if not physician.face_encoding:
            outcome = Outcome(False, FaceReason.NO_REFERENCE)
        elif refused is not None:
            outcome = Outcome(False, refused)
        else:
            outcome = await self.run(
                Kind.BURST, frames, **await self._reference(physician, actions)
            )
        total_ms = round((time.perf_counter() - started) * 1000, 2)
        if outcome is None:
            return FaceResult(False, BUSY, BUSY_MESSAGE, total_ms=total_ms)
        if outcome.reference_hash:  # the photo predates hashes: remember what the worker found
            await Physician.filter(id=physician.id).update(photo_hash=outcome.reference_hash)
        measured: dict[str, Any] = {
            "passed": outcome.passed,
            "reason": outcome.reason,
            "distance": outcome.distance,
            "box": outcome.box,
            "queued_ms": outcome.queued_ms,
            "compute_ms": outcome.compute_ms,
            "total_ms": total_ms,
            "worker": outcome.worker,
        }
        check = await FaceCheck.create(
            physician_id=physician_id,
            attempt_id=attempt_id,
            stage=stage,
            actions=",".join(actions),
            frame_hashes=outcome.frame_hashes if outcome.passed else [],
            detail={
                "frames": outcome.frames,
                "decisive": outcome.decisive,
                "missing": outcome.missing,
            },
            **measured,
        )
        if not outcome.passed and outcome.reason not in (
            FaceReason.TOO_LARGE,
            FaceReason.NO_REFERENCE,
        ):
            check.frame_paths = await self._keep_frames(check.id, frames)
            await check.save(update_fields=["frame_paths"])
        message = (
            missing_message(outcome.missing)
            if outcome.reason == FaceReason.NO_ACTION and outcome.missing
            else outcome.reason.label
        )
        return FaceResult(message=message, check_id=check.id, **measured)

    async def _reference(self, physician: Physician, actions: list[str]) -> dict[str, Any]:
        """What a burst is judged against: the registered encoding and photo hash, and the
        hashes of earlier passed checks (their frames may not come back)."""
        earlier = (
            await FaceCheck.filter(
                physician_id=physician.id, passed=True, stage__not=FaceStage.REGISTRATION
            )
            .order_by("-id")
            .limit(SEEN_CHECKS)
            .values_list("frame_hashes", flat=True)
        )
        reference_photo = b""
        if not physician.photo_hash and physician.photo:
            path = self.settings.media_path / physician.photo
            if path.is_file():
                reference_photo = await asyncio.to_thread(path.read_bytes)
        return {
            "reference": physician.face_encoding,
            "reference_hash": physician.photo_hash,
            "reference_photo": reference_photo,
            "seen": [h for hashes in earlier for h in (hashes or [])],
            "actions": actions,
        }

    async def _keep_frames(self, check_id: int, frames: list[bytes]) -> list[str]:
        """A failed check's frames, for proctors to look at (passed ones are not kept)."""
        day = datetime.now(UTC).strftime("%Y%m%d")
        folder = Path("face-checks") / day
        return [
            await self._write_media(folder / f"{check_id}-{n}.img", frame)
            for n, frame in enumerate(frames)
        ]

    async def _write_media(self, relative: Path, data: bytes) -> str:
        target = self.settings.media_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(target.write_bytes, data)
        return str(relative)
