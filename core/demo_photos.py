"""Registration photos for the demo physicians, made at seed time from the face photos of
``../shared/faces/`` (read there, never copied into the project).

Each source photo is encoded once, with the same analysis the face workers run on a
registration photo (``workers.face.analyse``), and written once under
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
from models.enums import FaceReason, FaceStage
from models.exam import FaceCheck
from models.physician import Physician

FACES = ROOT.parent / "shared" / "faces"
# Photos that show one frontal face each (obama.jpg first: the hall's demo frames match it).
SOURCES = ("obama.jpg", "obama2.jpg", "biden.jpg", "clip/f040.jpg", "clip/f057.jpg")
FOLDER = Path("photos") / "demo"


@dataclass(frozen=True)
class DemoPhoto:
    path: str  # under MEDIA_DIR, as Physician.photo keeps it
    encoding: bytes


def _encode(data: bytes, settings: Settings) -> bytes | None:
    from workers.face import analyse  # loads dlib: only the seeding process pays for it

    outcome = analyse(
        data, None, settings.face_tolerance, settings.face_max_side, settings.face_upsample
    )
    return outcome.encoding if outcome.passed else None


async def prepare(settings: Settings, faces: Path = FACES) -> list[DemoPhoto]:
    """The usable source photos, encoded and written to the media folder; [] when the
    photos are not there (a deployment without ../shared)."""
    photos = []
    for name in SOURCES:
        source = faces / name
        if not source.is_file():
            continue
        data = await asyncio.to_thread(source.read_bytes)
        encoding = await asyncio.to_thread(_encode, data, settings)
        if encoding is None:
            continue
        relative = FOLDER / name.replace("/", "-")
        target = settings.media_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(target.write_bytes, data)
        photos.append(DemoPhoto(str(relative), encoding))
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
                photo=photo.path, face_encoding=photo.encoding
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
