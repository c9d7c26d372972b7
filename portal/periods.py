"""【考核周期管理】: the office's periods, their exam parameters and their phase windows.

Exactly one period is current (``is_current``): the pages of every role read it through
``rules.periods.current_period``. Windows are entered in Asia/Shanghai local time and
stored in UTC. Exam parameters freeze once anybody has started the period's test. What may
be saved, and saving it: ``rules/period_settings.py``.
"""

from __future__ import annotations

import logging

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.errors import DomainError, NotFound
from models.enums import CourseCategory, Phase, Role
from models.exam import Paper
from models.period import Period, PhaseWindow
from portal.acting import actor
from rules import papers
from rules import period_settings as settings
from web.endpoint import local_time, redirect, render, requires
from web.pagination import paginate
from web.sessions import get_session

log = logging.getLogger(__name__)


async def edit_form(request: Request, period: Period | None) -> Response:
    errors: dict[str, str] = {}
    shown = settings.shown_of(period)
    if request.method == "POST":
        clean, shown, errors = await settings.check_parameters(await request.form(), period)
        if not errors:
            created = period is None
            period, discarded = await settings.save_parameters(actor(request), period, clean)
            session = get_session(request)
            if created:
                session.flash(f"已创建{period.name}，请设置各阶段时间。")
                return redirect(request, f"/office/periods/{period.id}/windows")
            response = redirect(request, "/office/periods")
            if discarded:
                response.background = BackgroundTask(redraw_in_background, period.id)
            session.flash(
                f"{period.name}的参数已保存。"
                + (f"已按新参数重新生成试卷（原 {discarded} 份作废）。" if discarded else "")
            )
            return response
    context = {
        "period": period,
        "values": shown,
        "errors": errors,
        "numbers": settings.NUMBERS,
        "exam_fields": settings.EXAM_FIELDS,
        "categories": CourseCategory,
        "locked": period is not None and await settings.exam_started(period.id),
        "papers": period is not None and await Paper.exists(period_id=period.id),
    }
    return render(request, "office/periods_form.html", context, status_code=400 if errors else 200)


async def redraw_in_background(period_id: int) -> None:
    """Draw the discarded papers again after the response (the first entry would too)."""
    period = await Period.get_or_none(id=period_id)
    if period is None:
        return
    try:
        await papers.generate_for_period(period)
    except DomainError as exc:  # an empty bank: the hall says so on entry
        log.warning("papers of period %s not drawn again: %s", period_id, exc.message)


# --- pages ---------------------------------------------------------------------------


async def period_or_404(request: Request) -> Period:
    found = await Period.get_or_none(id=request.path_params["period_id"], rehearsal=False)
    if found is None:
        raise NotFound()
    return found


@requires(Role.OFFICE)
async def period_list(request: Request) -> Response:
    q = request.query_params.get("q", "").strip()[:50]
    qs = Period.filter(rehearsal=False).prefetch_related("windows")
    if q:
        qs = qs.filter(name__icontains=q)
    page = await paginate(request, qs.order_by("-is_current", "-id"))
    rows = []
    for period in page.items:
        windows = {w.phase: w for w in period.windows}
        rows.append(
            {
                "period": period,
                "windows": [
                    (p, local_time(windows[p].starts_at), local_time(windows[p].ends_at))
                    if p in windows
                    else (p, "", "")
                    for p in Phase
                ],
                "complete": len(windows) == len(Phase),
            }
        )
    context = {"page": page, "rows": rows, "q": q}
    return render(request, "office/periods.html", context, block="results")


@requires(Role.OFFICE)
async def create(request: Request) -> Response:
    return await edit_form(request, None)


@requires(Role.OFFICE)
async def edit(request: Request) -> Response:
    return await edit_form(request, await period_or_404(request))


@requires(Role.OFFICE)
async def edit_windows(request: Request) -> Response:
    period = await period_or_404(request)
    stored = {w.phase: w for w in await PhaseWindow.filter(period_id=period.id)}
    shown = settings.windows_shown(stored)
    errors: dict[str, str] = {}
    if request.method == "POST":
        windows, shown, errors = await settings.check_windows(await request.form(), period)
        if not errors:
            changed = await settings.save_windows(actor(request), period, windows)
            get_session(request).flash(
                f"{period.name}的阶段时间已保存。" if changed else "阶段时间没有变化。"
            )
            return redirect(request, "/office/periods")
    context = {"period": period, "values": shown, "errors": errors, "phases": Phase}
    return render(
        request, "office/periods_windows.html", context, status_code=400 if errors else 200
    )


@requires(Role.OFFICE)
async def make_current(request: Request) -> Response:
    period = await period_or_404(request)
    session = get_session(request)
    try:
        made = await settings.make_current(actor(request), period)
    except DomainError as exc:
        session.flash(exc.message, "error")
        return redirect(request, "/office/periods")
    if made:
        session.flash(f"已将{period.name}设为本期考核，各角色的页面即按其阶段时间开放。")
    else:
        session.flash(f"{period.name}已是本期考核。", "warning")
    return redirect(request, "/office/periods")


routes = [
    Route("/office/periods", period_list),
    Route("/office/periods/new", create, methods=["GET", "POST"]),
    Route("/office/periods/{period_id:int}", edit, methods=["GET", "POST"]),
    Route("/office/periods/{period_id:int}/windows", edit_windows, methods=["GET", "POST"]),
    Route("/office/periods/{period_id:int}/current", make_current, methods=["POST"]),
]
