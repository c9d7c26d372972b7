"""【培训管理】: the physician's catalogue, lessons and honestly counted study time.

The catalogue shows the published courses meant for the physician (everyone's, its practice
category's, its scope's), grouped by category, with the time credited so far against the
period's required 课时 and category minimums. Study counts only for an approved physician
with a standing enrollment in the current period, inside the training window; otherwise the
pages are read-only and say why. The lesson page's script (static/js/study.js) sends the
heartbeats that rules/training.py turns into credited time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tortoise.expressions import Q

from core.errors import DomainError, Forbidden, NotFound
from models.enums import CourseCategory, Role
from models.physician import Physician
from models.training import Lesson, LessonProgress
from rules import training as study
from rules.courses import is_direct_video, sanitise, valid_video_url
from rules.periods import current_period
from web.endpoint import render, requires, user
from web.pagination import paginate


async def _me(request: Request) -> Physician:
    return await Physician.get(id=user(request).physician_id)


def clock(seconds: int) -> str:
    """Study time as the page shows it: 1小时05分 or 12分30秒."""
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}小时{minutes:02d}分" if hours else f"{minutes}分{secs:02d}秒"


@requires(Role.PHYSICIAN)
async def catalogue(request: Request) -> Response:
    physician = await _me(request)
    period = await current_period()
    params = request.query_params
    chosen = {k: params.get(k, "").strip()[:50] for k in ("q", "category")}
    qs = study.applicable_courses(physician)
    if chosen["q"]:
        qs = qs.filter(Q(title__icontains=chosen["q"]) | Q(description__icontains=chosen["q"]))
    if chosen["category"] in CourseCategory._value2member_map_:
        qs = qs.filter(category=chosen["category"])
    page = await paginate(request, qs.order_by("category", "sort", "id"))
    lessons: dict[int, list[Lesson]] = {c.id: [] for c in page.items}
    for lesson in await Lesson.filter(course_id__in=list(lessons)).order_by("sort", "id"):
        lessons[lesson.course_id].append(lesson)
    groups = [
        (category, [c for c in page.items if c.category == category]) for category in CourseCategory
    ]
    tally = await study.tally(physician.id, period) if period else None
    context: dict[str, Any] = {
        "period": period,
        "refusal": await study.study_refusal(physician, period, datetime.now(UTC)),
        "page": page,
        "groups": [(c, courses) for c, courses in groups if courses],
        "lessons": lessons,
        "tally": tally,
        "categories": CourseCategory,
        "chosen": chosen,
        "query": "&".join(f"{k}={quote(v)}" for k, v in chosen.items() if v),
        "per_hour": study.SECONDS_PER_CLASS_HOUR,
        "clock": clock,
    }
    return render(request, "physician/training.html", context, block="results")


async def _lesson(physician: Physician, lesson_id: int) -> Lesson:
    found = await study.applicable_lesson(physician, lesson_id)
    if found is None:
        raise NotFound("该课时不存在、已停用或不适用于您的执业类别和范围")
    return found


@requires(Role.PHYSICIAN)
async def lesson_page(request: Request) -> Response:
    physician = await _me(request)
    lesson = await _lesson(physician, request.path_params["lesson_id"])
    period = await current_period()
    refusal = await study.study_refusal(physician, period, datetime.now(UTC))
    redis = request.app.state.redis
    token, seconds, checkin = "", 0, ""
    if period is not None and not refusal:
        progress, token = await study.open_lesson(redis, physician.id, lesson, period)
        seconds = progress.seconds_credited
        checkin = await study.pending_checkin(redis, physician.id)
    elif period is not None:
        done = await LessonProgress.get_or_none(
            physician_id=physician.id, lesson_id=lesson.id, period_id=period.id
        )
        seconds = done.seconds_credited if done else 0
    siblings = await Lesson.filter(course_id=lesson.course_id).order_by("sort", "id")
    at = next(i for i, x in enumerate(siblings) if x.id == lesson.id)
    context = {
        "lesson": lesson,
        "course": lesson.course,
        "period": period,
        "refusal": refusal,
        "token": token,
        "seconds": seconds,
        "limit": lesson.minutes * 60,
        "checkin": checkin,
        "previous": siblings[at - 1] if at > 0 else None,
        "next": siblings[at + 1] if at + 1 < len(siblings) else None,
        "position": (at + 1, len(siblings)),
        "body": sanitise(lesson.body),  # stored sanitised; checked again on the way out
        "direct_video": is_direct_video(lesson.video_url),
        "video_ok": valid_video_url(lesson.video_url),
        "beat_seconds": study.BEAT_SECONDS,
        "clock": clock,
    }
    return render(request, "physician/lesson.html", context)


def _error(exc: DomainError) -> JSONResponse:
    return JSONResponse(
        {"state": "error", "message": exc.message, "field": exc.field},
        status_code=exc.status_code,
    )


@requires(Role.PHYSICIAN)
async def beat(request: Request) -> Response:
    """One heartbeat of a visible lesson page: JSON for static/js/study.js."""
    now = datetime.now(UTC)
    try:
        physician = await _me(request)
        lesson = await _lesson(physician, request.path_params["lesson_id"])
        period = await current_period()
        refusal = await study.study_refusal(physician, period, now)
        if refusal or period is None:
            raise Forbidden(refusal or "当前不能学习")
        form = await request.form()
        found = await study.heartbeat(
            request.app.state.redis,
            physician.id,
            lesson,
            period,
            str(form.get("token", ""))[:64],
            now,
            pause=form.get("pause") == "1",
        )
    except DomainError as exc:
        return _error(exc)
    return JSONResponse(found.as_json(), status_code=409 if found.state == "other_tab" else 200)


@requires(Role.PHYSICIAN)
async def checkin(request: Request) -> Response:
    """签到: the code the page showed, typed back by the physician."""
    form = await request.form()
    try:
        await study.answer_checkin(
            request.app.state.redis,
            user(request).physician_id or 0,
            str(form.get("code", ""))[:10],
            datetime.now(UTC),
        )
    except DomainError as exc:
        return _error(exc)
    return JSONResponse({"state": "counting", "message": "签到成功，继续计时"})


routes = [
    Route("/physician/training", catalogue, name="training"),
    Route("/physician/training/lessons/{lesson_id:int}", lesson_page),
    Route("/physician/training/lessons/{lesson_id:int}/beat", beat, methods=["POST"]),
    Route("/physician/training/checkin", checkin, methods=["POST"]),
]
