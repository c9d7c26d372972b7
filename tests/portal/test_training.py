"""【培训管理】 through the app: the catalogue a physician sees, the lesson page and its
heartbeats (a burst, two tabs, 签到), and the rules on who may study when."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from bs4 import BeautifulSoup
from starlette.applications import Starlette

from models.enums import CourseCategory, OrgKind, Phase
from models.period import Period, PhaseWindow
from models.physician import Physician
from models.training import Course, Lesson, LessonProgress
from rules import training as study
from tests import factories
from tests.browser import chromium, serve
from tests.helpers import login
from web.sessions import COOKIE

OVERFLOW = "document.documentElement.scrollWidth <= window.innerWidth"


async def setting() -> tuple[Period, Physician, dict[str, Lesson]]:
    """A period in its training window, an enrolled 临床/内科 physician and a catalogue."""
    period = await factories.period()
    await factories.open_window(period, Phase.TRAINING)
    doc = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    await factories.enrollment(period, doc)
    courses = {
        "law": ("医师法解读", CourseCategory.PUBLIC_REQUIRED, "", "", True),
        "internal": (
            "内科常见病诊疗",
            CourseCategory.PROFESSIONAL_REQUIRED,
            "临床",
            "内科专业",
            True,
        ),
        "clinical": ("临床合理用药", CourseCategory.PROFESSIONAL_REQUIRED, "临床", "", True),
        "dental": ("口腔感染控制", CourseCategory.PROFESSIONAL_REQUIRED, "口腔", "", True),
        "surgery": (
            "外科围手术期管理",
            CourseCategory.PROFESSIONAL_REQUIRED,
            "临床",
            "外科专业",
            True,
        ),
        "hidden": ("停用的课程", CourseCategory.PUBLIC_ELECTIVE, "", "", False),
    }
    lessons = {}
    for key, (title, category, practice, scope, published) in courses.items():
        course = await Course.create(
            title=f"{title}{period.id}",
            category=category,
            class_hours=1,
            practice_category=practice,
            practice_scope=scope,
            is_published=published,
            description=f"{title}课程简介",
        )
        lessons[key] = await Lesson.create(
            course=course, title=f"{title}第一讲", minutes=45, body="<p>正文</p>"
        )
    lessons["law2"] = await Lesson.create(
        course_id=lessons["law"].course_id, title="医师法第二讲", minutes=30, sort=1
    )
    return period, doc, lessons


def study_data(html: str) -> dict[str, str]:
    found = BeautifulSoup(html, "html.parser").select_one("#study")
    assert found is not None, "the lesson page has no study timer"
    return {k[5:]: str(v) for k, v in found.attrs.items() if k.startswith("data-")}


async def open_page(client: httpx.AsyncClient, lesson: Lesson) -> dict[str, str]:
    page = await client.get(f"/physician/training/lessons/{lesson.id}")
    assert page.status_code == 200
    return study_data(page.text)


async def beat(
    client: httpx.AsyncClient, lesson: Lesson, tab: dict[str, str], **extra: str
) -> httpx.Response:
    return await client.post(
        f"/physician/training/lessons/{lesson.id}/beat",
        data={"token": tab["token"], **extra},
        headers={"X-CSRF-Token": tab["csrf"]},
    )


async def rewind(app: Starlette, doc: Physician, seconds: float) -> None:
    """As if the last accepted heartbeat came ``seconds`` earlier (time passing in a test)."""
    redis = app.state.redis
    last = await redis.hget(study.state_key(doc.id), "last")
    assert last is not None
    await redis.hset(study.state_key(doc.id), "last", repr(float(last) - seconds))


async def credited(doc: Physician, lesson: Lesson) -> int:
    found = await LessonProgress.get_or_none(physician_id=doc.id, lesson_id=lesson.id)
    return found.seconds_credited if found else 0


async def test_catalogue_shows_what_applies_grouped_with_totals(
    client: httpx.AsyncClient, db: None
) -> None:
    period, doc, lessons = await setting()
    await login(client, doc.id_number)
    page = await client.get("/physician/training")
    assert page.status_code == 200
    text = page.text
    for key in ("law", "internal", "clinical"):
        assert lessons[key].title in text
    for key in ("dental", "surgery", "hidden"):
        assert lessons[key].title not in text
    soup = BeautifulSoup(text, "html.parser")
    groups = [h.get_text(strip=True) for h in soup.select("h3.course-group")]
    assert groups == ["专业必修课", "公共必修课"]
    assert "已完成 0 / 36 课时" in soup.select_one(".study-total").get_text(" ", strip=True)
    assert "培训已完成" not in text

    found = await client.get("/physician/training", params={"q": "合理用药"})
    assert lessons["clinical"].title in found.text and lessons["law"].title not in found.text
    part = await client.get(
        "/physician/training",
        params={"category": "public_required"},
        headers={"HX-Request": "true"},
    )
    assert "<html" not in part.text and lessons["law"].title in part.text
    assert lessons["internal"].title not in part.text

    # Credited time shows per lesson, per category and in total; 36 课时 complete the training.
    await LessonProgress.create(
        physician=doc, lesson=lessons["law"], period=period, seconds_credited=45 * 60
    )
    big = []
    for n in range(2):
        course = await Course.create(
            title=f"大课{n}", category=CourseCategory.PUBLIC_ELECTIVE, class_hours=20
        )
        lesson = await Lesson.create(course=course, title=f"大课{n}", minutes=20 * 45)
        await LessonProgress.create(
            physician=doc, lesson=lesson, period=period, seconds_credited=20 * 45 * 60
        )
        big.append(course.id)
    page = await client.get("/physician/training")
    assert "培训已完成" in page.text
    assert "已完成 41 / 36 课时" in BeautifulSoup(page.text, "html.parser").select_one(
        ".study-total"
    ).get_text(" ", strip=True)
    await Course.filter(id__in=big).delete()


async def test_heartbeats_credit_honest_time_over_http(
    app: Starlette, client: httpx.AsyncClient, db: None
) -> None:
    _, doc, lessons = await setting()
    lesson = lessons["law"]
    await login(client, doc.id_number)
    tab = await open_page(client, lesson)
    assert tab["every"] == str(study.BEAT_SECONDS) and tab["limit"] == str(45 * 60)
    first = await beat(client, lesson, tab)
    assert first.status_code == 200 and first.json()["state"] == "counting"
    assert first.json()["seconds"] == 0  # opening the page earns nothing
    for _ in range(3):
        await rewind(app, doc, 30)
        answer = (await beat(client, lesson, tab)).json()
    assert 90 <= answer["seconds"] <= 91 and await credited(doc, lesson) == answer["seconds"]
    # Hidden: the page says so, and the time until it is visible again earns nothing.
    await rewind(app, doc, 30)
    await beat(client, lesson, tab, pause="1")
    before = await credited(doc, lesson)
    assert before >= 120
    assert (await beat(client, lesson, tab)).json()["seconds"] == before
    await Lesson.filter(id=lesson.id).update(body='<p>正文</p><script>alert("x")</script>')
    page = await client.get(f"/physician/training/lessons/{lesson.id}")
    assert "已学" in page.text and 'src="/static/js/study.js"' in page.text
    assert "<p>正文</p>" in page.text and 'alert("x")' not in page.text
    assert (await client.get("/static/js/study.js")).status_code == 200


async def test_a_burst_of_heartbeats_earns_no_more_than_elapsed_time(
    client: httpx.AsyncClient, db: None
) -> None:
    _, doc, lessons = await setting()
    lesson = lessons["clinical"]
    await login(client, doc.id_number)
    tab = await open_page(client, lesson)
    started = time.monotonic()
    answers = await asyncio.gather(*(beat(client, lesson, tab) for _ in range(1000)))
    elapsed = time.monotonic() - started
    assert all(a.status_code == 200 for a in answers)
    assert await credited(doc, lesson) <= elapsed


async def test_two_tabs_do_not_count_twice(
    app: Starlette, client: httpx.AsyncClient, db: None
) -> None:
    _, doc, lessons = await setting()
    await login(client, doc.id_number)
    first = await open_page(client, lessons["law"])
    await beat(client, lessons["law"], first)
    second = await open_page(client, lessons["internal"])
    await beat(client, lessons["internal"], second)
    for _ in range(3):
        await rewind(app, doc, 30)
        stale = await beat(client, lessons["law"], first)
        assert stale.status_code == 409 and "另一页面正在学习" in stale.json()["message"]
        assert (await beat(client, lessons["internal"], second)).status_code == 200
    assert await credited(doc, lessons["law"]) == 0
    assert 90 <= await credited(doc, lessons["internal"]) <= 91

    # Another physician cannot use this physician's page token, nor credit its lessons.
    other = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    period = await Period.get(is_current=True)
    await factories.enrollment(period, other)
    client.cookies.clear()
    await login(client, other.id_number)
    mine = await open_page(client, lessons["law"])
    stolen = await beat(client, lessons["internal"], {**mine, "token": second["token"]})
    assert stolen.status_code == 409 and stolen.json()["state"] == "error"
    assert 90 <= await credited(doc, lessons["internal"]) <= 91


async def test_a_checkin_stops_crediting_until_answered(
    app: Starlette, client: httpx.AsyncClient, db: None
) -> None:
    _, doc, lessons = await setting()
    lesson = lessons["law"]
    await login(client, doc.id_number)
    tab = await open_page(client, lesson)
    await beat(client, lesson, tab)
    await app.state.redis.hset(study.state_key(doc.id), "due", "60")  # due after a minute
    await rewind(app, doc, 30)
    assert (await beat(client, lesson, tab)).json()["state"] == "counting"
    await rewind(app, doc, 30)
    prompt = (await beat(client, lesson, tab)).json()
    assert prompt["state"] == "checkin" and re.fullmatch(r"\d{4}", prompt["code"])
    held = await credited(doc, lesson)
    for _ in range(3):
        ignored = (await beat(client, lesson, tab)).json()
        assert ignored["state"] == "checkin" and ignored["seconds"] == held
    page = await client.get(f"/physician/training/lessons/{lesson.id}")  # a reload keeps it
    assert prompt["code"] in page.text
    tab = study_data(page.text)
    wrong = await client.post(
        "/physician/training/checkin",
        data={"code": "x"},
        headers={"X-CSRF-Token": tab["csrf"]},
    )
    assert wrong.status_code == 400 and "签到码不正确" in wrong.json()["message"]
    right = await client.post(
        "/physician/training/checkin",
        data={"code": prompt["code"]},
        headers={"X-CSRF-Token": tab["csrf"]},
    )
    assert right.status_code == 200 and "签到成功" in right.json()["message"]
    await beat(client, lesson, tab)
    await rewind(app, doc, 30)
    assert (await beat(client, lesson, tab)).json()["seconds"] >= held + 30
    # Without the CSRF header a heartbeat is refused before it reaches the endpoint.
    refused = await client.post(
        f"/physician/training/lessons/{lesson.id}/beat", data={"token": tab["token"]}
    )
    assert refused.status_code == 403


async def test_heartbeats_for_lessons_not_opened_or_not_applicable_are_refused(
    client: httpx.AsyncClient, db: None
) -> None:
    _, doc, lessons = await setting()
    await login(client, doc.id_number)
    tab = await open_page(client, lessons["law"])
    never = await beat(client, lessons["clinical"], tab)
    assert never.status_code == 409 and "请先打开" in never.json()["message"]
    no_token = await beat(client, lessons["law"], {**tab, "token": ""})
    assert no_token.status_code == 409
    for key in ("dental", "hidden", "surgery"):
        assert (
            await client.get(f"/physician/training/lessons/{lessons[key].id}")
        ).status_code == 404
        refused = await beat(client, lessons[key], tab)
        assert refused.status_code == 404 and "不适用" in refused.json()["message"]
    # Unpublished while the page is open: the next heartbeat is refused.
    await Course.filter(id=lessons["law"].course_id).update(is_published=False)
    assert (await beat(client, lessons["law"], tab)).status_code == 404
    await Course.filter(id=lessons["law"].course_id).update(is_published=True)
    missing = await client.get("/physician/training/lessons/999999")
    assert missing.status_code == 404


async def test_read_only_outside_the_window_or_without_enrollment(
    client: httpx.AsyncClient, db: None
) -> None:
    period, doc, lessons = await setting()
    await login(client, doc.id_number)
    tab = await open_page(client, lessons["law"])
    now = datetime.now(UTC)
    await PhaseWindow.filter(period=period, phase=Phase.TRAINING).update(
        starts_at=now + timedelta(days=3), ends_at=now + timedelta(days=9)
    )
    page = await client.get("/physician/training")
    assert "当前不在培训时间内" in page.text and lessons["law"].title in page.text
    lesson_page = await client.get(f"/physician/training/lessons/{lessons['law'].id}")
    assert lesson_page.status_code == 200 and 'id="study"' not in lesson_page.text
    assert "正文" in lesson_page.text and "当前不在培训时间内" in lesson_page.text
    closed = await beat(client, lessons["law"], tab)
    assert closed.status_code == 403 and "不在培训时间内" in closed.json()["message"]

    await factories.open_window(period, Phase.TRAINING)
    stranger = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    client.cookies.clear()
    await login(client, stranger.id_number)
    page = await client.get("/physician/training")
    assert "报名成功后方可参加培训" in page.text
    lesson_page = await client.get(f"/physician/training/lessons/{lessons['law'].id}")
    assert 'id="study"' not in lesson_page.text
    assert not await LessonProgress.exists(physician_id=stranger.id)


async def test_training_is_for_physicians(client: httpx.AsyncClient, db: None) -> None:
    _, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    await login(client, acct.username)
    assert (await client.get("/physician/training")).status_code == 403
    client.cookies.clear()
    anonymous = await client.get("/physician/training")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


async def wait_for(check: Any, what: str) -> None:
    for _ in range(100):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_study_js_in_a_phone_browser(
    app: Starlette, client: httpx.AsyncClient, db: None
) -> None:
    """The real script in real Chromium at 375 px: it reports while visible, says when it is
    hidden, shows the 签到 prompt and sends the code back, and stops when another tab counts."""
    _, doc, lessons = await setting()
    lesson = lessons["law"]
    await login(client, doc.id_number)
    redis = app.state.redis
    key = study.state_key(doc.id)

    async def state(field: str) -> str | None:
        found: str | None = await redis.hget(key, field)
        return found

    def visibility(value: str) -> str:
        return (
            f"Object.defineProperty(document, 'visibilityState', {{value: '{value}', "
            "configurable: true}); document.dispatchEvent(new Event('visibilitychange'))"
        )

    async with serve(app) as base, chromium(375) as page:
        await page.call("Network.setCookie", name=COOKIE, value=client.cookies[COOKIE], url=base)
        await page.goto(f"{base}/physician/training/lessons/{lesson.id}")
        assert await page.evaluate(OVERFLOW)
        await wait_for(lambda: state("last"), "the first heartbeat")
        assert await credited(doc, lesson) == 0

        await rewind(app, doc, 30)
        await page.evaluate(visibility("hidden"))

        async def paused() -> bool:
            return await state("last") is None and await credited(doc, lesson) >= 30

        await wait_for(paused, "the pause heartbeat")
        text = "document.getElementById('study-state').textContent"
        clock = "document.getElementById('study-clock').textContent"

        async def shown_paused() -> bool:  # the page renders the server's reply a moment later
            said = await page.evaluate(text)
            return "暂停计时" in said and await page.evaluate(clock) in ("0分30秒", "0分31秒")

        await wait_for(shown_paused, "the paused page")

        await redis.hset(key, "due", "0")  # the next heartbeat asks for a 签到
        await page.evaluate(visibility("visible"))
        shown = "!document.getElementById('study-checkin').hidden"
        await wait_for(lambda: page.evaluate(shown), "the 签到 prompt")
        code = await page.evaluate("document.getElementById('study-code').textContent")
        assert code == await state("check") and re.fullmatch(r"\d{4}", code)
        await page.evaluate(
            "var f = document.getElementById('study-checkin');"
            f"f.elements.code.value = '{code}'; f.requestSubmit()"
        )

        async def answered() -> bool:
            return await state("check") == "" and not await page.evaluate(shown)

        await wait_for(answered, "the 签到 answer")
        assert "签到成功" in await page.evaluate(text)

        await open_page(client, lesson)  # the same lesson opened in another tab
        await page.evaluate(visibility("hidden"))
        await page.evaluate(visibility("visible"))

        async def displaced() -> bool:
            return "另一页面正在学习" in await page.evaluate(text)

        await wait_for(displaced, "the other tab's message")
