"""The crediting rules of rules/training.py, driven with an injected clock on the real database
and the real Redis."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from core.errors import Conflict, DomainError
from models.enums import CourseCategory, OrgKind, Phase
from models.period import Period
from models.physician import Physician
from models.training import Course, Lesson, LessonProgress
from rules import courses
from rules import training as study
from tests import factories
from tools.demo import catalogue

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def setting(minutes: int = 45) -> tuple[Period, Physician, Lesson]:
    period = await factories.period()
    doc = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    course = await Course.create(
        title="医师法解读", category=CourseCategory.PUBLIC_REQUIRED, class_hours=1
    )
    lesson = await Lesson.create(course=course, title="第一讲", minutes=minutes)
    return period, doc, lesson


@pytest.fixture
def redis(app: Starlette) -> aioredis.Redis:
    found: aioredis.Redis = app.state.redis
    return found


async def credited(doc: Physician, lesson: Lesson) -> int:
    return (await LessonProgress.get(physician_id=doc.id, lesson_id=lesson.id)).seconds_credited


class Clock:
    """Heartbeats every ``step`` seconds, typing each 签到 code back when it is asked for."""

    def __init__(self, redis: aioredis.Redis, period: Period, doc: Physician, lesson: Lesson):
        self.redis, self.period, self.doc, self.lesson = redis, period, doc, lesson
        self.t = 0.0
        self.checkins = 0

    async def beat(self, token: str, step: float = 30, answer: bool = True) -> study.Beat:
        self.t += step
        beat = await study.heartbeat(
            self.redis, self.doc.id, self.lesson, self.period, token, at(self.t)
        )
        if beat.state == "checkin" and answer:
            self.checkins += 1
            await study.answer_checkin(self.redis, self.doc.id, beat.code, at(self.t))
        return beat


async def test_paced_heartbeats_accrue_up_to_the_lessons_minutes(
    redis: aioredis.Redis, db: None
) -> None:
    period, doc, lesson = await setting(minutes=45)
    _, token = await study.open_lesson(redis, doc.id, lesson, period)
    clock = Clock(redis, period, doc, lesson)
    first = await clock.beat(token)
    assert first.state == "counting" and first.seconds == 0  # opening and leaving earns nothing
    for _ in range(20):
        await clock.beat(token)
    assert await credited(doc, lesson) == 20 * 30
    # Odd intervals are counted exactly: fractions carry over to the next heartbeat.
    for _ in range(10):
        await clock.beat(token, step=30.25)
    assert await credited(doc, lesson) == 20 * 30 + 302
    beats = [await clock.beat(token) for _ in range(200)]
    assert beats[-1].state == "complete"
    progress = await LessonProgress.get(physician_id=doc.id, lesson_id=lesson.id)
    assert progress.seconds_credited == 45 * 60 and progress.completed_at is not None
    assert 2 <= clock.checkins <= 5  # one every 10–20 credited minutes, answered here
    assert (await clock.beat(token)).state == "complete"
    assert await credited(doc, lesson) == 45 * 60


async def test_a_heartbeat_credits_at_most_the_cap_and_nothing_after_a_silence(
    redis: aioredis.Redis, db: None
) -> None:
    period, doc, lesson = await setting()
    _, token = await study.open_lesson(redis, doc.id, lesson, period)
    clock = Clock(redis, period, doc, lesson)
    await clock.beat(token)
    await clock.beat(token, step=75)  # a missed beat: capped
    assert await credited(doc, lesson) == study.CREDIT_CAP
    await clock.beat(token, step=600)  # hidden for ten minutes: nothing, counting restarts
    assert await credited(doc, lesson) == study.CREDIT_CAP
    await clock.beat(token)
    assert await credited(doc, lesson) == study.CREDIT_CAP + 30
    # A page going hidden says so: its last interval counts, the next one does not.
    clock.t += 10
    await study.heartbeat(redis, doc.id, lesson, period, token, at(clock.t), pause=True)
    assert await credited(doc, lesson) == study.CREDIT_CAP + 40
    await clock.beat(token, step=20)
    assert await credited(doc, lesson) == study.CREDIT_CAP + 40
    # A heartbeat that arrives late (an earlier clock) credits nothing and moves nothing back.
    await clock.beat(token)
    late = await study.heartbeat(redis, doc.id, lesson, period, token, at(clock.t - 20))
    assert late.added == 0
    await clock.beat(token)
    assert await credited(doc, lesson) == study.CREDIT_CAP + 100


async def test_a_burst_earns_no_more_than_the_real_elapsed_time(
    redis: aioredis.Redis, db: None
) -> None:
    period, doc, lesson = await setting()
    _, token = await study.open_lesson(redis, doc.id, lesson, period)
    started = datetime.now(UTC)

    async def beat() -> study.Beat:
        return await study.heartbeat(redis, doc.id, lesson, period, token, datetime.now(UTC))

    await asyncio.gather(*(beat() for _ in range(1000)))
    elapsed = (datetime.now(UTC) - started).total_seconds()
    assert await credited(doc, lesson) <= elapsed
    # The same with the clock frozen: a thousand heartbeats at one moment earn nothing.
    await asyncio.gather(
        *(study.heartbeat(redis, doc.id, lesson, period, token, at(0)) for _ in range(1000))
    )
    assert await credited(doc, lesson) <= elapsed


async def test_two_tabs_do_not_count_twice(redis: aioredis.Redis, db: None) -> None:
    period, doc, lesson = await setting()
    other = await Lesson.create(course_id=lesson.course_id, title="第二讲", minutes=30)
    _, first = await study.open_lesson(redis, doc.id, lesson, period)
    clock = Clock(redis, period, doc, lesson)
    await clock.beat(first)
    await clock.beat(first)
    _, second = await study.open_lesson(redis, doc.id, other, period)  # another tab
    other_clock = Clock(redis, period, doc, other)
    other_clock.t = clock.t
    for _ in range(4):
        stale = await clock.beat(first, step=0)
        assert stale.state == "other_tab" and "另一页面正在学习" in stale.message
        await other_clock.beat(second)
        clock.t = other_clock.t
    assert await credited(doc, lesson) == 30
    assert await credited(doc, other) == 3 * 30  # its first heartbeat credited nothing
    # The same lesson in two tabs: only the newest counts.
    _, third = await study.open_lesson(redis, doc.id, other, period)
    assert (await other_clock.beat(second)).state == "other_tab"
    with pytest.raises(Conflict):  # a lesson never opened has no progress to credit
        never = await Lesson.create(course_id=lesson.course_id, title="第三讲", minutes=30)
        await study.heartbeat(redis, doc.id, never, period, third, at(other_clock.t))


async def test_a_pending_checkin_stops_crediting_until_answered(
    redis: aioredis.Redis, db: None
) -> None:
    period, doc, lesson = await setting(minutes=120)
    _, token = await study.open_lesson(redis, doc.id, lesson, period)
    clock = Clock(redis, period, doc, lesson)
    rng = random.Random(7)
    beat = await clock.beat(token)
    while beat.state != "checkin":
        clock.t += 30
        beat = await study.heartbeat(redis, doc.id, lesson, period, token, at(clock.t), rng=rng)
    prompted = await credited(doc, lesson)
    assert study.CHECKIN_EVERY[0] <= prompted <= study.CHECKIN_EVERY[1] + 30
    assert len(beat.code) == 4 and beat.code.isdigit()
    for _ in range(10):  # ignored for five minutes: nothing counts, the prompt stays
        again = await clock.beat(token, answer=False)
        assert again.state == "checkin" and again.code == beat.code
    # Reopening the page does not skip the 签到.
    _, token = await study.open_lesson(redis, doc.id, lesson, period)
    assert (await clock.beat(token, answer=False)).state == "checkin"
    assert await credited(doc, lesson) == prompted
    with pytest.raises(DomainError, match="签到码不正确"):
        await study.answer_checkin(redis, doc.id, "x" + beat.code, at(clock.t))
    await study.answer_checkin(redis, doc.id, beat.code, at(clock.t + 5))
    with pytest.raises(Conflict):
        await study.answer_checkin(redis, doc.id, beat.code, at(clock.t + 6))
    clock.t += 5
    await clock.beat(token)
    assert await credited(doc, lesson) == prompted + 30  # counting from the 签到 on


async def test_concurrent_credit_never_passes_the_limit(db: None) -> None:
    period, doc, lesson = await setting(minutes=1)
    progress = await LessonProgress.create(physician=doc, lesson=lesson, period=period)
    await asyncio.gather(*(study._credit(progress.id, 7, 60, at(0)) for _ in range(50)))
    done = await LessonProgress.get(id=progress.id)
    assert done.seconds_credited == 60 and done.completed_at is not None


async def test_totals_cap_each_course_and_check_category_minimums(db: None) -> None:
    period, doc, lesson = await setting(minutes=90)  # more minutes than its one 课时
    period.required_hours = 3
    period.category_minimums = {"professional_required": 1, "public_required": "x"}
    await period.save()
    elective = await Course.create(
        title="沟通技巧", category=CourseCategory.PUBLIC_ELECTIVE, class_hours=4
    )
    talk = await Lesson.create(course=elective, title="医患沟通", minutes=180)
    await LessonProgress.create(physician=doc, lesson=lesson, period=period, seconds_credited=5400)
    await LessonProgress.create(physician=doc, lesson=talk, period=period, seconds_credited=5500)
    found = await study.tally(doc.id, period)
    assert found.by_course == {lesson.course_id: 2700, elective.id: 5500}
    assert found.hours == 3 and found.category_hours("public_elective") == 2
    assert found.shortfalls == ["专业必修课还差 1 课时"] and not found.complete
    assert await study.class_hours(doc.id, period.id) == 3
    period.category_minimums = {}
    await period.save()
    assert (await study.tally(doc.id, period)).complete
    # A lesson shortened after it was studied counts its new minutes at most, and is complete.
    await Lesson.filter(id=talk.id).update(minutes=60)
    shortened = await study.tally(doc.id, period)
    assert shortened.by_lesson[talk.id] == 3600 and talk.id in shortened.completed_lessons
    assert lesson.id in shortened.completed_lessons and shortened.hours == 2


async def test_who_may_study_when(db: None) -> None:
    period, doc, _ = await setting()
    await period.fetch_related("windows")
    now = datetime.now(UTC)
    assert await study.study_refusal(doc, None, now) == "当前没有进行中的考核周期"
    assert "报名成功后" in await study.study_refusal(doc, period, now)
    await factories.enrollment(period, doc)
    await factories.open_window(period, Phase.TRAINING)
    assert await study.study_refusal(doc, period, now) == ""
    later = now + timedelta(days=400)
    assert "当前不在培训时间内" in await study.study_refusal(doc, period, later)


def test_sanitise_keeps_the_allow_list_only() -> None:
    dirty = (
        '<h3 onclick="x()">标题</h3><script>alert(1)</script><p style="color:red">正文'
        '<a href="javascript:alert(1)">坏链接</a><a href="https://www.nhc.gov.cn/">好链接</a>'
        '<img src=x onerror=alert(1)></p><table><tr><td colspan="2">格</td></tr></table>'
        "<iframe src='https://evil.example'></iframe><u>下划线</u>"
    )
    clean = courses.sanitise(dirty)
    assert "<h3>标题</h3>" in clean and "<p>正文" in clean and "script" not in clean
    assert "alert" not in clean and "onerror" not in clean and "style" not in clean
    assert 'href="https://www.nhc.gov.cn/"' in clean and "noopener" in clean
    assert "<img" not in clean and "<iframe" not in clean and "<u>" not in clean
    assert '<td colspan="2">格</td>' in clean
    assert courses.is_direct_video("https://v.example.cn/a/lesson.MP4")
    assert not courses.is_direct_video("https://v.example.cn/watch?v=1")
    assert not courses.valid_video_url("javascript:alert(1)")
    assert not courses.valid_video_url("ftp://v.example.cn/a.mp4")


async def test_load_demo_courses_is_idempotent(tmp_path: Path, db: None) -> None:
    await Course.all().delete()
    demo = [
        {
            "title": "医疗纠纷预防和处理条例",
            "category": "public_required",
            "class_hours": 1,
            "practice_category": "",
            "practice_scope": "",
            "description": "条例要点",
            "lessons": [
                {"title": "总则", "minutes": 45, "body": "<p>正文<script>x</script></p>"},
            ],
        }
    ]
    path = tmp_path / "courses.json"
    path.write_text(json.dumps(demo, ensure_ascii=False), encoding="utf-8")
    assert await catalogue.load_demo_courses(path) == 1
    assert await catalogue.load_demo_courses(path) == 1
    lesson = await Lesson.get(title="总则")
    assert lesson.body == "<p>正文</p>" and lesson.video_url == ""


async def test_load_demo_courses_from_the_real_file(db: None) -> None:
    if not catalogue.DEMO_COURSES.exists():
        pytest.skip("tools/demo/content/courses.json is not written yet")
    await Course.all().delete()
    count = await catalogue.load_demo_courses()
    data = json.loads(catalogue.DEMO_COURSES.read_text(encoding="utf-8"))
    assert count == len(data) > 0
    assert await Lesson.all().count() == sum(len(c["lessons"]) for c in data)
    assert {c.category for c in await Course.all()} == set(CourseCategory)
    assert await catalogue.load_demo_courses() == count
