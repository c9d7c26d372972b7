"""What a check asks (face/challenge.py)."""

from __future__ import annotations

import random
import time

import pytest

from core.settings import Settings, SettingsError
from face.challenge import HINTS, TURNS, missing_message, new_challenge
from models.enums import FaceAction


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
