"""What a face worker computes: pure functions on bytes, CPU only, no I/O.

A picture is decoded safely (the pixel count read from the header and refused above the
limit before anything is decoded; the EXIF orientation applied; JPEG and PNG only). Faces are
found by dlib's HOG detector; a burst's later frames are searched only around the face of
the frame before (a tenth of the cost), the whole frame again when it is not there.

Measures, from the 68 landmarks of dlib (iBUG numbering) — figures measured on the frames of
``../shared/faces/`` are in README 人脸识别:
- ``yaw``: where the nose tip (30) lies along the jaw line (0 → 16): 0.5 is frontal. Frames
  are not mirrored, so a turn to the physician's own left moves the nose to the image's
  right and ``yaw`` grows.
- ``mouth``: the gap between the inner lips (61–63 and 67–65) over the nose height (27–33).
- ``eyes``: the eye aspect ratio (Soukupová and Čech, 2016), for registration photos.
- ``hash``: a 64-bit DCT hash (imagehash.phash) of the face aligned by dlib
  (``get_face_chip``, 64 px): copies of one picture, re-encoded, rescaled or shifted, are
  0–4 bits apart; live frames of a person are 6 bits apart and more.
Encodings (the expensive part, ~75 ms each) are computed only for the frames that decide:
the identity frame, the frame that shows each action, and a frame after a break in the track.
"""

from __future__ import annotations

import io
import itertools
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from face.jobs import Outcome, Thresholds
from models.enums import FaceAction, FaceReason

Pixels = np.ndarray[Any, Any]
Box = tuple[int, int, int, int]  # top, right, bottom, left (face_recognition's order)

NEUTRAL_YAW = 0.15  # |yaw - 0.5| at most this: the face looks at the camera
MOUTH_HOLD = 2  # frames that must show the mouth open (held, not a flicker)
FRONTAL_MOUTH_YAW = 0.2  # the open mouth is shown facing the camera
MIN_FACE_PX = 80  # a registration photo's face, in pixels at FACE_MAX_SIDE
PHOTO_SIDE = 800  # registration photos are stored with this longer side at most
PHOTO_EYES = 0.15  # eye aspect ratio below this: the eyes are closed
MAX_ENCODED = 5  # encodings one burst may cost
BREAK_IOU = 0.2  # consecutive face boxes overlapping less than this: the track broke
FORMATS = ("JPEG", "PNG")


def ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


# --- pictures ---------------------------------------------------------------------------


def _open(data: bytes) -> Any:
    """The picture, its header read and nothing decoded. PIL's own bomb guard is off here:
    the caller compares the pixel count with FACE_MAX_PIXELS and says why it refuses."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return Image.open(io.BytesIO(data), formats=FORMATS)
        finally:
            Image.MAX_IMAGE_PIXELS = limit


def refusal(data: bytes, max_pixels: int) -> FaceReason | None:
    """Why a picture is refused before it is decoded: not a JPEG or PNG, or too many pixels."""
    from PIL import UnidentifiedImageError

    try:
        with _open(data) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return FaceReason.UNREADABLE
    return FaceReason.TOO_MANY_PIXELS if width * height > max_pixels else None


def open_picture(data: bytes, max_side: int, max_pixels: int) -> Any:
    """A PIL image, upright and RGB, at most ``max_side`` on its longer side; or the
    FaceReason it is refused for. The size is read from the header before any decoding."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    refused = refusal(data, max_pixels)
    if refused is not None:
        return refused
    try:
        image = _open(data)
        image.draft("RGB", (max_side, max_side))  # JPEG: decoded at a reduced scale
        upright = ImageOps.exif_transpose(image)
        rgb = (upright if upright is not None else image).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return FaceReason.UNREADABLE
    if max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return rgb


# --- one face -----------------------------------------------------------------------------


def _api() -> Any:
    import face_recognition.api as api

    return api


def _box(rect: Any, shape: tuple[int, ...], dx: int = 0, dy: int = 0) -> Box:
    top, bottom = max(rect.top() + dy, 0), min(rect.bottom() + dy, shape[0])
    left, right = max(rect.left() + dx, 0), min(rect.right() + dx, shape[1])
    return (top, right, bottom, left)


def detect(pixels: Pixels, upsample: int) -> list[Box]:
    return [_box(r, pixels.shape) for r in _api().face_detector(pixels, upsample)]


def detect_near(pixels: Pixels, box: Box, upsample: int) -> list[Box]:
    """Faces within one face-width of ``box``: where a face of the frame before can be."""
    top, right, bottom, left = box
    size = max(bottom - top, right - left)
    y0, x0 = max(top - size, 0), max(left - size, 0)
    y1, x1 = min(bottom + size, pixels.shape[0]), min(right + size, pixels.shape[1])
    crop = np.ascontiguousarray(pixels[y0:y1, x0:x1])
    return [_box(r, pixels.shape, x0, y0) for r in _api().face_detector(crop, upsample)]


def overlap(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    top, bottom = max(a[0], b[0]), min(a[2], b[2])
    left, right = max(a[3], b[3]), min(a[1], b[1])
    inter = max(0, bottom - top) * max(0, right - left)
    area = (a[2] - a[0]) * (a[1] - a[3]) + (b[2] - b[0]) * (b[1] - b[3]) - inter
    return inter / area if area > 0 else 0.0


@dataclass
class Face:
    """One face of one frame: where it is, its measures, and what encoding needs."""

    box: Box
    points: Pixels  # the 68 landmarks, float (x, y)
    shape5: Any  # dlib's 5-point shape: alignment for the chip and the encoding
    yaw: float
    mouth: float
    eyes: float
    sharpness: float
    hash: str
    encoding: Pixels | None = None

    def facts(self) -> dict[str, Any]:
        return {
            "yaw": round(self.yaw, 3),
            "mouth": round(self.mouth, 3),
            "size": self.box[2] - self.box[0],
            "hash": self.hash,
        }


def _rect(box: Box) -> Any:
    import dlib

    top, right, bottom, left = box
    return dlib.rectangle(left, top, right, bottom)


def measure(pixels: Pixels, box: Box) -> Face:
    import dlib
    import imagehash
    from PIL import Image

    api = _api()
    rect = _rect(box)
    shape = api.pose_predictor_68_point(pixels, rect)
    points = np.array([(p.x, p.y) for p in shape.parts()], dtype=float)
    shape5 = api.pose_predictor_5_point(pixels, rect)
    chip = dlib.get_face_chip(pixels, shape5, size=64, padding=0.25)
    grey = chip.mean(axis=2)
    laplace = (
        4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    )
    return Face(
        box=box,
        points=points,
        shape5=shape5,
        yaw=yaw(points),
        mouth=mouth_opening(points),
        eyes=eye_opening(points),
        sharpness=float(laplace.var()),
        hash=str(imagehash.phash(Image.fromarray(chip))),
    )


def yaw(points: Pixels) -> float:
    axis = points[16] - points[0]
    length = float(np.dot(axis, axis))
    return float(np.dot(points[30] - points[0], axis) / length) if length else 0.5


def mouth_opening(points: Pixels) -> float:
    gap = np.linalg.norm(points[[65, 66, 67]].mean(axis=0) - points[[61, 62, 63]].mean(axis=0))
    nose = np.linalg.norm(points[33] - points[27])
    return float(gap / nose) if nose else 0.0


def eye_opening(points: Pixels) -> float:
    def ratio(eye: Pixels) -> float:
        width = np.linalg.norm(eye[0] - eye[3])
        lids = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
        return float(lids / (2 * width)) if width else 0.0

    return (ratio(points[36:42]) + ratio(points[42:48])) / 2


def encode(pixels: Pixels, face: Face) -> Pixels:
    if face.encoding is None:
        face.encoding = np.array(
            _api().face_encoder.compute_face_descriptor(pixels, face.shape5, 1)
        )
    return face.encoding


def hash_distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def distance(a: Pixels, b: bytes | Pixels) -> float:
    known = np.frombuffer(b, dtype=np.float64) if isinstance(b, bytes) else b
    return float(np.linalg.norm(known - a))


# --- a registration photo -----------------------------------------------------------------


def analyse_photo(data: bytes, th: Thresholds) -> Outcome:
    """One frontal face with open eyes, large enough: its encoding, its hash, and the photo
    re-encoded as a JPEG without metadata (what is stored and served)."""
    started = time.perf_counter()
    image = open_picture(data, PHOTO_SIDE, th.max_pixels)
    if isinstance(image, FaceReason):
        return Outcome(False, image, compute_ms=ms(started))
    stored = io.BytesIO()
    image.save(stored, "JPEG", quality=90)
    small = image.copy()
    small.thumbnail((th.max_side, th.max_side))
    pixels = np.asarray(small)
    # Upsampled once: faces half as large are found, to be refused as too small with a reason
    # rather than as no face at all (registrations are rare; the cost does not matter).
    boxes = detect(pixels, max(th.upsample, 1))
    if not boxes:
        return Outcome(False, FaceReason.NO_FACE, compute_ms=ms(started))
    if len(boxes) > 1:
        return Outcome(False, FaceReason.MULTIPLE_FACES, compute_ms=ms(started))
    face = measure(pixels, boxes[0])
    scale = image.width / small.width
    box = [round(v * scale) for v in face.box]
    if face.box[2] - face.box[0] < MIN_FACE_PX:
        return Outcome(False, FaceReason.FACE_TOO_SMALL, box=box, compute_ms=ms(started))
    if abs(face.yaw - 0.5) > NEUTRAL_YAW:
        return Outcome(False, FaceReason.NOT_FRONTAL, box=box, compute_ms=ms(started))
    if face.eyes < PHOTO_EYES:
        return Outcome(False, FaceReason.EYES_CLOSED, box=box, compute_ms=ms(started))
    return Outcome(
        True,
        FaceReason.OK,
        box=box,
        encoding=encode(pixels, face).tobytes(),
        photo=stored.getvalue(),
        photo_hash=face.hash,
        compute_ms=ms(started),
    )


def photo_hash(data: bytes, th: Thresholds) -> str:
    """The face hash of a stored photo ("" when it holds no single face)."""
    image = open_picture(data, th.max_side, th.max_pixels)
    if isinstance(image, FaceReason):
        return ""
    pixels = np.asarray(image)
    boxes = detect(pixels, th.upsample)
    return measure(pixels, boxes[0]).hash if len(boxes) == 1 else ""


# --- a burst ------------------------------------------------------------------------------


@dataclass
class Burst:
    """The frames of one check, decoded and measured."""

    pixels: list[Pixels]
    faces: list[Face | None]  # the tracked face of each frame, None where none was found
    crowded: list[int]  # frames where the whole-frame search found several faces

    @property
    def found(self) -> list[int]:
        return [i for i, f in enumerate(self.faces) if f is not None]

    def face(self, i: int) -> Face:
        found = self.faces[i]
        assert found is not None
        return found


def read_burst(pictures: list[bytes], th: Thresholds) -> Burst | FaceReason:
    pixels: list[Pixels] = []
    for data in pictures:
        image = open_picture(data, th.max_side, th.max_pixels)
        if isinstance(image, FaceReason):
            return image
        pixels.append(np.asarray(image))
    faces: list[Face | None] = []
    crowded: list[int] = []
    last: Box | None = None
    for i, frame in enumerate(pixels):
        boxes = detect_near(frame, last, th.upsample) if last is not None else []
        if len(boxes) != 1:  # lost (or crowded) near the last face: look at the whole frame
            boxes = detect(frame, th.upsample)
            if len(boxes) > 1:
                crowded.append(i)
        if len(boxes) == 1:
            faces.append(measure(frame, boxes[0]))
            last = boxes[0]
        else:
            faces.append(None)
    return Burst(pixels, faces, crowded)


def identity_frame(burst: Burst, th: Thresholds) -> int:
    """The frame that decides identity: the sharpest frontal one with a closed mouth, or
    the most frontal one."""
    found = burst.found
    calm = [
        i
        for i in found
        if abs(burst.face(i).yaw - 0.5) <= NEUTRAL_YAW and burst.face(i).mouth <= th.mouth_closed
    ]
    if calm:
        return max(calm, key=lambda i: burst.face(i).sharpness)
    return min(found, key=lambda i: abs(burst.face(i).yaw - 0.5))


def turn_seen(burst: Burst, action: FaceAction, th: Thresholds) -> int | None:
    """The first frame where the head has turned the way asked by ``th.turn`` from a frontal
    frame before it."""
    sign = 1 if action == FaceAction.TURN_LEFT else -1
    found = burst.found
    for n, j in enumerate(found):
        later = burst.face(j).yaw
        for i in found[:n]:
            start = burst.face(i).yaw
            if abs(start - 0.5) <= NEUTRAL_YAW and sign * (later - start) >= th.turn:
                return j
    return None


def mouth_seen(burst: Burst, th: Thresholds) -> int | None:
    """The first frame of an open mouth held for MOUTH_HOLD frames after a closed one, all
    facing the camera."""
    facing = [i for i in burst.found if abs(burst.face(i).yaw - 0.5) <= FRONTAL_MOUTH_YAW]
    closed = [i for i in facing if burst.face(i).mouth <= th.mouth_closed]
    if not closed:
        return None
    opened = [i for i in facing if i > closed[0] and burst.face(i).mouth >= th.mouth_open]
    return opened[0] if len(opened) >= MOUTH_HOLD else None


def breaks(burst: Burst) -> list[int]:
    """Face frames that follow a frame without a face, or whose face jumped: where one
    person could have been swapped for another."""
    out = []
    found = burst.found
    for before, i in itertools.pairwise(found):
        if i != before + 1 or overlap(burst.face(before).box, burst.face(i).box) < BREAK_IOU:
            out.append(i)
    return out


def replayed(
    burst: Burst, job_hashes: list[str], seen: list[str], decisive: list[int], th: Thresholds
) -> bool:
    """Frames of a picture or of an earlier check: the face frames all (nearly) alike; a
    frame like the registered photo; a deciding frame like a frame of an earlier check."""
    bits = th.replay_bits
    hashes = [burst.face(i).hash for i in burst.found]
    if len(hashes) > 1 and all(
        hash_distance(a, b) <= bits for n, a in enumerate(hashes) for b in hashes[n + 1 :]
    ):
        return True
    if any(hash_distance(h, known) <= bits for h in hashes for known in job_hashes if known):
        return True
    return any(hash_distance(burst.face(i).hash, known) <= bits for i in decisive for known in seen)


def analyse_burst(
    pictures: list[bytes],
    reference: bytes,
    th: Thresholds,
    actions: list[str] | None = None,
    reference_hash: str = "",
    seen: list[str] | None = None,
) -> Outcome:
    """Is this burst the registered physician, alive, doing what was asked? The cheap
    questions first (pictures, faces, replays, actions), the encodings last."""
    started = time.perf_counter()
    if th.liveness and len(set(pictures)) < len(pictures):  # a camera never repeats a JPEG
        return Outcome(False, FaceReason.REPLAY, compute_ms=ms(started))
    read = read_burst(pictures, th)
    if isinstance(read, FaceReason):
        return Outcome(False, read, compute_ms=ms(started))
    burst = read

    def answer(passed: bool, reason: FaceReason, **more: Any) -> Outcome:
        frames = [f.facts() if f else {} for f in burst.faces]
        return Outcome(passed, reason, frames=frames, compute_ms=ms(started), **more)

    found = burst.found
    if len(found) < (max(2, (len(pictures) + 1) // 2) if th.liveness else 1):
        return answer(False, FaceReason.NO_FACE)
    if burst.crowded:
        return answer(False, FaceReason.MULTIPLE_FACES)
    best = identity_frame(burst, th)
    decisive: dict[str, Any] = {"identity": best}
    seen_at: dict[str, int | None] = {}
    if th.liveness:
        for code in actions or []:
            action = FaceAction(code)
            seen_at[code] = (
                mouth_seen(burst, th)
                if action == FaceAction.OPEN_MOUTH
                else turn_seen(burst, action, th)
            )
        missing = [code for code, at in seen_at.items() if at is None]
        decisive.update({code: at for code, at in seen_at.items() if at is not None})
        acted = [at for at in seen_at.values() if at is not None]
        if replayed(burst, [reference_hash], seen or [], [best, *acted], th):
            return answer(False, FaceReason.REPLAY, decisive=decisive)
        if missing:
            return answer(False, FaceReason.NO_ACTION, missing=missing, decisive=decisive)
    face = burst.face(best)
    box = list(face.box)
    identity = encode(burst.pixels[best], face)
    gap = distance(identity, reference)
    found_more = dict.fromkeys([*decisive.values(), *breaks(burst)]) if th.liveness else {}
    others = [i for i in found_more if i != best][:MAX_ENCODED]
    # One person throughout: every deciding frame and every frame after a break in the
    # track shows the identity frame's person (or the registered one: a far turn strays),
    # and when the identity frame is someone else, no frame shows the registered person.
    for i in others:
        other = encode(burst.pixels[i], burst.face(i))
        to_ref = distance(other, reference)
        swapped = to_ref <= th.tolerance if gap > th.tolerance else False
        if swapped or min(distance(other, identity), to_ref) > th.tolerance:
            decisive["changed"] = i
            return answer(
                False, FaceReason.FACE_CHANGED, distance=round(gap, 4), box=box, decisive=decisive
            )
    if gap > th.tolerance:
        return answer(
            False, FaceReason.MISMATCH, distance=round(gap, 4), box=box, decisive=decisive
        )
    return answer(
        True,
        FaceReason.OK,
        distance=round(gap, 4),
        box=box,
        decisive=decisive,
        frame_hashes=[burst.face(i).hash for i in found],
    )
