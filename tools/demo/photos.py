"""Registration photos for the demo physicians, made at seed time from the face photos of
``../shared/faces/`` (read there, never copied into the project).

Each source photo is checked and encoded once, with the same analysis the face workers run
on a registration photo (``face.analysis.analyse_photo``: one frontal face, eyes open; a
photo that fails is left out), and its re-encoded JPEG written once under
``MEDIA_DIR/photos/demo/``; every demo physician points at one of them with its encoding,
so seeding stays fast however many physicians there are. An institution that replaces a
demo photo gets a file of its own, as for any physician.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.settings import ROOT, Settings
from face.jobs import Outcome, Thresholds
from models.enums import FaceReason, FaceStage
from models.exam import FaceCheck
from models.physician import Physician

FACES = ROOT.parent / "shared" / "faces"
# Photos that show one frontal face each. The clip's frontal frame comes first: the demo's
# exam physician gets it, so the clip's real head turns (face/samples.py) pass its checks.
SOURCES = ("clip/f040.jpg", "obama.jpg", "biden.jpg", "clip/f057.jpg")
FOLDER = Path("photos") / "demo"


@dataclass(frozen=True)
class DemoPhoto:
    path: str  # under MEDIA_DIR, as Physician.photo keeps it
    encoding: bytes
    hash: str


def _check(data: bytes, settings: Settings) -> Outcome | None:
    from face.analysis import analyse_photo  # loads dlib: only the seeding process pays

    outcome = analyse_photo(data, Thresholds.from_settings(settings))
    return outcome if outcome.passed else None


async def prepare(settings: Settings, faces: Path = FACES) -> list[DemoPhoto]:
    """The usable source photos, encoded and written to the media folder; [] when the
    photos are not there (a deployment without ../shared)."""
    photos = []
    for name in SOURCES:
        source = faces / name
        if not source.is_file():
            continue
        data = await asyncio.to_thread(source.read_bytes)
        checked = await asyncio.to_thread(_check, data, settings)
        if checked is None:
            continue
        relative = FOLDER / (Path(name.replace("/", "-")).stem + ".jpg")
        target = settings.media_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(target.write_bytes, checked.photo)
        photos.append(DemoPhoto(str(relative), checked.encoding, checked.photo_hash))
    return photos


async def assign(photos: Sequence[DemoPhoto], first: Sequence[int] = ()) -> int:
    """Give every physician without a photo one of ``photos`` in turn (those of ``first``
    the first photo), stored as registration stores one. Returns how many got one."""
    if not photos:
        return 0
    rows = await Physician.filter(photo="").order_by("id").values("id")
    ids = [int(row["id"]) for row in rows]
    present, leading = set(ids), set(first)
    ordered = [i for i in first if i in present] + [i for i in ids if i not in leading]
    groups: dict[int, list[int]] = {}
    for n, physician_id in enumerate(ordered):
        groups.setdefault(0 if physician_id in leading else n % len(photos), []).append(
            physician_id
        )
    for index, members in groups.items():
        photo = photos[index]
        for start in range(0, len(members), 500):
            chunk = members[start : start + 500]
            await Physician.filter(id__in=chunk).update(
                photo=photo.path, face_encoding=photo.encoding, photo_hash=photo.hash
            )
    await FaceCheck.bulk_create(
        [
            FaceCheck(
                physician_id=i, stage=FaceStage.REGISTRATION, passed=True, reason=FaceReason.OK
            )
            for i in ordered
        ],
        batch_size=500,
    )
    return len(ordered)
