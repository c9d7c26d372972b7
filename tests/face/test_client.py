"""Face checks through the whole path: Redis stream → real worker processes → answer, with the
real photos and the real clip of ../shared/faces (face/samples.py): registration photos
checked and stored, live bursts judged, each check recorded with its reason."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from core.errors import DomainError
from core.settings import Settings
from face import samples
from face.analysis import hash_distance
from face.client import BUSY, FaceService
from face.worker import start_workers
from models.enums import FaceReason, FaceStage, OrgKind
from models.exam import FaceCheck
from models.physician import Physician
from tests import factories
from tests.face_helpers import grey_jpeg, photo

LEFT = ["turn_left"]


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


async def physician_of(app: Starlette, image: bytes) -> Physician:
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doctor = await factories.physician(inst)
    await app.state.face.store_photo(doctor, image)
    return await Physician.get(id=doctor.id)


async def test_registration_photo_is_checked_encoded_and_kept(
    app: Starlette, face: FaceService, settings: Settings
) -> None:
    fresh = await physician_of(app, samples.registration_photo())
    assert fresh.face_encoding is not None and len(fresh.face_encoding) == 128 * 8
    assert len(fresh.photo_hash) == 16
    stored = (settings.media_path / fresh.photo).read_bytes()
    assert fresh.photo.endswith(".jpg") and stored[:3] == b"\xff\xd8\xff"  # our JPEG
    assert await FaceCheck.filter(physician_id=fresh.id, stage=FaceStage.REGISTRATION).exists()


@pytest.mark.parametrize(
    ("image", "advice"),
    [
        (lambda: photo("obama_and_biden.jpg"), "请上传仅有本人的单人照片"),
        (grey_jpeg, "未能识别出人脸"),
        (lambda: b"definitely not an image", "请上传 JPG 或 PNG 格式的照片"),
        (lambda: photo("obama2.jpg"), "人脸未正对镜头"),  # a real half-turned portrait
        (lambda: samples.frame(5), "照片中人脸过小"),  # a man far away on a stage
    ],
)
async def test_unsuitable_registration_photos_say_what_to_do(
    face: FaceService, image: Any, advice: str
) -> None:
    with pytest.raises(DomainError, match=advice) as refused:
        await face.check_photo(image())
    assert refused.value.field == "photo" and "照片不符合要求" in refused.value.message


@pytest.mark.parametrize("action", ["turn_left", "turn_right"])
async def test_a_real_turn_passes_its_challenge_and_no_other(
    app: Starlette, face: FaceService, action: str
) -> None:
    doctor = await physician_of(app, samples.registration_photo())
    frames = samples.burst_for([action])
    assert frames is not None
    other = "turn_right" if action == "turn_left" else "turn_left"
    wrong = await face.verify(doctor.id, frames, FaceStage.START, [other])
    assert not wrong.passed and wrong.reason == FaceReason.NO_ACTION
    label = "向右转头" if other == "turn_right" else "向左转头"
    assert wrong.message == f"未完成指定动作（请{label}）"
    mouth = await face.verify(doctor.id, frames, FaceStage.START, [action, "open_mouth"])
    assert not mouth.passed and mouth.message == "未完成指定动作（请张嘴）"

    result = await face.verify(doctor.id, frames, FaceStage.START, [action])
    assert result.passed, result
    assert result.reason == FaceReason.OK and result.message == "验证通过"
    assert result.distance is not None and result.distance < 0.6
    assert result.worker and result.compute_ms > 0 and result.total_ms >= result.compute_ms
    check = await FaceCheck.get(id=result.check_id)
    assert check.passed and check.frame_paths == []  # a passed check's frames are not kept
    assert check.actions == action and len(check.frame_hashes) >= len(frames) // 2
    assert check.detail["decisive"][action] is not None
    # The same burst again is a replay of that check, whatever is asked.
    again = await face.verify(doctor.id, frames, FaceStage.RANDOM, [action])
    assert not again.passed and again.reason == FaceReason.REPLAY
    assert again.message == "检测到翻拍照片或重复画面"


async def test_an_impostor_doing_the_action_is_refused(app: Starlette, face: FaceService) -> None:
    obama = await physician_of(app, photo("obama.jpg"))  # registered: another man
    result = await face.verify(obama.id, samples.burst_for(LEFT) or [], FaceStage.START, LEFT)
    assert not result.passed and result.reason == FaceReason.MISMATCH
    assert result.message == "与注册照片不是同一人"
    assert result.distance is not None and result.distance > 0.6


async def test_a_burst_that_changes_person_fails(app: Starlette, face: FaceService) -> None:
    doctor = await physician_of(app, samples.registration_photo())
    result = await face.verify(doctor.id, samples.swap(), FaceStage.RANDOM, ["turn_right"])
    assert not result.passed and result.reason == FaceReason.FACE_CHANGED
    assert result.message == "动作过程中人脸发生变化"


@pytest.mark.parametrize(
    ("frames", "reason", "message"),
    [
        (lambda: [photo("obama_and_biden.jpg")] * 2, FaceReason.REPLAY, "检测到翻拍照片或重复画面"),
        (lambda: [grey_jpeg(640, 480), grey_jpeg(640, 470)], FaceReason.NO_FACE, "无法识别人脸"),
        (lambda: [b"\x00\x01garbage"], FaceReason.UNREADABLE, "图片无法读取"),
        (lambda: [b""], FaceReason.UNREADABLE, "图片无法读取"),
    ],
)
async def test_failures_say_why_and_keep_the_frames(
    app: Starlette,
    face: FaceService,
    settings: Settings,
    frames: Any,
    reason: FaceReason,
    message: str,
) -> None:
    doctor = await physician_of(app, samples.registration_photo())
    data = frames()
    result = await face.verify(doctor.id, data, FaceStage.SUBMIT, LEFT, attempt_id=None)
    assert not result.passed
    assert result.reason == reason and result.message == message
    check = await FaceCheck.get(id=result.check_id)
    assert check.reason == reason and check.stage == FaceStage.SUBMIT
    assert [(settings.media_path / path).read_bytes() for path in check.frame_paths] == data


async def test_several_people_in_a_frame(app: Starlette, face: FaceService) -> None:
    doctor = await physician_of(app, samples.registration_photo())
    crowd = [photo("obama_and_biden.jpg"), *(samples.burst_for(LEFT) or [])[1:]]
    result = await face.verify(doctor.id, crowd, FaceStage.START, LEFT)
    assert result.reason == FaceReason.MULTIPLE_FACES and result.message == "检测到多张人脸"


async def test_an_oversized_frame_is_refused_before_the_queue(
    app: Starlette, face: FaceService
) -> None:
    doctor = await physician_of(app, samples.registration_photo())
    huge = b"\xff\xd8" + b"\x00" * (3 * 1024 * 1024)
    before = await face.redis.xlen("face:jobs")
    result = await face.verify(doctor.id, [huge], FaceStage.START, LEFT)
    assert result.reason == FaceReason.TOO_LARGE and result.message == "图片过大"
    assert await face.redis.xlen("face:jobs") == before
    assert result.worker == ""


async def test_unknown_physician_and_missing_photo(face: FaceService) -> None:
    frames = samples.burst_for(LEFT) or []
    unknown = await face.verify(999999, frames, FaceStage.START, LEFT)
    assert not unknown.passed and unknown.reason == FaceReason.NO_REFERENCE
    inst = await factories.organisation(OrgKind.INSTITUTION)
    no_photo = await factories.physician(inst)
    result = await face.verify(no_photo.id, frames, FaceStage.START, LEFT)
    assert not result.passed and result.message == "没有注册照片"


async def test_a_photo_stored_before_hashes_is_hashed_on_its_first_check(
    app: Starlette, face: FaceService, settings: Settings
) -> None:
    doctor = await physician_of(app, samples.registration_photo())
    await Physician.filter(id=doctor.id).update(photo_hash="")
    # Its own photo, re-encoded, as every frame: still recognised as the registered photo.
    copies = [samples.mirror(samples.mirror(samples.registration_photo())) for _ in range(2)]
    copies[1] = samples.mirror(samples.mirror(copies[1]))
    result = await face.verify(doctor.id, copies, FaceStage.START, LEFT)
    assert result.reason == FaceReason.REPLAY
    rehashed = (await Physician.get(id=doctor.id)).photo_hash
    assert rehashed and hash_distance(rehashed, doctor.photo_hash) <= settings.face_replay_bits


async def test_a_full_queue_answers_busy_at_once(
    app: Starlette, settings: Settings, face: FaceService
) -> None:
    doctor = await physician_of(app, samples.registration_photo())
    full = FaceService(dataclasses.replace(settings, face_queue_limit=0), app.state.face.redis)
    result = await full.verify(doctor.id, samples.burst_for(LEFT) or [], FaceStage.START, LEFT)
    await full.close()
    assert result.busy and result.reason == BUSY
    assert "繁忙" in result.message


async def test_queue_stats_are_visible(face: FaceService) -> None:
    stats = await face.stats()
    for _ in range(300):  # a job another test gave up on is still taken (and dropped)
        if stats.waiting == 0 and stats.in_progress == 0:
            break
        await asyncio.sleep(0.1)
        stats = await face.stats()
    assert stats.waiting == 0 and stats.in_progress == 0 and stats.parked == 0
    assert stats.oldest_wait_seconds == 0


def test_faces_folder_is_where_the_tests_expect() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared" / "faces"
    assert (shared / "obama.jpg").exists() and (shared / "clip" / "f040.jpg").exists()
