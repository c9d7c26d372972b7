"""Face verification as the app sees it: ``FaceService.verify(physician_id, jpeg, stage)``.

A job goes onto a Redis stream read by a consumer group of worker processes (face/worker.py).
The answer comes back on this process's reply list, which one listener task per process
waits on with BLPOP and hands to the waiting caller: nobody polls, and thousands of waiting
callers share one Redis connection.
Frames above FACE_MAX_FRAME_BYTES are refused before they are queued; when the queue is
longer than FACE_QUEUE_LIMIT, or no answer comes within FACE_TIMEOUT_SECONDS, the caller gets
a ``busy`` result to retry rather than a hang. Every check is recorded (FaceCheck) and the
frame is kept only when the check failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from core.errors import DomainError
from core.settings import Settings
from models.enums import FaceReason, FaceStage
from models.exam import FaceCheck
from models.physician import Physician

STREAM = "face:jobs"
GROUP = "face-workers"
DEAD_STREAM = "face:dead"
BUSY = "busy"


def reply_key(node: str) -> str:
    return f"face:replies:{node}"


@dataclass
class FaceOutcome:
    """What a worker answers. ``encoding`` (128 float64 bytes) only for reference photos."""

    passed: bool
    reason: FaceReason
    distance: float | None = None
    box: list[int] | None = None
    encoding: bytes | None = field(default=None, repr=False)
    compute_ms: float = 0.0
    queued_ms: float = 0.0
    worker: str = ""
    error: str = ""

    def to_json(self) -> str:
        data = asdict(self)
        data["reason"] = self.reason.value
        data["encoding"] = self.encoding.hex() if self.encoding else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, raw: str | bytes) -> FaceOutcome:
        data = json.loads(raw)
        data["reason"] = FaceReason(data["reason"])
        data["encoding"] = bytes.fromhex(data["encoding"]) if data["encoding"] else None
        return cls(**data)


@dataclass
class FaceResult:
    """The answer to a caller: passed or not and why, with the distance, box and timings."""

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


BUSY_MESSAGE = "人脸识别服务繁忙，正在重试，请稍候"


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
        self._waiters: dict[str, asyncio.Future[FaceOutcome]] = {}
        self._listener: asyncio.Task[None] | None = None

    async def _listen(self) -> None:
        key = reply_key(self.node)
        while True:
            reply = await self.redis.blpop([key], timeout=5)
            if reply is None:
                continue
            message = json.loads(reply[1])
            waiter = self._waiters.pop(message["job"], None)
            if waiter is not None and not waiter.done():
                waiter.set_result(FaceOutcome.from_json(message["outcome"]))

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
        wait = time.time() - float(oldest[0][1][b"queued_at"]) if oldest else 0.0
        return QueueStats(
            waiting=max(length - in_progress, 0),
            in_progress=in_progress,
            parked=await self.redis.xlen(DEAD_STREAM),
            oldest_wait_seconds=round(max(wait, 0.0), 3),
        )

    async def analyse(self, frame: bytes, reference: bytes | None) -> FaceOutcome | None:
        """Run one job through the workers; None when the service is too busy to answer."""
        if len(frame) > self.settings.face_max_frame_bytes:
            return FaceOutcome(False, FaceReason.TOO_LARGE)
        if not frame:
            return FaceOutcome(False, FaceReason.UNREADABLE)
        if await self.redis.xlen(STREAM) >= self.settings.face_queue_limit:
            return None
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(), name="face-replies")
        job_id = uuid.uuid4().hex
        timeout = self.settings.face_timeout_seconds
        now = time.time()
        waiter: asyncio.Future[FaceOutcome] = asyncio.get_running_loop().create_future()
        self._waiters[job_id] = waiter
        await self.redis.xadd(
            STREAM,
            {
                "id": job_id,
                "reply_to": reply_key(self.node),
                "frame": frame,
                "reference": reference or b"",
                "tolerance": str(self.settings.face_tolerance),
                "queued_at": str(now),
                "deadline": str(now + timeout),
            },
        )
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return None
        finally:
            self._waiters.pop(job_id, None)

    async def encode_photo(self, image: bytes) -> bytes:
        """The 128-d encoding of a registration photo, or DomainError with the reason."""
        outcome = await self.analyse(image, None)
        if outcome is None:
            raise DomainError(BUSY_MESSAGE, field="photo")
        if not outcome.passed or outcome.encoding is None:
            reason = outcome.reason
            raise DomainError(f"照片不符合要求：{reason.label}", field="photo")
        return outcome.encoding

    async def store_photo(self, physician: Physician, image: bytes, suffix: str = "jpg") -> None:
        """Keep a new or replaced photo with its encoding (refused when it holds no one face)."""
        await self.keep_photo(physician, image, await self.encode_photo(image), suffix)

    async def keep_photo(
        self, physician: Physician, image: bytes, encoding: bytes, suffix: str = "jpg"
    ) -> None:
        """Keep a photo already encoded by ``encode_photo``."""
        relative = Path("photos") / f"{physician.id}-{uuid.uuid4().hex[:8]}.{suffix}"
        physician.photo = await self._write_media(relative, image)
        physician.face_encoding = encoding
        await physician.save(update_fields=["photo", "face_encoding"])
        await FaceCheck.create(
            physician=physician, stage=FaceStage.REGISTRATION, passed=True, reason=FaceReason.OK
        )

    async def verify(
        self,
        physician_id: int,
        frame: bytes,
        stage: FaceStage,
        attempt_id: int | None = None,
    ) -> FaceResult:
        """Is this frame the registered physician? Recorded whatever the answer."""
        started = time.perf_counter()
        physician = await Physician.get_or_none(id=physician_id)
        if physician is None:
            return FaceResult(False, FaceReason.NO_REFERENCE, "医师不存在")
        if not physician.face_encoding:
            outcome: FaceOutcome | None = FaceOutcome(False, FaceReason.NO_REFERENCE)
        else:
            outcome = await self.analyse(frame, physician.face_encoding)
        total_ms = round((time.perf_counter() - started) * 1000, 2)
        if outcome is None:
            return FaceResult(False, BUSY, BUSY_MESSAGE, total_ms=total_ms)
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
            physician_id=physician_id, attempt_id=attempt_id, stage=stage, **measured
        )
        if not outcome.passed and frame and outcome.reason != FaceReason.TOO_LARGE:
            check.frame_path = await self._keep_frame(check.id, frame)
            await check.save(update_fields=["frame_path"])
        return FaceResult(message=outcome.reason.label, check_id=check.id, **measured)

    async def _keep_frame(self, check_id: int, frame: bytes) -> str:
        """Failed frames are kept for proctors to look at, passing ones are not (biometrics)."""
        day = datetime.now(UTC).strftime("%Y%m%d")
        return await self._write_media(Path("face-checks") / day / f"{check_id}.img", frame)

    async def _write_media(self, relative: Path, data: bytes) -> str:
        target = self.settings.media_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(target.write_bytes, data)
        return str(relative)
