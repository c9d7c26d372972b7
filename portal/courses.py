"""【课程管理】: the office's courses and lessons.

A course belongs to one of the three categories and may target a practice category or scope
(empty: everyone). Its lessons' minutes should add up to its 课时 × 45; the pages warn when
they do not. Lesson text is sanitised to a small allow-list of tags. A course or lesson with
study progress is never deleted (that would erase credited time): it is unpublished instead.
Those rules, each change with its audit row, are ``rules.courses``; this module parses,
authorises and renders.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.expressions import Q
from tortoise.functions import Count, Sum
from tortoise.queryset import QuerySet

from core.errors import DomainError, NotFound
from core.numbers import as_ints
from models.enums import CourseCategory, Role
from models.practice import PRACTICE_SCOPES
from models.training import Course, Lesson, LessonProgress
from portal.acting import actor
from rules import courses as catalogue
from web.endpoint import redirect, render, requires
from web.pagination import paginate
from web.sessions import get_session

LIST_URL = "/office/courses"
PUBLISHED = {"yes": "已发布", "no": "已停用"}


def _form(raw: Any) -> dict[str, str]:
    return {k: v for k, v in raw.items() if isinstance(v, str)}


async def _lesson_minutes(course_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(lessons, minutes) of each course."""
    rows = (
        await Lesson.filter(course_id__in=course_ids)
        .annotate(n=Count("id"), total=Sum("minutes"))
        .group_by("course_id")
        .values("course_id", "n", "total")
    )
    return {r["course_id"]: (int(r["n"]), int(r["total"] or 0)) for r in rows}


def _listed(chosen: dict[str, str]) -> QuerySet[Course]:
    qs = Course.all()
    if chosen["q"]:
        qs = qs.filter(Q(title__icontains=chosen["q"]) | Q(description__icontains=chosen["q"]))
    if chosen["category"] in CourseCategory._value2member_map_:
        qs = qs.filter(category=chosen["category"])
    if chosen["published"] in PUBLISHED:
        qs = qs.filter(is_published=chosen["published"] == "yes")
    if chosen["practice_category"] in PRACTICE_SCOPES:
        qs = qs.filter(practice_category__in=("", chosen["practice_category"]))
    return qs.order_by("category", "sort", "id")


@requires(Role.OFFICE)
async def course_list(request: Request) -> Response:
    params = request.query_params
    chosen = {
        k: params.get(k, "").strip()[:50]
        for k in ("q", "category", "published", "practice_category")
    }
    page = await paginate(request, _listed(chosen))
    counts = await _lesson_minutes([c.id for c in page.items])
    warnings = {
        c.id: catalogue.minutes_warning(c.class_hours, counts.get(c.id, (0, 0))[1])
        for c in page.items
    }
    context = {
        "page": page,
        "chosen": chosen,
        "counts": counts,
        "warnings": warnings,
        "categories": CourseCategory,
        "published": PUBLISHED,
        "practice_categories": list(PRACTICE_SCOPES),
        "query": "&".join(f"{k}={quote(v)}" for k, v in chosen.items() if v),
    }
    return render(request, "office/courses.html", context, block="results")


def _course_context(values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors,
        "categories": CourseCategory,
        "scopes": PRACTICE_SCOPES,
    }


@requires(Role.OFFICE)
async def course_new(request: Request) -> Response:
    values: dict[str, Any] = {"is_published": True, "sort": 0}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values, errors = catalogue.course_values(_form(await request.form()))
        if not errors:
            course = await catalogue.create_course(actor(request), values)
            get_session(request).flash(f"课程「{course.title}」已创建，请添加课时内容。")
            return redirect(request, f"{LIST_URL}/{course.id}")
    return render(
        request,
        "office/courses_form.html",
        {**_course_context(values, errors), "course": None},
        status_code=400 if errors else 200,
    )


async def _course(course_id: int) -> Course:
    found = await Course.get_or_none(id=course_id)
    if found is None:
        raise NotFound()
    return found


@requires(Role.OFFICE)
async def course_edit(request: Request) -> Response:
    course = await _course(request.path_params["course_id"])
    values: dict[str, Any] = {
        k: getattr(course, k)
        for k in (
            "title",
            "category",
            "class_hours",
            "practice_category",
            "practice_scope",
            "description",
            "is_published",
            "sort",
        )
    }
    errors: dict[str, str] = {}
    if request.method == "POST":
        values, errors = catalogue.course_values(_form(await request.form()))
        if not errors:
            await catalogue.update_course(actor(request), course, values)
            get_session(request).flash("课程信息已保存。")
            return redirect(request, f"{LIST_URL}/{course.id}")
    lessons = await Lesson.filter(course_id=course.id).order_by("sort", "id")
    progress = await LessonProgress.filter(lesson__course_id=course.id).count()
    context = {
        **_course_context(values, errors),
        "course": course,
        "lessons": lessons,
        "learners": progress,
        "warning": catalogue.minutes_warning(course.class_hours, sum(x.minutes for x in lessons)),
    }
    return render(request, "office/courses_form.html", context, status_code=400 if errors else 200)


@requires(Role.OFFICE)
async def course_publish(request: Request) -> Response:
    course = await _course(request.path_params["course_id"])
    publish = (await request.form()).get("publish") == "yes"
    await catalogue.set_published(actor(request), [course.id], publish)
    done = "发布，医师可以学习" if publish else "停用，医师不再看到该课程"
    get_session(request).flash(f"课程「{course.title}」已{done}。")
    return redirect(request, f"{LIST_URL}/{course.id}")


@requires(Role.OFFICE)
async def course_bulk(request: Request) -> Response:
    form = await request.form()
    ids = as_ints(form.getlist("course"))
    session = get_session(request)
    action = form.get("action")
    if not ids:
        session.flash("请先勾选课程", "error")
    elif action not in ("publish", "unpublish"):
        session.flash("请选择批量操作", "error")
    else:
        done = await catalogue.set_published(actor(request), ids, action == "publish")
        verb = "发布" if action == "publish" else "停用"
        session.flash(f"已{verb} {done} 门课程。")
    return redirect(request, LIST_URL)


@requires(Role.OFFICE)
async def course_delete(request: Request) -> Response:
    course = await _course(request.path_params["course_id"])
    try:
        await catalogue.delete_course(actor(request), course)
    except DomainError as exc:
        get_session(request).flash(exc.message, "error")
        return redirect(request, f"{LIST_URL}/{course.id}")
    get_session(request).flash(f"课程「{course.title}」已删除。")
    return redirect(request, LIST_URL)


# --- lessons ---------------------------------------------------------------------------


async def _lesson(lesson_id: int) -> Lesson:
    found = await Lesson.get_or_none(id=lesson_id).select_related("course")
    if found is None:
        raise NotFound()
    return found


def _lesson_context(
    course: Course, lesson: Lesson | None, values: dict[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    video_url = str(values.get("video_url", ""))
    return {
        "course": course,
        "lesson": lesson,
        "values": values,
        "errors": errors,
        "preview": catalogue.sanitise(str(values.get("body", ""))),
        "video_url": video_url if catalogue.valid_video_url(video_url) else "",
        "direct_video": catalogue.is_direct_video(video_url),
        "allowed_tags": catalogue.editor_allow_list(),
    }


@requires(Role.OFFICE)
async def lesson_new(request: Request) -> Response:
    course = await _course(request.path_params["course_id"])
    values: dict[str, Any] = {"minutes": 45, "sort": 0}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = _form(await request.form())
        values, errors = catalogue.lesson_values(form)
        if not errors:
            lesson = await catalogue.create_lesson(actor(request), course, values)
            get_session(request).flash(f"课时「{lesson.title}」已添加。")
            return redirect(request, f"{LIST_URL}/{course.id}")
        values["body"] = form.get("body", "")  # what was typed, to correct it
    return render(
        request,
        "office/courses_lesson.html",
        _lesson_context(course, None, values, errors),
        status_code=400 if errors else 200,
    )


@requires(Role.OFFICE)
async def lesson_edit(request: Request) -> Response:
    lesson = await _lesson(request.path_params["lesson_id"])
    values: dict[str, Any] = {
        k: getattr(lesson, k) for k in ("title", "body", "video_url", "minutes", "sort")
    }
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = _form(await request.form())
        values, errors = catalogue.lesson_values(form)
        if not errors:
            await catalogue.update_lesson(actor(request), lesson, values)
            get_session(request).flash("课时内容已保存。")
            return redirect(request, f"{LIST_URL}/{lesson.course_id}")
        values["body"] = form.get("body", "")
    context = _lesson_context(lesson.course, lesson, values, errors)
    context["learners"] = await LessonProgress.filter(lesson_id=lesson.id).count()
    return render(
        request, "office/courses_lesson.html", context, status_code=400 if errors else 200
    )


@requires(Role.OFFICE)
async def lesson_delete(request: Request) -> Response:
    lesson = await _lesson(request.path_params["lesson_id"])
    back = f"{LIST_URL}/{lesson.course_id}"
    try:
        await catalogue.delete_lesson(actor(request), lesson)
    except DomainError as exc:
        get_session(request).flash(exc.message, "error")
        return redirect(request, f"{LIST_URL}/lessons/{lesson.id}")
    get_session(request).flash(f"课时「{lesson.title}」已删除。")
    return redirect(request, back)


@requires(Role.OFFICE)
async def lesson_preview(request: Request) -> Response:
    """【预览】: the body as physicians will see it, after sanitising (an htmx fragment)."""
    form = _form(await request.form())
    body = catalogue.sanitise(form.get("body", "")[:100_000])
    video_url = form.get("video_url", "").strip()
    context = {
        "preview": body,
        "video_url": video_url if catalogue.valid_video_url(video_url) else "",
        "direct_video": catalogue.is_direct_video(video_url),
    }
    # Only the preview block of the lesson page, whether htmx asked or not.
    response: Response = request.app.state.templates.TemplateResponse(
        request, "office/courses_lesson.html", context, block_name="preview"
    )
    return response


routes = [
    Route(LIST_URL, course_list, name="courses"),
    Route(f"{LIST_URL}/new", course_new, methods=["GET", "POST"]),
    Route(f"{LIST_URL}/bulk", course_bulk, methods=["POST"]),
    Route(f"{LIST_URL}/preview", lesson_preview, methods=["POST"]),
    Route(f"{LIST_URL}/{{course_id:int}}", course_edit, methods=["GET", "POST"]),
    Route(f"{LIST_URL}/{{course_id:int}}/publish", course_publish, methods=["POST"]),
    Route(f"{LIST_URL}/{{course_id:int}}/delete", course_delete, methods=["POST"]),
    Route(f"{LIST_URL}/{{course_id:int}}/lessons/new", lesson_new, methods=["GET", "POST"]),
    Route(f"{LIST_URL}/lessons/{{lesson_id:int}}", lesson_edit, methods=["GET", "POST"]),
    Route(f"{LIST_URL}/lessons/{{lesson_id:int}}/delete", lesson_delete, methods=["POST"]),
]
