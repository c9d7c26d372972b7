"""Live face checks through the hall protocol, with real face workers and real bursts: what a
physician sitting the test for a colleague would try, and that none of it produces a verified
attempt. Bursts are filmed for FACE_BURST_SECONDS here, as a page films them."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette

from core.settings import Settings
from examhall import protocol as p
from examhall.client import HallClient
from face import samples
from models.enums import AttemptStatus, FaceReason, FaceStage
from models.exam import Attempt, FaceCheck
from models.physician import Physician
from tests.face_helpers import jpeg, tilted
from tests.sitting import live, recheck, sitter, start

FILM = 0.5  # seconds a burst takes to film here


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, face_burst_seconds=FILM)


async def filmed(hall: HallClient, frames: list[bytes]) -> dict[str, Any]:
    """Send a burst the way a page does, after filming it; the check's result."""
    await asyncio.sleep(FILM)
    await hall.burst(frames)
    return await hall.expect(p.CHECK_RESULT)


def still(source: bytes) -> list[bytes]:
    """A still moved in front of the camera: re-encoded, shifted, tilted, never live."""
    image = Image.open(io.BytesIO(source))
    moved = [jpeg(image, 70 + k) for k in range(3)]
    moved += [tilted(source, yaw=y, distance=1.8, shift=y / 400) for y in (-20, -10, 0, 10, 20)]
    moved += [jpeg(image.transform(image.size, Image.Transform.AFFINE, (1, 0, 9, 0, 1, 3)))]
    return moved


async def test_a_burst_sent_before_it_could_be_filmed_is_a_replay(
    app: Starlette, client: httpx.AsyncClient, base_url: str, worker: Any
) -> None:
    me = await sitter(app, client)
    hall = HallClient(base_url, me.cookie)
    await hall.connect()
    await hall.expect(p.CHECK, stage=p.START)
    await hall.burst(live(hall, 0))  # at once: made beforehand
    early = await hall.expect(p.CHECK_RESULT)
    assert not early["passed"] and early["reason"] == "replay"
    assert early["message"].startswith("检测到翻拍照片或重复画面") and early["tries_left"] == 2
    passed = await filmed(hall, live(hall, 0))  # the same frames, filmed in time
    assert passed["passed"], passed
    await hall.expect(p.PAPER)
    await hall.close()


async def test_the_registration_photo_or_a_still_never_passes(
    app: Starlette, client: httpx.AsyncClient, base_url: str, worker: Any
) -> None:
    me = await sitter(app, client)
    hall = HallClient(base_url, me.cookie)
    await hall.connect()
    await hall.expect(p.CHECK, stage=p.START)
    photo = samples.registration_photo()
    first = await filmed(hall, [photo] * 10)  # the ID photo as every frame
    assert first["reason"] == "replay" and "检测到翻拍照片或重复画面" in first["message"]
    second = await filmed(hall, still(photo))
    assert second["reason"] == "replay"
    third = await filmed(hall, still(samples.frame(57)))  # another still of him, moved about
    assert third["reason"] in ("replay", "no_action")
    assert "未完成指定动作" in third["message"] or "检测到翻拍照片" in third["message"]
    assert third["tries_left"] == 0 and "监考人员" in third["message"]
    assert not hall.items  # no question was shown
    attempt = await Attempt.get(paper__physician_id=me.physician.id)
    assert attempt.flagged and attempt.started_at is None
    checks = await FaceCheck.filter(attempt_id=attempt.id).order_by("id")
    assert [c.passed for c in checks] == [False, False, False]
    assert all(len(c.frame_paths) > 0 for c in checks)  # kept for the proctor
    await hall.close()


async def test_a_burst_that_changes_person_fails(
    app: Starlette, client: httpx.AsyncClient, base_url: str, worker: Any
) -> None:
    me = await sitter(app, client)
    hall = HallClient(base_url, me.cookie)
    await hall.connect()
    await hall.expect(p.CHECK, stage=p.START)
    while hall.challenge and hall.challenge["actions"][0]["code"] != "turn_right":
        await hall.close()  # every page gets its own challenge: wait for a right turn
        await hall.connect()
        await hall.expect(p.CHECK, stage=p.START)
    result = await filmed(hall, samples.swap())  # he turns, then another man is there
    assert result["reason"] == FaceReason.FACE_CHANGED.value
    assert result["message"].startswith("动作过程中人脸发生变化")
    await hall.close()


async def test_no_still_makes_a_verified_attempt_at_any_stage(
    app: Starlette, client: httpx.AsyncClient, base_url: str, worker: Any
) -> None:
    """Start live (the physician), then a colleague holds up stills at the random and the
    submit check: refused each time, the attempt ends flagged and unverified."""
    me = await sitter(app, client)
    hall = HallClient(base_url, me.cookie)
    await start(hall)
    attempt = await Attempt.get(paper__physician_id=me.physician.id)
    await Attempt.filter(id=attempt.id).update(random_check_at=attempt.started_at)
    await recheck(app, attempt.id)
    await hall.expect(p.CHECK, stage=p.RANDOM)
    refused = await filmed(hall, still(samples.frame(69)))
    assert not refused["passed"] and refused["stage"] == p.RANDOM
    assert (await filmed(hall, live(hall, 1)))["passed"]
    await hall.send(p.Submit(type=p.SUBMIT))
    await hall.expect(p.CHECK, stage=p.FINAL)
    for source in (samples.frame(58), samples.registration_photo(), samples.frame(39)):
        result = await filmed(hall, still(source))
        assert not result["passed"]
    assert result["tries_left"] == 0
    await hall.close()
    attempt = await Attempt.get(id=attempt.id)
    assert attempt.status == AttemptStatus.IN_PROGRESS and attempt.flagged
    assert "交卷人脸识别连续未通过" in attempt.flag_reason
    assert not await FaceCheck.filter(
        attempt_id=attempt.id, stage=FaceStage.SUBMIT, passed=True
    ).exists()


async def test_without_a_registered_photo_no_try_is_spent(
    app: Starlette, client: httpx.AsyncClient, base_url: str, worker: Any
) -> None:
    me = await sitter(app, client)
    await Physician.filter(id=me.physician.id).update(face_encoding=None, photo="", photo_hash="")
    hall = HallClient(base_url, me.cookie)
    welcome = await hall.connect()
    assert welcome["photo"] is False
    await hall.expect(p.CHECK, stage=p.START)
    result = await filmed(hall, live(hall))
    assert result["reason"] == p.NO_REFERENCE and result["tries_left"] == 3
    assert "更换照片" in result["message"] and "不计入" in result["message"]
    attempt = await Attempt.get(paper__physician_id=me.physician.id)
    assert not await FaceCheck.filter(attempt_id=attempt.id).exists()
    assert not attempt.flagged
    await hall.close()
