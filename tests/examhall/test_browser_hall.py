"""The exam hall page in real headless Chromium at a 375-px phone width, with a fake camera
that plays the real clip of the registered physician turning his head: the live start check
(count-down, filming, the burst), answering by tapping, a reload that resumes, a dropped
connection that comes back by itself, the random check, 交卷 with its check, and the score
screen. A camera that shows one still picture never passes."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette

from core.settings import Settings
from examhall import protocol as p
from face import samples
from models.enums import AttemptStatus
from models.exam import Answer, Attempt, FaceCheck
from tests.browser import Page, chromium, require_chromium
from tests.sitting import sitter
from web.sessions import COOKIE

# Collected on every page: script errors, and what confirm() asked (answered 确定).
WATCH = """
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message)); });
window.__confirms = [];
window.confirm = function (text) { window.__confirms.push(String(text)); return true; };
"""
# What the page says, for the message of a failed wait.
SAYS = """JSON.stringify({
  save: document.getElementById("hall-save").textContent,
  message: document.getElementById("hall-message").textContent,
  check: document.getElementById("check-message").textContent,
  result: document.getElementById("check-result").textContent,
  camera: document.getElementById("camera-status").textContent,
  closed: document.getElementById("closed-message").textContent,
  errors: window.__errors
})"""
OVERFLOW = "document.documentElement.scrollWidth <= window.innerWidth"


def visible(element_id: str) -> str:
    """True when the element is shown (it and its ancestors are displayed)."""
    return f"!!document.getElementById({element_id!r}).getClientRects().length"


SHOOT_READY = (
    f"{visible('check-shoot')} && !document.getElementById('check-shoot').disabled"
    " && document.getElementById('camera-video').videoWidth > 0"
)


TURN = range(52, 67)  # the clip: from his right, through frontal, far to his left, back


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    """Every check asks 向左转头 (the clip's turn), filmed for 3 s like a real page. Chromium's
    fake camera plays one file in a loop, so a later check necessarily shows frames of an
    earlier one: the comparison with earlier checks is off here (its tests are in
    tests/face/ and tests/examhall/test_liveness.py); everything else is the real thing."""
    return dataclasses.replace(
        settings, face_actions="turn_left", face_burst_seconds=3.0, face_replay_bits=-1
    )


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A webcam feed for Chromium's fake device: the clip of the physician turning his head,
    at its own 10 frames a second."""
    frames = [samples.CLIP / f"f{n:03d}.jpg" for n in TURN]
    return y4m(frames, tmp_path_factory.mktemp("camera") / "turn.y4m")


@pytest.fixture(scope="module")
def still_camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One still picture of the physician, the same frame over and over."""
    frames = [samples.CLIP / "f057.jpg"] * 10
    return y4m(frames, tmp_path_factory.mktemp("camera") / "still.y4m")


def y4m(sources: list[Path], target: Path, width: int = 640, height: int = 360) -> Path:
    """The pictures (scaled and cropped to ``width`` x ``height``) as raw I420 in Y4M."""
    with target.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for source in sources:
            with Image.open(source) as image:
                rgb = image.convert("RGB")
            scale = max(width / rgb.width, height / rgb.height)
            rgb = rgb.resize((round(rgb.width * scale), round(rgb.height * scale)))
            left, top = (rgb.width - width) // 2, (rgb.height - height) // 2
            y, u, v = rgb.crop((left, top, left + width, top + height)).convert("YCbCr").split()
            quarter = (width // 2, height // 2)
            frame = y.tobytes() + u.resize(quarter).tobytes() + v.resize(quarter).tobytes()
            out.write(b"FRAME\n" + frame)
    return target


async def until(page: Page, expression: str, within: float = 30.0) -> Any:
    """The expression's value once it is truthy, polled; fails after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await page.evaluate(expression)
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(
                f"waited {within} s for {expression}; page: {await page.evaluate(SAYS)}"
            )
        await asyncio.sleep(0.05)


async def text(page: Page, element_id: str) -> str:
    return str(await page.evaluate(f"document.getElementById({element_id!r}).textContent"))


async def answer_current(page: Page) -> None:
    """Tap the first option of the question shown and wait until the server stored it."""
    await page.evaluate("document.querySelector('#hall-question input').click()")
    await until(page, "document.getElementById('item-status').textContent === '已保存'")


async def test_a_physician_sits_the_test_in_a_phone_browser(
    app: Starlette,
    client: httpx.AsyncClient,
    base_url: str,
    worker: Any,
    camera: Path,
) -> None:
    require_chromium()
    me = await sitter(app, client)
    flags = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}",
    ]
    async with chromium(375, extra_flags=flags) as page:
        await page.call("Page.enable")
        await page.call("Page.addScriptToEvaluateOnNewDocument", source=WATCH)
        await page.call("Network.setCookie", name=COOKIE, value=me.session, url=base_url + "/")
        await page.goto(base_url + "/examhall/")

        # 考试须知 from the welcome, the live camera, and the start check.
        await until(page, "document.getElementById('rule-count').textContent === '10'")
        assert await text(page, "rule-duration") == "30" and await text(page, "rule-pass") == "60"
        await until(page, SHOOT_READY)
        assert await text(page, "check-title") == "开考前人脸识别"
        assert (
            await text(page, "check-steps") == "向左转头请慢慢向左转头（转向您的左肩），再转回正面"
        )
        assert await page.evaluate("document.querySelector('#check-steps svg') !== null")
        assert await page.evaluate(OVERFLOW)
        await page.evaluate("document.getElementById('check-shoot').click()")
        await until(page, "document.getElementById('camera-cue').textContent === '3'", 5)
        await until(page, "document.getElementById('camera-cue').textContent === '向左转头'", 8)
        assert await page.evaluate("document.getElementById('check-shoot').disabled")
        await until(page, "document.querySelectorAll('#hall-nav button').length === 10", 40)
        await until(page, visible("hall-question"))
        assert not await page.evaluate(visible("hall-intro"))
        assert not await page.evaluate(visible("hall-check"))
        assert (await text(page, "hall-clock")).startswith("剩余 ")
        assert await page.evaluate(OVERFLOW)
        stem = await page.evaluate("document.querySelector('.item-stem').textContent")
        assert stem.endswith("<b>不是标签</b>")
        assert await page.evaluate("document.querySelector('.item-stem b') === null")

        # Three answers, tapped one per screen, each acknowledged.
        for _ in range(3):
            await answer_current(page)
            await page.evaluate("document.querySelector('.item-moves button.primary').click()")
        await until(page, "document.getElementById('hall-save').textContent === '已保存'")
        assert (
            await page.evaluate("document.querySelectorAll('#hall-nav button.answered').length")
            == 3
        )
        attempt = await Attempt.get(paper__physician_id=me.physician.id)
        stored = {str(a.item_id): a.choice for a in await Answer.filter(attempt_id=attempt.id)}
        assert len(stored) == 3

        # A reload resumes: the same paper, the three answers shown as saved.
        await page.goto(base_url + "/examhall/")
        await until(page, "document.querySelectorAll('#hall-nav button.answered').length === 3")
        await until(page, "document.getElementById('hall-save').textContent === '已保存'")
        kept = await page.evaluate(f"sessionStorage.getItem('examhall:{attempt.id}')")
        assert {k: v["choice"] for k, v in json.loads(kept).items()} == stored

        # The server goes away (a restart): the page says so, keeps an answer given
        # meanwhile, reconnects by itself and the answer is stored.
        await app.state.hall.sittings[attempt.id].close(p.BUSY, "服务器正在重启，请稍候自动重连")
        await until(
            page, "document.getElementById('hall-save').textContent === '连接已断开，正在重连…'"
        )
        await page.evaluate("document.querySelectorAll('#hall-nav button')[3].click()")
        await page.evaluate("document.querySelector('#hall-question input').click()")
        assert (
            await page.evaluate("document.querySelectorAll('#hall-nav button.unsaved').length") == 1
        )
        await until(page, "document.getElementById('item-status').textContent === '已保存'")
        await until(page, "document.querySelectorAll('#hall-nav button.answered').length === 4")
        assert await Answer.filter(attempt_id=attempt.id).count() == 4

        # The random check: answering pauses behind the camera until the face passes.
        await Attempt.filter(id=attempt.id).update(
            random_check_at=datetime.now(UTC) - timedelta(seconds=1)
        )
        hall = app.state.hall
        await hall.live.tell(hall.node, {"op": "recheck", "attempt": attempt.id})
        await until(page, SHOOT_READY)
        assert await text(page, "check-title") == "随机人脸识别"
        assert await page.evaluate(
            "document.getElementById('hall-check').classList.contains('overlay')"
        )
        assert await page.evaluate("document.querySelector('#hall-question input').disabled")
        await page.evaluate("document.getElementById('check-shoot').click()")
        await until(page, f"!{visible('hall-check')}", 40)
        await until(page, "!document.querySelector('#hall-question input').disabled")
        await page.evaluate("document.querySelectorAll('#hall-nav button')[4].click()")
        await answer_current(page)
        await until(page, "document.querySelectorAll('#hall-nav button.answered').length === 5")

        # 交卷: confirm() names the unanswered questions, then the submit check.
        await until(page, "!document.getElementById('hall-submit').disabled")
        await page.evaluate("document.getElementById('hall-submit').click()")
        confirms = await until(page, "window.__confirms.length && window.__confirms")
        assert "还有 5 题未作答" in confirms[0]
        await until(page, SHOOT_READY)
        assert await text(page, "check-title") == "交卷前人脸识别"
        await page.evaluate("document.getElementById('check-shoot').click()")

        # The score screen.
        await until(page, visible("hall-final"), 40)
        attempt = await Attempt.get(id=attempt.id)
        assert attempt.status == AttemptStatus.SUBMITTED and attempt.score is not None
        assert await text(page, "final-score") == str(attempt.score)
        assert await text(page, "final-outcome") == ("合格" if attempt.passed else "不合格")
        assert await text(page, "hall-save") == "试卷已提交"
        assert not await page.evaluate(visible("hall-closed"))
        assert await page.evaluate(OVERFLOW)
        assert (
            await page.evaluate("document.querySelector('#hall-final a').getAttribute('href')")
            == "/"
        )
        assert await page.evaluate(f"sessionStorage.getItem('examhall:{attempt.id}')") is None
        assert await page.evaluate("window.__errors") == []

    checks = await FaceCheck.filter(attempt_id=attempt.id).order_by("id")
    assert [(c.stage.value, c.passed) for c in checks] == [
        ("start", True),
        ("random", True),
        ("submit", True),
    ]


async def test_a_still_picture_never_passes_in_the_browser(
    app: Starlette,
    client: httpx.AsyncClient,
    base_url: str,
    worker: Any,
    still_camera: Path,
) -> None:
    """A camera that shows one still of the physician (a photo held up, a virtual camera):
    every try is refused with the reason, and once the tries are used up the button stays
    disabled and the physician is told a proctor decides."""
    require_chromium()
    me = await sitter(app, client)
    flags = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={still_camera}",
    ]
    async with chromium(375, extra_flags=flags) as page:
        await page.call("Page.enable")
        await page.call("Page.addScriptToEvaluateOnNewDocument", source=WATCH)
        await page.call("Network.setCookie", name=COOKIE, value=me.session, url=base_url + "/")
        await page.goto(base_url + "/examhall/")
        for left in (2, 1, 0):
            await until(page, SHOOT_READY)
            await page.evaluate("document.getElementById('check-shoot').click()")
            await until(
                page,
                f"document.getElementById('check-tries').textContent === '剩余验证次数：{left}'",
                40,
            )
            result = await text(page, "check-result")
            assert "检测到翻拍照片或重复画面" in result or "未完成指定动作" in result, result
        assert "监考人员" in await text(page, "check-result")
        assert await page.evaluate("document.getElementById('check-shoot').disabled")
        await asyncio.sleep(0.5)
        assert await page.evaluate("document.getElementById('check-shoot').disabled")
        assert not await page.evaluate(visible("hall-exam"))  # no question was ever shown
        assert await page.evaluate("window.__errors") == []
    attempt = await Attempt.get(paper__physician_id=me.physician.id)
    assert attempt.flagged and attempt.started_at is None
    checks = await FaceCheck.filter(attempt_id=attempt.id)
    assert len(checks) == 3 and not any(c.passed for c in checks)


async def test_a_refused_camera_says_how_to_allow_it(
    app: Starlette, client: httpx.AsyncClient, base_url: str, worker: Any
) -> None:
    """Without the permission (headless Chromium denies it when nobody can answer the prompt)
    the page explains how to allow the camera and the check cannot be sent."""
    require_chromium()
    me = await sitter(app, client)
    flags = ["--use-fake-device-for-media-stream", "--deny-permission-prompts"]
    async with chromium(375, extra_flags=flags) as page:
        await page.call("Network.setCookie", name=COOKIE, value=me.session, url=base_url + "/")
        await page.goto(base_url + "/examhall/")
        status = await until(
            page,
            "document.getElementById('camera-status').textContent.indexOf('权限被拒绝') >= 0"
            " && document.getElementById('camera-status').textContent",
        )
        assert "允许" in status
        await until(page, visible("camera-retry"))  # shown once the hall has said hello
        assert await page.evaluate("document.getElementById('camera-help').open")
        help_text = await text(page, "camera-help")
        assert "360 极速浏览器" in help_text and "微信" in help_text
        await until(page, visible("check-shoot"))  # the start check is asked for …
        assert await page.evaluate("document.getElementById('check-shoot').disabled")  # … in vain
        assert await page.evaluate(OVERFLOW)
