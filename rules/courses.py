"""The course catalogue's rules: the office's rich text kept to what the lesson editor makes,
lesson videos, the course and lesson forms checked (the office's pages and the demo catalogue
use the same checks), and the office's edits, each with its audit row. A course or lesson with
study progress is never deleted (that would erase credited time): it is unpublished instead."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import nh3

from core.errors import Conflict, Forbidden
from core.numbers import as_int
from models.enums import CourseCategory, Role
from models.practice import PRACTICE_SCOPES, valid_scope
from models.training import Course, Lesson, LessonProgress
from rules.actor import Actor
from rules.transition import create, event, transition

# --- rich text and video ---------------------------------------------------------------

# What the lesson editor offers (static/js/lesson-editor.js reads it from the page): what
# it can make is kept, nothing else. ``b``/``i`` are the same marks typed by hand.
ALLOWED_TAGS = {
    "p", "br", "h2", "h3", "h4", "blockquote", "ul", "ol", "li", "strong", "b", "em", "i",
    "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "th": {"colspan", "rowspan"},
    "td": {"colspan", "rowspan"},
}


def editor_allow_list() -> str:
    """The allow-list as the editor's cleanHTML.allowTags spells it: ``a[href|title],p,…``."""
    spelled = []
    for tag in sorted(ALLOWED_TAGS):
        names = sorted(ALLOWED_ATTRIBUTES.get(tag, ()))
        spelled.append(f"{tag}[{'|'.join(names)}]" if names else tag)
    return ",".join(spelled)


def sanitise(html: str) -> str:
    """The office's rich text reduced to the allow-list; links only to http(s) addresses."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https"},
        url_relative="deny",
        link_rel="noopener noreferrer nofollow",
    ).strip()


def valid_video_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in url


def is_direct_video(url: str) -> bool:
    """A direct .mp4 file plays in <video>; anything else is shown as a link."""
    return valid_video_url(url) and urlsplit(url).path.lower().endswith(".mp4")


# --- the course form, checked ----------------------------------------------------------


def course_values(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Course fields from a form, and the errors by field name."""
    errors: dict[str, str] = {}
    title = form.get("title", "").strip()
    if not 2 <= len(title) <= 200:
        errors["title"] = "请填写课程名称（2–200 字）"
    category = form.get("category", "")
    if category not in CourseCategory._value2member_map_:
        errors["category"] = "请选择课程类别"
    hours = as_int(form.get("class_hours"), 1, 20)
    if hours is None:
        errors["class_hours"] = "课时须为 1–20 的整数"
    practice_category = form.get("practice_category", "").strip()
    practice_scope = form.get("practice_scope", "").strip()
    if practice_category and practice_category not in PRACTICE_SCOPES:
        errors["practice_category"] = "执业类别不在规定范围内"
    elif practice_scope and not practice_category:
        errors["practice_scope"] = "选择执业范围前，请先选择执业类别"
    elif practice_scope and not valid_scope(practice_category, practice_scope):
        errors["practice_scope"] = f"执业范围不属于{practice_category}类别"
    description = form.get("description", "").strip()
    if len(description) > 2000:
        errors["description"] = "课程简介不超过 2000 字"
    sort = as_int(form.get("sort", "").strip() or "0", -9999, 9999)
    if sort is None:
        errors["sort"] = "排序须为 -9999 至 9999 的整数"
    values = {
        "title": title,
        "category": category,
        "class_hours": hours or 0,
        "practice_category": practice_category,
        "practice_scope": practice_scope,
        "description": description,
        "is_published": form.get("is_published") == "yes",
        "sort": sort or 0,
    }
    return values, errors


def lesson_values(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    title = form.get("title", "").strip()
    if not 2 <= len(title) <= 200:
        errors["title"] = "请填写课时名称（2–200 字）"
    raw = form.get("body", "")
    if len(raw) > 100_000:
        errors["body"] = "正文过长（不超过 10 万字符）"
    body = sanitise(raw)
    video_url = form.get("video_url", "").strip()
    if video_url and (len(video_url) > 500 or not valid_video_url(video_url)):
        errors["video_url"] = "视频地址须为 http:// 或 https:// 开头的完整网址"
    if not body and not video_url and not errors.get("body"):
        errors["body"] = "请填写正文或视频地址"
    minutes = as_int(form.get("minutes"), 1, 900)
    if minutes is None:
        errors["minutes"] = "学习时长须为 1–900 的整数（分钟）"
    sort = as_int(form.get("sort", "").strip() or "0", -9999, 9999)
    if sort is None:
        errors["sort"] = "排序须为 -9999 至 9999 的整数"
    values = {
        "title": title,
        "body": body,
        "video_url": video_url,
        "minutes": minutes or 0,
        "sort": sort or 0,
    }
    return values, errors


# --- the office's edits, each with its audit row ------------------------------------------


def minutes_warning(class_hours: int, minutes: int) -> str:
    """A course's lessons should take exactly its 课时 × 45 minutes."""
    expected = class_hours * 45
    if minutes == expected:
        return ""
    return f"各课时学习时长合计 {minutes} 分钟，与课程 {class_hours} 课时（{expected} 分钟）不一致"


def _office(editor: Actor) -> None:
    if editor.role != Role.OFFICE:
        raise Forbidden()


def _summary(values: dict[str, Any]) -> dict[str, Any]:
    """What the audit row keeps of a course's or lesson's fields (not its long texts)."""
    return {k: v for k, v in values.items() if k not in ("description", "body")}


def _changes(before: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The fields an edit changed, before and after (for the audit row)."""
    changed = {k: v for k, v in _summary(values).items() if before.get(k) != v}
    return {"before": {k: before.get(k) for k in changed}, "after": changed}


async def create_course(editor: Actor, values: dict[str, Any]) -> Course:
    """A new course from checked ``course_values``."""
    _office(editor)
    return await create(
        editor, Course, action="course_created", values=values, detail=_summary(values)
    )


async def update_course(editor: Actor, course: Course, values: dict[str, Any]) -> None:
    _office(editor)
    before = _summary({k: getattr(course, k) for k in values})

    async def apply() -> None:
        await Course.filter(id=course.id).update(**values)

    await event(editor, "course_updated", obj=course, then=apply, detail=_changes(before, values))


async def set_published(editor: Actor, course_ids: list[int], published: bool) -> int:
    """Publish or unpublish courses; the number actually changed (each one audited)."""
    _office(editor)
    to, away = ("published", "unpublished") if published else ("unpublished", "published")
    changed = 0
    for course in await Course.filter(id__in=course_ids, is_published=not published):
        try:
            await transition(
                editor,
                course,
                action="course_published" if published else "course_unpublished",
                state_field=None,
                from_states=[away],
                to_state=to,
                where={"is_published": not published},
                values={"is_published": published},
            )
        except Conflict:  # changed in between by somebody else: counted by them
            continue
        changed += 1
    return changed


async def delete_course(editor: Actor, course: Course) -> None:
    """A course nobody has studied (else: unpublish it; credited time stays)."""
    _office(editor)

    async def remove() -> None:
        if await LessonProgress.exists(lesson__course_id=course.id):
            raise Conflict("已有医师学习该课程，不能删除，请改为停用")
        await course.delete()

    detail = {"title": course.title, "category": course.category.value}
    await event(editor, "course_deleted", obj=course, then=remove, detail=detail)


async def create_lesson(editor: Actor, course: Course, values: dict[str, Any]) -> Lesson:
    """A new lesson of ``course`` from checked ``lesson_values``."""
    _office(editor)
    return await create(
        editor,
        Lesson,
        action="lesson_created",
        values={"course_id": course.id, **values},
        detail={"course": course.id, **_summary(values)},
    )


async def update_lesson(editor: Actor, lesson: Lesson, values: dict[str, Any]) -> None:
    _office(editor)
    before = _summary({k: getattr(lesson, k) for k in values})
    detail = {
        "course": lesson.course_id,
        "body_changed": values["body"] != lesson.body,
        **_changes(before, values),
    }

    async def apply() -> None:
        await Lesson.filter(id=lesson.id).update(**values)

    await event(editor, "lesson_updated", obj=lesson, then=apply, detail=detail)


async def delete_lesson(editor: Actor, lesson: Lesson) -> None:
    """A lesson nobody has studied (else: unpublish the whole course)."""
    _office(editor)

    async def remove() -> None:
        if await LessonProgress.exists(lesson_id=lesson.id):
            raise Conflict("已有医师学习该课时，不能删除；可停用整门课程。")
        await lesson.delete()

    detail = {"course": lesson.course_id, "title": lesson.title, "minutes": lesson.minutes}
    await event(editor, "lesson_deleted", obj=lesson, then=remove, detail=detail)
