"""Bursts made from the real video of ``../shared/faces/clip/`` (10 frames a second of one
man, person H, turning his head; then another person): what the tests, the load-test tool
and the face benchmark send as live checks. Not used when serving.

The clip holds three real turns: to H's left (f055–f064) and twice to his right (f041–f050,
f068–f077); mirrored, each is a turn the other way, so there are three distinct bursts per
direction, as many as the checks of one attempt (a burst shown twice is a replay). The
registered photo is the frontal frame f040, which no burst contains. The clip has no wide
open mouth: a challenge with 张嘴 cannot be passed with it (tests set FACE_ACTIONS).
"""

from __future__ import annotations

import functools
import io

from core.settings import ROOT
from models.enums import FaceAction

CLIP = ROOT.parent / "shared" / "faces" / "clip"
REGISTRATION = 40  # f040: frontal, eyes open, mouth closed
LEFT = range(55, 65)
RIGHT = (range(41, 51), range(68, 78))
SWAP = tuple(range(68, 87, 2))  # H turns right, then the other person (after f079–f081)


def frame(n: int) -> bytes:
    return (CLIP / f"f{n:03d}.jpg").read_bytes()


def registration_photo() -> bytes:
    return frame(REGISTRATION)


def mirror(jpeg: bytes) -> bytes:
    from PIL import Image, ImageOps

    out = io.BytesIO()
    with Image.open(io.BytesIO(jpeg)) as image:
        ImageOps.mirror(image).save(out, "JPEG", quality=92)
    return out.getvalue()


@functools.cache
def turns() -> dict[FaceAction, tuple[tuple[bytes, ...], ...]]:
    left = tuple(frame(n) for n in LEFT)
    rights = [tuple(frame(n) for n in r) for r in RIGHT]
    return {
        FaceAction.TURN_LEFT: (left, *(tuple(mirror(f) for f in r) for r in rights)),
        FaceAction.TURN_RIGHT: (*rights, tuple(mirror(f) for f in left)),
    }


def burst_for(actions: list[str], n: int = 0) -> list[bytes] | None:
    """The ``n``-th distinct burst (0–2) that shows the single turn asked; None when the
    challenge asks for something the clip does not show."""
    if len(actions) != 1 or actions[0] not in (FaceAction.TURN_LEFT, FaceAction.TURN_RIGHT):
        return None
    return list(turns()[FaceAction(actions[0])][n % 3])


def swap() -> list[bytes]:
    """H turning right, then a no-face gap, then another person."""
    return [frame(n) for n in SWAP]
