"""What a check asks (face/challenge.py) and the wire of a face job (face/jobs.py)."""

from __future__ import annotations

import random
import subprocess
import sys
import time

import pytest

from core.settings import ROOT, Settings, SettingsError
from face.challenge import HINTS, TURNS, missing_message, new_challenge
from face.jobs import Job, Kind, Outcome, Thresholds
from models.enums import FaceAction, FaceReason


def test_every_production_challenge_has_a_turn_and_the_open_mouth() -> None:
    pool = Settings().face_action_pool
    assert set(pool) == {FaceAction.TURN_LEFT, FaceAction.TURN_RIGHT, FaceAction.OPEN_MOUTH}
    rng = random.Random(3)
    seen = set()
    for _ in range(200):
        challenge = new_challenge(pool, 10, 4.0, rng)
        assert len(challenge.actions) == 2 and FaceAction.OPEN_MOUTH in challenge.actions
        assert sum(a in TURNS for a in challenge.actions) == 1
        seen.add(challenge.actions)
    assert len(seen) == 4  # both directions, both orders


def test_a_single_action_fixes_the_challenge() -> None:
    only = Settings(face_actions="turn_right").face_action_pool
    challenge = new_challenge(only, 8, 2.0)
    assert challenge.actions == (FaceAction.TURN_RIGHT,)
    page = challenge.for_page()
    assert page["frames"] == 8 and page["seconds"] == 2.0 and len(page["id"]) == 12
    assert page["actions"] == [
        {"code": "turn_right", "label": "向右转头", "hint": HINTS[FaceAction.TURN_RIGHT]}
    ]
    assert new_challenge(only, 8, 2.0).id != challenge.id


def test_a_burst_cannot_come_before_it_could_be_filmed() -> None:
    challenge = new_challenge((FaceAction.TURN_LEFT,), 10, 4.0)
    assert challenge.too_early(challenge.issued + 1.0)
    assert not challenge.too_early(challenge.issued + 3.3)
    assert not new_challenge((FaceAction.TURN_LEFT,), 10, 0.0).too_early(time.monotonic())


def test_unknown_or_no_actions_are_refused_at_start_up() -> None:
    with pytest.raises(SettingsError, match="FACE_ACTIONS"):
        Settings(face_actions="turn_left,wink")
    with pytest.raises(SettingsError, match="FACE_ACTIONS"):
        Settings(face_actions=" , ")
    assert Settings(face_actions="", face_liveness=False).face_action_pool == ()


def test_the_missing_actions_are_named() -> None:
    assert missing_message(["turn_left"]) == "未完成指定动作（请向左转头）"
    assert missing_message(["turn_right", "open_mouth"]) == "未完成指定动作（请向右转头、张嘴）"


def test_a_job_and_an_outcome_survive_the_wire() -> None:
    job = Job(
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
    raw = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in job.fields().items()}
    assert Job.from_fields(raw) == job
    outcome = Outcome(
        False, FaceReason.NO_ACTION, encoding=b"\x01\x02", missing=["open_mouth"], frames=[{}]
    )
    assert Outcome.from_json(outcome.to_json()) == outcome


def test_the_face_worker_loads_no_orm_and_no_web_framework() -> None:
    code = (
        "import sys, face.worker, face.analysis, face.jobs\n"
        "heavy = ('tortoise', 'starlette', 'portal', 'examhall')\n"
        "loaded = [m for m in heavy if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)
