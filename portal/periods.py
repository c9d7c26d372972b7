"""【考核周期管理】: the office's periods, their exam parameters and their phase windows.

Exactly one period is current (``is_current``): the pages of every role read it through
``rules.periods.current_period``. Windows are entered in Asia/Shanghai local time and
stored in UTC. Exam parameters freeze once anybody has started the period's test.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.background import BackgroundTask
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.transactions import in_transaction

from core.errors import DomainError, NotFound
from core.numbers import as_int
from examhall import papers
from models.enums import CourseCategory, Phase, Role
from models.exam import Attempt, Paper
from models.org import Account
from models.period import Period, PhaseWindow
from rules import audit
from web.endpoint import LOCAL_ZONE, client_ip, local_time, redirect, render, requires, user
from web.pagination import paginate
from web.sessions import get_session

log = logging.getLogger(__name__)
INPUT_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends

# name: (label, minimum, maximum, unit, hint)
NUMBERS: dict[str, tuple[str, int, int, str, str]] = {
    "question_count": ("试题数量", 10, 200, "题", "每份试卷的题目数"),
    "duration_minutes": ("考试时长", 10, 240, "分钟", "从开始答题到自动交卷"),
    "pass_mark": ("合格分数线", 1, 100, "分", "百分制，成绩不低于此分数为测评合格"),
    "waiting_room_minutes": ("候考室开放时间", 0, 120, "分钟", "开考前多少分钟可进入候考"),
    "face_retries": ("人脸识别重试次数", 0, 10, "次", "超过后转监考人员人工处理"),
    "required_hours": ("培训学时要求", 1, 200, "课时", "完成此课时数视为培训完成"),
    "credit_points": ("授予学分", 0, 50, "分", "培训完成后可申请的自治区级I类学分"),
}
# Parameters the exam hall reads while a test runs: frozen once an attempt exists.
EXAM_FIELDS = (
    "question_count",
    "duration_minutes",
    "pass_mark",
    "waiting_room_minutes",
    "face_retries",
)
LOCKED = "本周期已有医师参加业务水平测评，测评参数不能再修改"
# What a drawn paper is made of: papers drawn before these changed are drawn again.
PAPER_FIELDS = ("question_count", "duration_minutes", "pass_mark")


def to_input(value: datetime | None) -> str:
    """A stored (UTC) time as the value of a datetime-local input, in Asia/Shanghai."""
    return value.astimezone(LOCAL_ZONE).strftime(INPUT_FORMAT) if value else ""


def from_input(text: str) -> datetime:
    """A datetime-local value, meant in Asia/Shanghai, as an aware UTC datetime."""
    return datetime.strptime(text, INPUT_FORMAT).replace(tzinfo=LOCAL_ZONE).astimezone(UTC)


def small_int(raw: str) -> int | None:
    """A non-negative integer of at most six digits (full-width digits too), else None."""
    return as_int(raw, high=999_999)


async def exam_started(period_id: int) -> bool:
    return await Attempt.exists(paper__period_id=period_id)


# --- parameters ----------------------------------------------------------------------


def read_parameters(
    form: FormData, period: Period | None, locked: bool
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """The cleaned values, the values as typed (for redisplay) and the errors."""
    errors: dict[str, str] = {}
    shown: dict[str, str] = {}
    clean: dict[str, Any] = {}
    name = str(form.get("name", "")).strip()
    shown["name"] = name
    if not name:
        errors["name"] = "请填写考核周期名称，例如 2026年度医师定期考核"
    elif len(name) > 100:
        errors["name"] = "名称不能超过100个字"
    clean["name"] = name
    for field, (label, low, high, unit, _) in NUMBERS.items():
        raw = str(form.get(field, "")).strip()
        if locked and field in EXAM_FIELDS:
            assert period is not None
            stored = getattr(period, field)
            shown[field] = str(stored)
            if raw and raw != str(stored):
                errors[field] = LOCKED
            continue
        shown[field] = raw
        number = small_int(raw)
        if number is None or not low <= number <= high:
            errors[field] = f"{label}须为 {low}–{high} 之间的整数（单位：{unit}）"
        else:
            clean[field] = number
    minimums: dict[str, int] = {}
    for category in CourseCategory:
        key = f"min_{category.value}"
        raw = str(form.get(key, "")).strip() or "0"
        shown[key] = raw
        number = small_int(raw)
        if number is None or number > 200:
            errors[key] = f"{category.label}最低课时须为 0–200 之间的整数"
        elif number:
            minimums[category.value] = number
    hours = clean.get("required_hours")
    if hours and sum(minimums.values()) > hours:
        errors["min_" + CourseCategory.PROFESSIONAL_REQUIRED.value] = (
            f"各类课程最低课时合计（{sum(minimums.values())}）不能超过培训学时要求（{hours}）"
        )
    clean["category_minimums"] = minimums
    return clean, shown, errors


def shown_of(period: Period | None) -> dict[str, str]:
    """The form's initial values: the period's, or the defaults of a new one."""
    source = period or Period()
    shown = {"name": source.name or ""}
    shown |= {field: str(getattr(source, field)) for field in NUMBERS}
    minimums = source.category_minimums or {}
    shown |= {f"min_{c.value}": str(minimums.get(c.value, 0)) for c in CourseCategory}
    return shown


async def name_taken(name: str, exclude_id: int | None) -> bool:
    qs = Period.filter(name=name)
    if exclude_id is not None:
        qs = qs.exclude(id=exclude_id)
    return await qs.exists()


async def save_parameters(request: Request, period: Period | None, clean: dict[str, Any]) -> Period:
    actor = await Account.get(id=user(request).account_id)
    if period is None:
        period = await Period.create(**clean)
        await audit.record(actor, "period_created", obj=period, ip=client_ip(request), values=clean)
        return period
    before = {k: getattr(period, k) for k in clean}
    changed = {k: v for k, v in clean.items() if before[k] != v}
    if changed:
        for key, value in changed.items():
            setattr(period, key, value)
        await period.save(update_fields=list(changed))
        await audit.record(
            actor,
            "period_updated",
            obj=period,
            ip=client_ip(request),
            before={k: before[k] for k in changed},
            after=changed,
        )
    return period


async def edit_form(request: Request, period: Period | None) -> Response:
    locked = period is not None and await exam_started(period.id)
    errors: dict[str, str] = {}
    shown = shown_of(period)
    if request.method == "POST":
        form = await request.form()
        clean, shown, errors = read_parameters(form, period, locked)
        if "name" not in errors and await name_taken(clean["name"], period.id if period else None):
            errors["name"] = "已有同名的考核周期，请换一个名称"
        if not errors:
            created = period is None
            changed_from = {k: getattr(period, k) for k in PAPER_FIELDS} if period else {}
            period = await save_parameters(request, period, clean)
            session = get_session(request)
            if created:
                session.flash(f"已创建{period.name}，请设置各阶段时间。")
                return redirect(request, f"/office/periods/{period.id}/windows")
            response = redirect(request, "/office/periods")
            redrawn = await redraw_papers(period, changed_from)
            if redrawn:
                response.background = BackgroundTask(redraw_in_background, period.id)
            session.flash(
                f"{period.name}的参数已保存。"
                + (f"已按新参数重新生成试卷（原 {redrawn} 份作废）。" if redrawn else "")
            )
            return response
    context = {
        "period": period,
        "values": shown,
        "errors": errors,
        "numbers": NUMBERS,
        "exam_fields": EXAM_FIELDS,
        "categories": CourseCategory,
        "locked": locked,
        "papers": period is not None and await Paper.exists(period_id=period.id),
    }
    return render(request, "office/periods_form.html", context, status_code=400 if errors else 200)


async def redraw_papers(period: Period, before: dict[str, Any]) -> int:
    """After the question count, duration or pass mark changed (allowed only while nobody has
    started the test), the papers drawn under the old values go: a physician's page and
    paper always show what the period now says. Returns how many were discarded."""
    if not before or all(getattr(period, k) == v for k, v in before.items()):
        return 0
    return await papers.discard_unopened(period)


async def redraw_in_background(period_id: int) -> None:
    """Draw the discarded papers again after the response (the first entry would too)."""
    period = await Period.get_or_none(id=period_id)
    if period is None:
        return
    try:
        await papers.generate_for_period(period)
    except DomainError as exc:  # an empty bank: the hall says so on entry
        log.warning("papers of period %s not drawn again: %s", period_id, exc.message)


# --- windows -------------------------------------------------------------------------

ORDER_RULES: tuple[tuple[Phase, str, Phase, str, str], ...] = (
    # (phase, its edge, must not be before: phase, its edge, message)
    (
        Phase.SIMPLIFIED_REVIEW,
        "start",
        Phase.REGISTRATION,
        "start",
        "简易程序审核不能早于注册报名开始（须先有报名才能审核）",
    ),
    (
        Phase.TRAINING,
        "start",
        Phase.REGISTRATION,
        "start",
        "培训不能早于注册报名开始（医师注册通过后才能学习）",
    ),
    (
        Phase.TEST,
        "start",
        Phase.TRAINING,
        "start",
        "业务水平测评不能早于培训开始",
    ),
    (
        Phase.TEST,
        "start",
        Phase.REGISTRATION,
        "end",
        "业务水平测评须在注册报名结束之后开始（试卷按报名名单在测评前生成）",
    ),
    (
        Phase.EVALUATION,
        "start",
        Phase.REGISTRATION,
        "start",
        "工作成绩和职业道德评定不能早于注册报名开始",
    ),
    (
        Phase.RESULTS,
        "start",
        Phase.TEST,
        "end",
        "结果公布须在业务水平测评结束后",
    ),
    (
        Phase.RESULTS,
        "start",
        Phase.EVALUATION,
        "end",
        "结果公布须在工作成绩和职业道德评定结束后",
    ),
)


def read_windows(
    form: FormData, duration_minutes: int
) -> tuple[dict[Phase, tuple[datetime, datetime]], dict[str, str], dict[str, str]]:
    errors: dict[str, str] = {}
    shown: dict[str, str] = {}
    edges: dict[tuple[Phase, str], datetime] = {}
    for phase in Phase:
        for edge, word in (("start", "开始"), ("end", "结束")):
            key = f"{phase.value}_{edge}"
            raw = str(form.get(key, "")).strip()
            shown[key] = raw
            if not raw:
                errors[key] = f"请填写{phase.label}的{word}时间"
                continue
            try:
                edges[phase, edge] = from_input(raw)
            except ValueError:
                errors[key] = "时间格式应为 年-月-日 时:分"
    windows: dict[Phase, tuple[datetime, datetime]] = {}
    for phase in Phase:
        start, end = edges.get((phase, "start")), edges.get((phase, "end"))
        if start is None or end is None:
            continue
        if end <= start:
            errors[f"{phase.value}_end"] = "结束时间须晚于开始时间"
        else:
            windows[phase] = (start, end)
    for phase, edge, other, other_edge, message in ORDER_RULES:
        key = f"{phase.value}_{edge}"
        if phase in windows and other in windows and key not in errors:
            mine = windows[phase][0 if edge == "start" else 1]
            theirs = windows[other][0 if other_edge == "start" else 1]
            if mine < theirs:
                errors[key] = message
    test = windows.get(Phase.TEST)
    too_short = test is not None and test[1] - test[0] < timedelta(minutes=duration_minutes)
    if too_short and f"{Phase.TEST.value}_end" not in errors:
        errors[f"{Phase.TEST.value}_end"] = (
            f"测评时间段不能短于考试时长（{duration_minutes}分钟），否则医师无法答完"
        )
    return windows, shown, errors


async def save_windows(
    request: Request, period: Period, windows: dict[Phase, tuple[datetime, datetime]]
) -> int:
    existing = {w.phase: w for w in await PhaseWindow.filter(period_id=period.id)}
    before: dict[str, list[str]] = {}
    after: dict[str, list[str]] = {}
    async with in_transaction():
        for phase, (start, end) in windows.items():
            found = existing.get(phase)
            if found and found.starts_at == start and found.ends_at == end:
                continue
            if found:
                before[phase.value] = [local_time(found.starts_at), local_time(found.ends_at)]
                await PhaseWindow.filter(id=found.id).update(starts_at=start, ends_at=end)
            else:
                await PhaseWindow.create(period=period, phase=phase, starts_at=start, ends_at=end)
            after[phase.value] = [local_time(start), local_time(end)]
    if after:
        await audit.record(
            await Account.get(id=user(request).account_id),
            "period_windows_updated",
            obj=period,
            ip=client_ip(request),
            before=before,
            after=after,
        )
    return len(after)


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
    shown: dict[str, str] = {}
    for phase in Phase:
        w = stored.get(phase)
        shown[f"{phase.value}_start"] = to_input(w.starts_at if w else None)
        shown[f"{phase.value}_end"] = to_input(w.ends_at if w else None)
    errors: dict[str, str] = {}
    if request.method == "POST":
        windows, shown, errors = read_windows(await request.form(), period.duration_minutes)
        test = stored.get(Phase.TEST)
        if (
            test
            and Phase.TEST in windows
            and windows[Phase.TEST][0] != test.starts_at
            and await exam_started(period.id)
        ):
            errors[f"{Phase.TEST.value}_start"] = (
                "已有医师开始测评，测评开始时间不能再修改（可以延后结束时间）"
            )
        if not errors:
            changed = await save_windows(request, period, windows)
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
    if await PhaseWindow.filter(period_id=period.id).count() < len(Phase):
        session.flash(f"请先设置{period.name}全部阶段的时间，再设为本期考核。", "error")
        return redirect(request, "/office/periods")
    if period.is_current:
        session.flash(f"{period.name}已是本期考核。", "warning")
        return redirect(request, "/office/periods")
    async with in_transaction() as conn:
        # Lock every period row first (there are only a few): a concurrent request waits
        # here until this one commits, then sees its result, so exactly one stays current.
        await Period.all().using_db(conn).order_by("id").select_for_update()
        previous = await Period.filter(is_current=True).using_db(conn).values_list("id", flat=True)
        await Period.filter(id__in=previous).using_db(conn).update(is_current=False)
        await Period.filter(id=period.id).using_db(conn).update(is_current=True)
    await audit.record(
        await Account.get(id=user(request).account_id),
        "period_made_current",
        obj=period,
        to_state="current",
        ip=client_ip(request),
        previous=list(previous),
    )
    session.flash(f"已将{period.name}设为本期考核，各角色的页面即按其阶段时间开放。")
    return redirect(request, "/office/periods")


routes = [
    Route("/office/periods", period_list),
    Route("/office/periods/new", create, methods=["GET", "POST"]),
    Route("/office/periods/{period_id:int}", edit, methods=["GET", "POST"]),
    Route("/office/periods/{period_id:int}/windows", edit_windows, methods=["GET", "POST"]),
    Route("/office/periods/{period_id:int}/current", make_current, methods=["POST"]),
]
