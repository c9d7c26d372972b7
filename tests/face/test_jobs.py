"""The wire of a face job (face/jobs.py): what the web side queues and a worker reads, the
worker's reply, and what reading a job costs a worker process (no ORM, no web framework)."""

from __future__ import annotations

import json
import subprocess
import sys

from core.settings import ROOT
from face.jobs import (
    PICTURE_FIELDS,
    Envelope,
    Job,
    Kind,
    Outcome,
    Thresholds,
    decode_reply,
    encode_reply,
)
from models.enums import FaceReason

JOB = Job(
    kind=Kind.BURST,
    id="j1",
    reply_to="face:replies:n",
    queued_at=1.5,
    deadline=11.5,
    pictures=[b"\xff\xd8one", b"", b"\xff\xd8three"],
    thresholds=Thresholds(turn=0.2),
    reference=b"\x00" * 1024,
    reference_hash="0f" * 8,
    seen=["ab" * 8],
    actions=["turn_left", "open_mouth"],
)


def as_redis_returns(job: Job) -> dict[bytes, bytes]:
    """A stream entry's fields as a client that does not decode responses reads them."""
    return {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in job.fields().items()}


def test_a_job_and_an_outcome_survive_the_wire() -> None:
    raw = as_redis_returns(JOB)
    assert Job.from_fields(raw) == JOB
    assert Envelope.of(raw) == JOB.envelope == Envelope("j1", "face:replies:n", 1.5, 11.5)
    assert set(PICTURE_FIELDS) <= set(raw)  # what parking a job leaves out is all there is
    outcome = Outcome(
        False, FaceReason.NO_ACTION, encoding=b"\x01\x02", missing=["open_mouth"], frames=[{}]
    )
    assert Outcome.from_json(outcome.to_json()) == outcome
    assert decode_reply(encode_reply("j1", outcome).encode()) == ("j1", outcome)


def test_a_photo_job_carries_one_picture_and_the_settings_thresholds() -> None:
    job = Job(Kind.PHOTO, "p1", "face:replies:n", 2.0, 12.0, [b"\xff\xd8photo"])
    again = Job.from_fields(as_redis_returns(job))
    assert again.kind == Kind.PHOTO and again.pictures == [b"\xff\xd8photo"]
    assert again.thresholds == Thresholds() and again.reference == b"" and again.actions == []


def test_the_face_worker_loads_no_orm_and_no_web_framework() -> None:
    """A worker process imports what reading and judging a job needs, nothing of the web
    side: measured in a fresh interpreter (the test process has everything loaded)."""
    code = "import json, sys, face.worker\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60, capture_output=True
    )
    loaded = json.loads(done.stdout)
    heavy = ("tortoise", "pypika", "starlette", "jinja2", "portal", "examhall", "web", "rules")
    assert [m for m in loaded if m.split(".")[0] in heavy] == []
    assert "models.enums" in loaded and not [
        m for m in loaded if m.startswith("models.") and m != "models.enums"
    ]
    assert "face.jobs" in loaded and "face.client" not in loaded
