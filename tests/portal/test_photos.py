"""Uploaded photos, handled safely on every path that takes one (registration, the
institution's 更换照片): the pixel count is read before anything is decoded, the EXIF
orientation is applied, a large phone photo is downscaled and accepted, and what is stored
and served is a re-encoded JPEG without metadata (no GPS position leaves the server)."""

from __future__ import annotations

import io
import multiprocessing
import resource
import time
from datetime import date
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette

from core.idcard import make_id_number
from face import samples
from models.enums import OrgKind, RegistrationStatus
from models.org import County
from models.physician import Physician
from tests import factories
from tests.face_helpers import jpeg, photo, png_bomb
from tests.helpers import csrf_of, login

GPS = 0x8825  # the EXIF tag of the GPS directory
ORIENTATION = 0x0112


def with_gps(data: bytes) -> bytes:
    """The photo as a phone saves it: with the place it was taken."""
    image = Image.open(io.BytesIO(data))
    exif = Image.Exif()
    exif[GPS] = {1: "N", 2: (43.0, 49.0, 30.0), 3: "E", 4: (87.0, 36.0, 10.0)}
    return jpeg(image, exif=exif.tobytes())


def rotated_by_exif(data: bytes) -> bytes:
    """Stored lying on its side, with EXIF orientation 6 (turn 90° clockwise to view)."""
    image = Image.open(io.BytesIO(data)).rotate(90, expand=True)
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    return jpeg(image, exif=exif.tobytes())


def phone_photo(data: bytes) -> bytes:
    """A 12-megapixel phone photo of 2–5 MB (with a sensor's grain, as phones save them)."""
    import numpy as np

    image = Image.open(io.BytesIO(data)).convert("RGB")
    scale = 4000 / max(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)))
    grain = np.random.default_rng(1).normal(0, 8, (image.height, image.width, 3))
    noisy = np.clip(np.asarray(image, dtype=float) + grain, 0, 255).astype("uint8")
    return jpeg(Image.fromarray(noisy), 95)


def _peak_rss(queue: Any, data: bytes) -> None:
    from face.analysis import analyse_photo
    from face.jobs import Thresholds

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    outcome = analyse_photo(data, Thresholds())
    queue.put(
        (
            outcome.reason.value,
            time.perf_counter() - started,
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before,
        )
    )


async def replace(client: httpx.AsyncClient, physician_id: int, image: bytes) -> str:
    token = await csrf_of(client, f"/physicians/{physician_id}")
    await client.post(
        f"/physicians/{physician_id}/photo/replace",
        data={"csrf_token": token},
        files={"photo": ("IMG_0001.HEIC", image, "application/octet-stream")},
    )
    return (await client.get(f"/physicians/{physician_id}")).text


@pytest.fixture
async def clerk(app: Starlette, client: httpx.AsyncClient) -> tuple[int, httpx.AsyncClient]:
    inst, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    await app.state.face.store_photo(doc, photo("obama.jpg"))
    await login(client, acct.username)
    return doc.id, client


async def stored(app: Starlette, physician_id: int) -> Image.Image:
    doc = await Physician.get(id=physician_id)
    return Image.open(app.state.settings.media_path / doc.photo)


async def test_a_decompression_bomb_is_refused_at_once(
    app: Starlette, clerk: tuple[int, httpx.AsyncClient], worker: Any
) -> None:
    bomb = png_bomb()  # 13000 x 13000: 169 million pixels, 1 GB to decode
    assert len(bomb) < 200_000
    physician_id, client = clerk
    before = (await Physician.get(id=physician_id)).photo
    started = time.perf_counter()
    page = await replace(client, physician_id, bomb)
    assert time.perf_counter() - started < 1.0
    assert "图片尺寸过大，请缩小后重新上传" in page
    assert (await Physician.get(id=physician_id)).photo == before
    # And in a face worker's own code, the same picture costs neither time nor memory.
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_rss, args=(queue, bomb))
    proc.start()
    reason, seconds, grown_kib = queue.get(timeout=60)
    proc.join(timeout=10)
    assert reason == "too_many_pixels" and seconds < 1.0 and grown_kib < 50 * 1024


async def test_a_photo_rotated_by_exif_is_accepted_upright(
    app: Starlette, clerk: tuple[int, httpx.AsyncClient], worker: Any
) -> None:
    physician_id, client = clerk
    page = await replace(client, physician_id, rotated_by_exif(photo("biden.jpg")))
    assert "已更换" in page
    upright = Image.open(io.BytesIO(photo("biden.jpg")))
    with await stored(app, physician_id) as kept:
        assert (kept.width > kept.height) == (upright.width > upright.height)
        assert not kept.getexif()


async def test_a_large_phone_photo_is_downscaled_and_accepted(
    app: Starlette, clerk: tuple[int, httpx.AsyncClient], worker: Any
) -> None:
    physician_id, client = clerk
    big = phone_photo(photo("biden.jpg"))
    assert 2 * 1024 * 1024 < len(big) < 5 * 1024 * 1024
    assert "已更换" in await replace(client, physician_id, big)
    with await stored(app, physician_id) as kept:
        assert kept.format == "JPEG" and max(kept.size) == 800


async def test_no_gps_position_is_stored_or_served(
    app: Starlette, client: httpx.AsyncClient, worker: Any
) -> None:
    inst = await factories.organisation(OrgKind.INSTITUTION)
    county = await County.get(id=inst.county_id)
    number = make_id_number("653121", date(1988, 2, 14), 246)
    token = await csrf_of(client, "/register")
    upload = with_gps(samples.registration_photo())
    assert Image.open(io.BytesIO(upload)).getexif().get_ifd(GPS)  # the phone's position
    data = {
        "name": "古丽娜尔",
        "id_number": number,
        "prefecture": str(county.prefecture_id),
        "county": str(county.id),
        "institution": str(inst.id),
        "practice_category": "临床",
        "practice_scope": "内科专业",
        "title": "主治医师",
        "licence_number": "110653121000456",
        "email": "gulinaer@example.com",
        "mobile": "13912340000",
        "password": "Kashgar2026",
        "confirm_password": "Kashgar2026",
        "csrf_token": token,
    }
    files = {"photo": ("location.jpg", upload, "image/jpeg")}
    assert (await client.post("/register", data=data, files=files)).status_code == 303
    doc = await Physician.get(id_number=number)
    assert doc.registration_status == RegistrationStatus.PENDING
    kept = (app.state.settings.media_path / doc.photo).read_bytes()
    assert b"Exif" not in kept and not Image.open(io.BytesIO(kept)).getexif()
    clerk = await factories.account(factories.Role.INSTITUTION, inst)
    client.cookies.clear()
    await login(client, clerk.username)
    served = await client.get(f"/physicians/{doc.id}/photo")
    assert served.status_code == 200 and served.content == kept
