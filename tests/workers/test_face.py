"""Face verification through the whole path: Redis stream → real worker processes → answer,
with the real photos of ../shared/faces (obama.jpg is the registered photo)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

import factories
from core.errors import DomainError
from core.settings import Settings
from face.client import BUSY, FaceService
from face.worker import start_workers
from face_helpers import grey_jpeg, photo, rgba_png
from models.enums import FaceReason, FaceStage, OrgKind
from models.exam import FaceCheck
from models.physician import Physician


@pytest.fixture(scope="module")
def workers(app: Starlette, settings: Settings, redis_url: str) -> Iterator[list[Any]]:
    procs = start_workers(settings, redis_url, 2)
    yield procs
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(timeout=10)


@pytest.fixture
def face(app: Starlette, workers: list[Any]) -> FaceService:
    service: FaceService = app.state.face
    return service


@pytest.fixture(scope="module")
async def registered(app: Starlette, workers: list[Any]) -> Physician:
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doctor = await factories.physician(inst)
    await app.state.face.store_photo(doctor, photo("obama.jpg"))
    return doctor


async def test_registration_photo_is_encoded_and_kept(
    registered: Physician, settings: Settings
) -> None:
    fresh = await Physician.get(id=registered.id)
    assert fresh.face_encoding is not None and len(fresh.face_encoding) == 128 * 8
    assert (settings.media_path / fresh.photo).read_bytes() == photo("obama.jpg")
    assert await FaceCheck.filter(physician_id=fresh.id, stage=FaceStage.REGISTRATION).exists()


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        (lambda: photo("obama_and_biden.jpg"), "检测到多张人脸"),
        (grey_jpeg, "无法识别人脸"),
        (lambda: b"definitely not an image", "图片无法读取"),
    ],
)
async def test_bad_registration_photos_are_refused_with_the_reason(
    face: FaceService, image: Any, reason: str
) -> None:
    with pytest.raises(DomainError, match=reason):
        await face.encode_photo(image())


@pytest.mark.parametrize("name", ["obama2.jpg", "obama-480p.jpg"])
async def test_the_same_person_passes(face: FaceService, registered: Physician, name: str) -> None:
    result = await face.verify(registered.id, photo(name), FaceStage.START)
    assert result.passed, result
    assert result.reason == FaceReason.OK and result.message == "验证通过"
    assert result.distance is not None and result.distance < 0.6
    assert result.box is not None and len(result.box) == 4
    assert result.worker and result.compute_ms > 0 and result.total_ms >= result.compute_ms
    check = await FaceCheck.get(id=result.check_id)
    assert check.passed and check.frame_path == ""  # passing frames are not kept


async def test_a_png_with_alpha_passes(face: FaceService, registered: Physician) -> None:
    result = await face.verify(registered.id, rgba_png("obama2.jpg"), FaceStage.RANDOM)
    assert result.passed, result


@pytest.mark.parametrize(
    ("frame", "reason", "message"),
    [
        (lambda: photo("biden.jpg"), FaceReason.MISMATCH, "与注册照片不是同一人"),
        (lambda: photo("obama_and_biden.jpg"), FaceReason.MULTIPLE_FACES, "检测到多张人脸"),
        (grey_jpeg, FaceReason.NO_FACE, "无法识别人脸"),
        (lambda: b"\x00\x01garbage", FaceReason.UNREADABLE, "图片无法读取"),
        (lambda: b"", FaceReason.UNREADABLE, "图片无法读取"),
    ],
)
async def test_failures_say_why_and_keep_the_frame(
    face: FaceService,
    registered: Physician,
    settings: Settings,
    frame: Any,
    reason: FaceReason,
    message: str,
) -> None:
    data = frame()
    result = await face.verify(registered.id, data, FaceStage.SUBMIT, attempt_id=None)
    assert not result.passed
    assert result.reason == reason and result.message == message
    if reason == FaceReason.MISMATCH:
        assert result.distance is not None and result.distance > 0.6
    check = await FaceCheck.get(id=result.check_id)
    assert check.reason == reason and check.stage == FaceStage.SUBMIT
    if data:
        assert (settings.media_path / check.frame_path).read_bytes() == data


async def test_an_oversized_frame_is_refused_before_the_queue(
    face: FaceService, registered: Physician
) -> None:
    huge = b"\xff\xd8" + b"\x00" * (20 * 1024 * 1024)
    before = await face.redis.xlen("face:jobs")
    result = await face.verify(registered.id, huge, FaceStage.START)
    assert result.reason == FaceReason.TOO_LARGE and result.message == "图片过大"
    assert await face.redis.xlen("face:jobs") == before
    assert result.worker == ""


async def test_unknown_physician_and_missing_photo(face: FaceService) -> None:
    unknown = await face.verify(999999, photo("obama2.jpg"), FaceStage.START)
    assert not unknown.passed and unknown.reason == FaceReason.NO_REFERENCE
    inst = await factories.organisation(OrgKind.INSTITUTION)
    no_photo = await factories.physician(inst)
    result = await face.verify(no_photo.id, photo("obama2.jpg"), FaceStage.START)
    assert not result.passed and result.message == "没有注册照片"


async def test_a_full_queue_answers_busy_at_once(
    app: Starlette, settings: Settings, registered: Physician
) -> None:
    full = FaceService(dataclasses.replace(settings, face_queue_limit=0), app.state.face.redis)
    result = await full.verify(registered.id, photo("obama2.jpg"), FaceStage.START)
    await full.close()
    assert result.busy and result.reason == BUSY
    assert "繁忙" in result.message


async def test_queue_stats_are_visible(face: FaceService) -> None:
    stats = await face.stats()
    assert stats.waiting == 0 and stats.in_progress == 0 and stats.parked == 0
    assert stats.oldest_wait_seconds == 0


def test_faces_folder_is_where_the_tests_expect() -> None:
    assert (Path(__file__).resolve().parents[3] / "shared" / "faces" / "obama.jpg").exists()
