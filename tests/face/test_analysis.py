"""The liveness decision itself (face/analysis.py), in this process, on real pictures: the
clip's real head turns pass the challenge they show and no other; a still, however it is
copied, moved or tilted in front of the camera, passes no challenge; a burst that changes
person fails; the registered photo and earlier checks cannot come back."""

from __future__ import annotations

import dataclasses
import functools
import io

import numpy as np
import pytest
from PIL import Image

from face import samples
from face.analysis import (
    analyse_burst,
    analyse_photo,
    eye_opening,
    hash_distance,
    mouth_opening,
    open_picture,
    yaw,
)
from face.jobs import Outcome, Thresholds
from models.enums import FaceReason
from tests.face_helpers import jpeg, photo, tilted

TH = Thresholds()  # the production thresholds
# Every challenge the production pool makes, and each action alone.
CHALLENGES = [
    ["turn_left", "open_mouth"],
    ["open_mouth", "turn_left"],
    ["turn_right", "open_mouth"],
    ["open_mouth", "turn_right"],
    ["turn_left"],
    ["turn_right"],
    ["open_mouth"],
]


@functools.cache
def registered(source: bytes) -> Outcome:
    outcome = analyse_photo(source, TH)
    assert outcome.passed, outcome
    return outcome


def judge(frames: list[bytes], actions: list[str], seen: list[str] | None = None) -> Outcome:
    ref = registered(samples.registration_photo())
    return analyse_burst(frames, ref.encoding, TH, actions, ref.photo_hash, seen or [])


@pytest.mark.parametrize("n", [0, 1, 2])
def test_the_clips_turns_pass_their_challenge_and_no_other(n: int) -> None:
    for action, other in (("turn_left", "turn_right"), ("turn_right", "turn_left")):
        frames = samples.burst_for([action], n)
        assert frames is not None
        passed = judge(frames, [action])
        assert passed.passed, (action, n, passed)
        assert passed.distance is not None and passed.distance <= TH.tolerance
        assert passed.decisive[action] is not None and passed.frame_hashes
        for wrong in ([other], ["open_mouth"], [action, "open_mouth"]):
            failed = judge(frames, wrong)
            assert failed.reason == FaceReason.NO_ACTION, (action, wrong, failed)
            assert failed.missing == [a for a in wrong if a != action]


def stills(source: bytes) -> dict[str, list[bytes]]:
    """One still, ten frames each: copied, rescaled, shifted, and held up to the camera and
    moved (tilted up to 30° each way, nearer and farther)."""
    with Image.open(io.BytesIO(source)) as opened:
        image = opened.convert("RGB")
    w, h = image.size
    return {
        "re-encoded": [jpeg(image, 60 + 4 * k) for k in range(10)],
        "rescaled": [
            jpeg(image.resize((round(w * s), round(h * s)))) for s in np.linspace(0.9, 1.15, 10)
        ],
        "shifted": [
            jpeg(image.transform(image.size, Image.Transform.AFFINE, (1, 0, dx, 0, 1, dx / 3)))
            for dx in np.linspace(-30, 30, 10)
        ],
        "tilted": [
            tilted(source, yaw=y, pitch=10 * np.sin(k), distance=1.5 + k / 10, shift=k / 80)
            for k, y in enumerate(np.linspace(-30, 30, 10))
        ],
        "turned back and forth": [
            tilted(source, yaw=y, distance=2.0) for y in (0, 8, 16, 24, 30, 24, 16, 8, 0, -8)
        ],
    }


@pytest.mark.parametrize("name", ["f057", "f069", "registration"])
def test_a_still_passes_no_challenge_however_it_is_moved(name: str) -> None:
    source = {
        "f057": samples.frame(57),
        "f069": samples.frame(69),
        "registration": samples.registration_photo(),
    }[name]
    for how, frames in stills(source).items():
        for actions in CHALLENGES:
            outcome = judge(frames, actions)
            assert not outcome.passed, (name, how, actions, outcome.frames)
            assert outcome.reason in (FaceReason.REPLAY, FaceReason.NO_ACTION), (how, outcome)


def test_the_registered_photo_is_never_a_live_frame() -> None:
    ref = samples.registration_photo()
    same = judge([ref] * 10, ["turn_left"])
    assert same.reason == FaceReason.REPLAY and same.frames == []  # identical bytes: at once
    copies = [jpeg(Image.open(io.BytesIO(ref)), 70 + k) for k in range(10)]
    assert judge(copies, ["turn_left"]).reason == FaceReason.REPLAY


def test_a_closed_mouth_on_a_picture_never_opens() -> None:
    """Tilted as far as 60° and held as close as 0.9 of its width to the camera, the picture
    of a closed mouth never reads as an open one (while a turn can be faked so: README)."""
    for source in (samples.frame(57), photo("biden.jpg"), samples.registration_photo()):
        ref = registered(samples.registration_photo())
        for yaw_deg in range(-60, 61, 15):
            for pitch in (-30, 0, 30):
                for distance in (0.9, 1.5, 3.0):
                    frame = tilted(source, yaw=yaw_deg, pitch=pitch, distance=distance)
                    outcome = analyse_burst([frame], ref.encoding, TH, [], "", [])
                    for facts in outcome.frames:
                        assert facts.get("mouth", 0) < TH.mouth_open, (yaw_deg, pitch, facts)


def test_a_burst_that_runs_into_another_person_fails() -> None:
    outcome = judge(samples.swap(), ["turn_right"])
    assert outcome.reason == FaceReason.FACE_CHANGED and "changed" in outcome.decisive


def test_a_check_cannot_show_an_earlier_checks_frames() -> None:
    first = judge(samples.burst_for(["turn_left"], 0) or [], ["turn_left"])
    assert first.passed
    again = judge(samples.burst_for(["turn_left"], 0) or [], ["turn_left"], first.frame_hashes)
    assert again.reason == FaceReason.REPLAY
    other = judge(samples.burst_for(["turn_left"], 1) or [], ["turn_left"], first.frame_hashes)
    assert other.passed, other  # a new live turn of the same man is not a replay


def test_an_impostor_doing_the_action_is_another_person() -> None:
    obama = registered(photo("obama.jpg"))
    frames = samples.burst_for(["turn_right"]) or []
    outcome = analyse_burst(frames, obama.encoding, TH, ["turn_right"], obama.photo_hash, [])
    assert outcome.reason == FaceReason.MISMATCH
    assert outcome.distance is not None and outcome.distance > TH.tolerance


def test_without_liveness_a_photo_passes() -> None:
    """FACE_LIVENESS=0 (never in production): identity alone, on one frame."""
    off = dataclasses.replace(TH, liveness=False)
    ref = registered(samples.registration_photo())
    outcome = analyse_burst([samples.frame(57)], ref.encoding, off, ["turn_left"], ref.photo_hash)
    assert outcome.passed, outcome


def test_registration_photos_are_stored_as_clean_jpegs() -> None:
    outcome = registered(samples.registration_photo())
    with Image.open(io.BytesIO(outcome.photo)) as stored:
        assert stored.format == "JPEG" and not stored.getexif() and stored.size == (640, 360)
    assert len(outcome.encoding) == 128 * 8 and len(outcome.photo_hash) == 16


def test_a_picture_too_large_is_refused_from_its_header() -> None:
    big = Image.new("L", (80, 60))
    data = io.BytesIO()
    big.save(data, "PNG")
    assert open_picture(data.getvalue(), 640, 80 * 60 - 1) == FaceReason.TOO_MANY_PIXELS
    assert not isinstance(open_picture(data.getvalue(), 640, 80 * 60), FaceReason)
    gif = io.BytesIO()
    big.save(gif, "GIF")
    assert open_picture(gif.getvalue(), 640, 10**6) == FaceReason.UNREADABLE  # JPEG, PNG only


def face(**moves: tuple[float, float]) -> np.ndarray:
    """68 landmarks of a frontal face, some moved."""
    points = np.zeros((68, 2))
    points[0], points[16] = (0, 50), (100, 50)  # the jaw's ends
    points[27], points[30], points[33] = (50, 20), (50, 50), (50, 60)  # nose: root, tip, base
    for n in (61, 62, 63):
        points[n] = (40 + 5 * (n - 61), 75)
    for n in (65, 66, 67):
        points[n] = (45 + 5 * (66 - n), 75)
    for eye, left in ((range(36, 42), 20), (range(42, 48), 62)):
        xs = (0, 5, 13, 18, 13, 5)
        ys = (30, 27, 27, 30, 33, 33)
        for n, x, y in zip(eye, xs, ys, strict=True):
            points[n] = (left + x, y)
    for key, value in moves.items():
        points[int(key.removeprefix("p"))] = value
    return points


def test_the_measures() -> None:
    frontal = face()
    assert yaw(frontal) == 0.5
    assert yaw(face(p30=(70, 50))) == pytest.approx(0.7)  # nose to the image's right: left
    assert mouth_opening(frontal) == 0
    opened = face(p65=(50, 95), p66=(45, 95), p67=(40, 95))
    assert mouth_opening(opened) == pytest.approx(0.5)  # 20 px gap over 40 px nose
    assert eye_opening(frontal) == pytest.approx(6 / 18)
    closed = face(p37=(25, 30), p38=(33, 30), p40=(33, 30), p41=(25, 30))
    assert eye_opening(closed) < eye_opening(frontal)
    assert hash_distance("ffff000000000000", "fffe000000000001") == 2
