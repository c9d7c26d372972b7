"""【考前练习】: the physician's practice pages (a set, one question per screen, the 错题本).

The rules (who may practise until the test window opens, drawing a set, the first answer
stands) are ``rules.practice``; this module parses, authorises, limits how often a set is
started and renders.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.errors import DomainError, NotFound
from core.numbers import as_int
from models.enums import (
    Phase,
    Role,
)
from models.exam import Question
from models.physician import Physician
from models.training import PracticeAnswer, PracticeSet
from rules import practice as rules
from rules.periods import current_period, window, window_text
from web.endpoint import is_htmx, redirect, render, requires, user
from web.pagination import Page, paginate
from web.params import page_number
from web.sessions import get_session

STARTS_PER_HOUR = 60  # new sets per physician per hour (kept in Redis)


async def _check_rate(request: Request, physician_id: int) -> None:
    key = f"practice:starts:{physician_id}"
    redis = request.app.state.redis
    count = await redis.incr(key)
    if count == 1:
        await redis.expire(key, 3600)
    if count > STARTS_PER_HOUR:
        raise DomainError("开始练习的次数过于频繁，请先完成已开始的练习，稍后再试")


# --- pages ---------------------------------------------------------------------------


async def _me(request: Request) -> Physician:
    return await Physician.get(id=user(request).physician_id)


async def _page_context(
    request: Request, physician: Physician, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    period = await current_period()
    reason = await rules.closed_reason(physician, period, datetime.now(UTC))
    test = window(period, Phase.TEST) if period else None
    history: Page[Any] = await paginate(
        request, PracticeSet.filter(physician_id=physician.id).order_by("-id"), size=10
    )
    return {
        "period": period,
        "reason": reason,
        "test_text": window_text(test) if test else "",
        "sizes": rules.SET_SIZES,
        "default_size": rules.DEFAULT_SIZE,
        "history": history,
        "labels": rules.SOURCE_LABELS,
        "score": rules.score,
        "wrong_count": 0 if reason else len(await rules.wrong_question_ids(physician.id)),
        "summary": await rules.summary(physician.id, period.id) if period else None,
        "errors": errors or {},
    }


@requires(Role.PHYSICIAN)
async def practice_page(request: Request) -> Response:
    context = await _page_context(request, await _me(request))
    return render(request, "physician/practice.html", context)


@requires(Role.PHYSICIAN)
async def practice_start(request: Request) -> Response:
    """开始练习 (``count`` questions drawn) or 重做错题 (``source=wrong``)."""
    physician = await _me(request)
    form = await request.form()
    redo = form.get("source") == "wrong"
    raw = str(form.get("count", ""))
    count = as_int(raw) or 0
    try:
        await rules.require_open(physician, datetime.now(UTC))
        if not redo and count not in rules.SET_SIZES:
            raise DomainError("请选择每套题数：10、20 或 50 题", field="count")
        await _check_rate(request, physician.id)
        practice_set = await (
            rules.start_redo(physician) if redo else rules.start_set(physician, count)
        )
    except DomainError as exc:
        context = await _page_context(request, physician, {exc.field or "form": exc.message})
        return render(request, "physician/practice.html", context, status_code=400)
    if not redo and practice_set.question_count < count:
        get_session(request).flash(
            f"题库中可供您练习的题目较少，本套共 {practice_set.question_count} 题。", "warning"
        )
    return redirect(request, f"/physician/practice/{practice_set.id}")


async def _set_context(
    practice_set: PracticeSet, position: int | None, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    items = await PracticeAnswer.filter(practice_set_id=practice_set.id).order_by("position")
    if position is None:
        position = next((i.position for i in items if i.answered_at is None), 0)
    current = None
    if position:
        current = await PracticeAnswer.get_or_none(
            practice_set_id=practice_set.id, position=position
        ).select_related("question")
        if current is None:
            raise NotFound()
    return {
        "pset": practice_set,
        "items": items,
        "item": current,
        "score": rules.score(practice_set),
        "labels": rules.SOURCE_LABELS,
        "errors": errors or {},
        "wrong": [i for i in items if i.correct is False],
    }


@requires(Role.PHYSICIAN)
async def set_page(request: Request) -> Response:
    physician = await _me(request)
    practice_set = await rules.own_set(physician.id, request.path_params["set_id"])
    await rules.require_open(physician, datetime.now(UTC))
    raw = request.query_params.get("n", "")
    position = as_int(raw) or None
    if request.query_params.get("summary"):
        position = 0
    context = await _set_context(practice_set, position)
    return render(request, "physician/practice_set.html", context, block="question")


@requires(Role.PHYSICIAN)
async def answer_post(request: Request) -> Response:
    physician = await _me(request)
    set_id, position = request.path_params["set_id"], request.path_params["position"]
    form = await request.form()
    raw = [str(v) for v in form.getlist("choice")]
    errors: dict[str, str] = {}
    try:
        await rules.answer(physician, set_id, position, raw)
    except DomainError as exc:
        if exc.field is None:
            raise
        errors[exc.field] = exc.message
    if not errors and not is_htmx(request):  # a plain form post: show the result by GET
        return redirect(request, f"/physician/practice/{set_id}?n={position}")
    practice_set = await rules.own_set(physician.id, set_id)
    context = await _set_context(practice_set, position, errors)
    return render(
        request,
        "physician/practice_set.html",
        context,
        status_code=400 if errors else 200,
        block="question",
    )


@requires(Role.PHYSICIAN)
async def wrong_page(request: Request) -> Response:
    physician = await _me(request)
    await rules.require_open(physician, datetime.now(UTC))
    ids = await rules.wrong_question_ids(physician.id)
    size = 10
    number = min(page_number(request), max(1, -(-len(ids) // size)))
    shown = ids[(number - 1) * size : number * size]
    by_id = {q.id: q for q in await Question.filter(id__in=shown)}
    last = {
        a.question_id: a
        for a in await PracticeAnswer.filter(
            practice_set__physician_id=physician.id,
            question_id__in=shown,
            answered_at__isnull=False,
        ).order_by("answered_at", "id")
    }
    rows = [(by_id[i], last[i]) for i in shown if i in by_id and i in last]
    page: Page[Any] = Page(items=rows, number=number, size=size, total=len(ids))
    return render(
        request, "physician/practice_wrong.html", {"page": page, "redo_limit": rules.REDO_LIMIT}
    )


routes = [
    Route("/physician/practice", practice_page, name="practice"),
    Route("/physician/practice/start", practice_start, methods=["POST"]),
    Route("/physician/practice/wrong", wrong_page),
    Route("/physician/practice/{set_id:int}", set_page),
    Route("/physician/practice/{set_id:int}/{position:int}", answer_post, methods=["POST"]),
]
