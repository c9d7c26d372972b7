"""The wire between web processes and face workers: the one definition both sides use.

A job is one entry of the Redis stream ``STREAM``, read by the consumer group ``GROUP``:
binary fields for the pictures and the registered encoding, one JSON field (``meta``) for
the rest (``Job``); its ``Envelope`` (id, reply list, times) can be read without the rest,
so a worker drops a late job unread. A worker answers with an ``Outcome`` pushed onto the
asking process's reply list (``reply_key``) in a reply (``encode_reply``/``decode_reply``).
A job that keeps failing is parked on ``DEAD_STREAM`` without its pictures.

Nothing here imports the ORM or Starlette: a worker reads a job with this module,
``models.enums`` (plain enums) and ``face.analysis`` alone (tests/face/test_jobs.py checks).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from models.enums import FaceReason

STREAM = "face:jobs"
GROUP = "face-workers"
DEAD_STREAM = "face:dead"
PICTURE_FIELDS = (b"pictures", b"reference", b"reference_photo")  # not kept when parked


def reply_key(node: str) -> str:
    return f"face:replies:{node}"


class Kind(StrEnum):
    PHOTO = "photo"  # a registration photo: checked, encoded, re-encoded for storage
    BURST = "burst"  # the frames of one live face check


@dataclass(frozen=True)
class Thresholds:
    """The settings a worker decides with, carried in every job: the web side's settings
    rule, so web nodes and workers never disagree about a threshold."""

    tolerance: float = 0.6
    liveness: bool = True
    turn: float = 0.12
    mouth_open: float = 0.45
    mouth_closed: float = 0.20
    replay_bits: int = 4
    max_side: int = 640
    max_pixels: int = 50_000_000
    upsample: int = 0

    @classmethod
    def from_settings(cls, settings: Any) -> Thresholds:
        return cls(
            tolerance=settings.face_tolerance,
            liveness=settings.face_liveness,
            turn=settings.face_turn,
            mouth_open=settings.face_mouth_open,
            mouth_closed=settings.face_mouth_closed,
            replay_bits=settings.face_replay_bits,
            max_side=settings.face_max_side,
            max_pixels=settings.face_max_pixels,
            upsample=settings.face_upsample,
        )


@dataclass(frozen=True)
class Envelope:
    """What a job says about itself besides its content."""

    id: str
    reply_to: str
    queued_at: float
    deadline: float  # after this (epoch seconds) the asking process no longer waits

    @classmethod
    def of(cls, raw: Mapping[bytes, bytes]) -> Envelope:
        return cls(
            id=raw[b"id"].decode(),
            reply_to=raw[b"reply_to"].decode(),
            queued_at=float(raw[b"queued_at"]),
            deadline=float(raw[b"deadline"]),
        )


@dataclass
class Job:
    kind: Kind
    id: str
    reply_to: str
    queued_at: float
    deadline: float
    pictures: list[bytes]  # the photo, or the frames of a burst in the order taken
    thresholds: Thresholds = field(default_factory=Thresholds)
    reference: bytes = b""  # the registered encoding (128 float64)
    reference_hash: str = ""  # the registered photo's face hash
    reference_photo: bytes = b""  # the registered photo, sent while its hash is unknown
    seen: list[str] = field(default_factory=list)  # hashes of earlier checks' frames
    actions: list[str] = field(default_factory=list)  # the challenge, FaceAction values

    def fields(self) -> dict[str, bytes | str]:
        meta = {
            "kind": self.kind.value,
            "sizes": [len(p) for p in self.pictures],
            "thresholds": asdict(self.thresholds),
            "reference_hash": self.reference_hash,
            "seen": self.seen,
            "actions": self.actions,
        }
        return {
            "id": self.id,
            "reply_to": self.reply_to,
            "queued_at": str(self.queued_at),
            "deadline": str(self.deadline),
            "meta": json.dumps(meta),
            "pictures": b"".join(self.pictures),
            "reference": self.reference,
            "reference_photo": self.reference_photo,
        }

    @property
    def envelope(self) -> Envelope:
        return Envelope(self.id, self.reply_to, self.queued_at, self.deadline)

    @classmethod
    def from_fields(cls, raw: Mapping[bytes, bytes]) -> Job:
        meta = json.loads(raw[b"meta"])
        blob = raw.get(b"pictures", b"")
        pictures, at = [], 0
        for size in meta["sizes"]:
            pictures.append(blob[at : at + size])
            at += size
        envelope = Envelope.of(raw)
        return cls(
            kind=Kind(meta["kind"]),
            id=envelope.id,
            reply_to=envelope.reply_to,
            queued_at=envelope.queued_at,
            deadline=envelope.deadline,
            pictures=pictures,
            thresholds=Thresholds(**meta["thresholds"]),
            reference=raw.get(b"reference", b""),
            reference_hash=meta["reference_hash"],
            reference_photo=raw.get(b"reference_photo", b""),
            seen=list(meta["seen"]),
            actions=list(meta["actions"]),
        )


_BINARY = ("encoding", "photo")


@dataclass
class Outcome:
    """What a worker answers. For a photo: the encoding, the re-encoded JPEG to store and its
    face hash. For a burst: the hashes of its face frames (kept when it passed), the actions
    not seen, the measures of each frame and which frames decided."""

    passed: bool
    reason: FaceReason
    distance: float | None = None
    box: list[int] | None = None
    encoding: bytes = field(default=b"", repr=False)
    photo: bytes = field(default=b"", repr=False)
    photo_hash: str = ""
    reference_hash: str = ""  # computed from ``Job.reference_photo``
    frame_hashes: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)
    decisive: dict[str, Any] = field(default_factory=dict)
    compute_ms: float = 0.0
    queued_ms: float = 0.0
    worker: str = ""
    error: str = ""

    def to_json(self) -> str:
        data = asdict(self)
        data["reason"] = self.reason.value
        for name in _BINARY:
            data[name] = base64.b64encode(getattr(self, name)).decode()
        return json.dumps(data)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Outcome:
        data = json.loads(raw)
        data["reason"] = FaceReason(data["reason"])
        for name in _BINARY:
            data[name] = base64.b64decode(data[name])
        return cls(**data)


def encode_reply(job_id: str, outcome: Outcome) -> str:
    """What a worker pushes onto the asking process's reply list."""
    return json.dumps({"job": job_id, "outcome": outcome.to_json()})


def decode_reply(raw: str | bytes) -> tuple[str, Outcome]:
    """The job id and its outcome, from a reply list."""
    message = json.loads(raw)
    return str(message["job"]), Outcome.from_json(message["outcome"])
