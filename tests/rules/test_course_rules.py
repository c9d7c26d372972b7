"""rules/courses.py's edits called directly (no HTTP): each with its audit row, publishing
once, and nothing studied is ever deleted."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import Conflict, Forbidden
from models.enums import OrgKind
from models.ops import AuditLog
from models.training import Course, Lesson, LessonProgress
from rules import courses
from rules.actor import Actor
from tests import factories


async def editor() -> Actor:
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    return await Actor.of(office, "192.0.2.40")


def course_form(title: str, **kw: str) -> dict[str, str]:
    return {
        "title": title,
        "category": "public_required",
        "class_hours": "1",
        "is_published": "yes",
        **kw,
    }


async def trail(kind: str, object_id: int) -> list[tuple[str, str, str]]:
    rows = AuditLog.filter(object_type=kind, object_id=object_id).order_by("id")
    return [(a.action, a.from_state, a.to_state) async for a in rows]


def test_minutes_should_make_the_class_hours() -> None:
    assert courses.minutes_warning(2, 90) == ""
    assert "合计 45 分钟" in courses.minutes_warning(2, 45)


async def test_a_course_and_its_lesson_from_creation_to_deletion(db: None) -> None:
    office = await editor()
    values, errors = courses.course_values(course_form("课程规则：医疗纠纷预防"))
    assert errors == {}
    _, institution = await factories.org_with_account(OrgKind.INSTITUTION)
    with pytest.raises(Forbidden):  # the catalogue is the office's
        await courses.create_course(await Actor.of(institution), values)
    course = await courses.create_course(office, values)
    lesson_values, errors = courses.lesson_values(
        {"title": "总则", "minutes": "45", "body": "<p>正文<script>x</script></p>"}
    )
    assert errors == {}
    lesson = await courses.create_lesson(office, course, lesson_values)
    assert lesson.body == "<p>正文</p>" and lesson.course_id == course.id

    values["title"] = "课程规则：医疗纠纷预防和处理"
    await courses.update_course(office, course, values)
    edited = await AuditLog.get(action="course_updated", object_id=course.id)
    assert edited.detail == {
        "before": {"title": "课程规则：医疗纠纷预防"},
        "after": {"title": "课程规则：医疗纠纷预防和处理"},
    }
    await courses.update_lesson(office, lesson, {**lesson_values, "minutes": 40})
    assert (await Lesson.get(id=lesson.id)).minutes == 40

    await courses.delete_lesson(office, lesson)
    await courses.delete_course(office, course)
    assert not await Course.exists(id=course.id)
    assert await trail("course", course.id) == [
        ("course_created", "", ""),
        ("course_updated", "", ""),
        ("course_deleted", "", ""),
    ]
    assert [a for a, *_ in await trail("lesson", lesson.id)] == [
        "lesson_created",
        "lesson_updated",
        "lesson_deleted",
    ]


async def test_publish_once_and_keep_what_was_studied(db: None) -> None:
    office = await editor()
    values, _ = courses.course_values(course_form("课程规则：已学习的课程", is_published="no"))
    course = await courses.create_course(office, values)
    lesson_values, _ = courses.lesson_values({"title": "第一课", "minutes": "45", "body": "正文"})
    lesson = await courses.create_lesson(office, course, lesson_values)

    both = await asyncio.gather(
        courses.set_published(office, [course.id], True),
        courses.set_published(office, [course.id], True),
    )
    assert sorted(both) == [0, 1]
    assert await courses.set_published(office, [course.id], False) == 1
    assert await trail("course", course.id) == [
        ("course_created", "", ""),
        ("course_published", "unpublished", "published"),
        ("course_unpublished", "published", "unpublished"),
    ]

    period = await factories.period()
    doc = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    await LessonProgress.create(physician=doc, lesson=lesson, period=period, seconds_credited=60)
    with pytest.raises(Conflict, match="停用整门课程"):
        await courses.delete_lesson(office, lesson)
    with pytest.raises(Conflict, match="改为停用"):
        await courses.delete_course(office, course)
    assert await Lesson.exists(id=lesson.id) and await Course.exists(id=course.id)
    assert not await AuditLog.exists(action="course_deleted", object_id=course.id)
