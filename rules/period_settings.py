"""考核周期管理, the office's settings of a period: its exam parameters (frozen once an attempt
exists), its six phase windows in Beijing time, and which period is current.

Each check returns the cleaned values, the values as typed (for the form to show again) and
the reasons by field; each save is one transaction with its audit row (rules/transition.py).
A change of what a paper is made of discards the papers nobody has opened yet, in the same
transaction; the office's page draws them again after its response (``papers.generate_for_period``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from core.clock import LOCAL_ZONE, local_time
from core.errors import DomainError
from core.numbers import as_int
from models.enums import CourseCategory, Phase
from models.exam import Attempt
from models.period import Period, PhaseWindow
from rules import papers
from rules.actor import Actor
from rules.transition import Effects, create, event

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
TEST_START_LOCKED = "已有医师开始测评，测评开始时间不能再修改（可以延后结束时间）"
INCOMPLETE = "请先设置{name}全部阶段的时间，再设为本期考核。"

Form = Mapping[str, Any]
Windows = dict[Phase, tuple[datetime, datetime]]


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


def shown_of(period: Period | None) -> dict[str, str]:
    """The form's initial values: the period's, or the defaults of a new one."""
    source = period or Period()
    shown = {"name": source.name or ""}
    shown |= {field: str(getattr(source, field)) for field in NUMBERS}
    minimums = source.category_minimums or {}
    shown |= {f"min_{c.value}": str(minimums.get(c.value, 0)) for c in CourseCategory}
    return shown


def read_parameters(
    form: Form, period: Period | None, locked: bool
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


async def check_parameters(
    form: Form, period: Period | None
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """``read_parameters`` against the database too: the exam parameters are frozen once an
    attempt exists, and two periods may not share a name."""
    locked = period is not None and await exam_started(period.id)
    clean, shown, errors = read_parameters(form, period, locked)
    if "name" not in errors:
        others = Period.filter(name=clean["name"])
        if period is not None:
            others = others.exclude(id=period.id)
        if await others.exists():
            errors["name"] = "已有同名的考核周期，请换一个名称"
    return clean, shown, errors


async def save_parameters(
    actor: Actor, period: Period | None, clean: dict[str, Any]
) -> tuple[Period, int]:
    """A new period, or the changed parameters of ``period``, audited. Returns the period
    and how many unopened papers were discarded because what a paper is made of changed."""
    if period is None:
        made = await create(
            actor, Period, action="period_created", values=clean, detail={"values": clean}
        )
        return made, 0
    before = {k: getattr(period, k) for k in clean}
    changed = {k: v for k, v in clean.items() if before[k] != v}
    if not changed:
        return period, 0
    discarded = 0

    async def apply() -> Effects:
        nonlocal discarded
        for key, value in changed.items():
            setattr(period, key, value)
        await period.save(update_fields=list(changed))
        if any(k in changed for k in PAPER_FIELDS):
            # Allowed only while nobody has started the test: a physician's page and paper
            # always show what the period now says.
            discarded = await papers.discard_unopened(period)
        return Effects(detail={"papers_discarded": discarded} if discarded else {})

    await event(
        actor,
        "period_updated",
        obj=period,
        then=apply,
        detail={"before": {k: before[k] for k in changed}, "after": changed},
    )
    return period, discarded


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


def windows_shown(stored: Mapping[Phase, PhaseWindow]) -> dict[str, str]:
    """The windows form's initial values."""
    shown: dict[str, str] = {}
    for phase in Phase:
        w = stored.get(phase)
        shown[f"{phase.value}_start"] = to_input(w.starts_at if w else None)
        shown[f"{phase.value}_end"] = to_input(w.ends_at if w else None)
    return shown


def read_windows(
    form: Form, duration_minutes: int
) -> tuple[Windows, dict[str, str], dict[str, str]]:
    """The windows as typed: every edge present and well formed, each end after its start,
    the phases in their order, and the test window not shorter than the test."""
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
    windows: Windows = {}
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


async def check_windows(
    form: Form, period: Period
) -> tuple[Windows, dict[str, str], dict[str, str]]:
    """``read_windows`` against the database too: once somebody has started the test, its
    start stays (its end may move later)."""
    windows, shown, errors = read_windows(form, period.duration_minutes)
    test = await PhaseWindow.get_or_none(period_id=period.id, phase=Phase.TEST)
    if (
        test is not None
        and Phase.TEST in windows
        and windows[Phase.TEST][0] != test.starts_at
        and await exam_started(period.id)
    ):
        errors[f"{Phase.TEST.value}_start"] = TEST_START_LOCKED
    return windows, shown, errors


async def save_windows(actor: Actor, period: Period, windows: Windows) -> int:
    """Store the windows that changed, audited with before and after. Returns how many."""
    existing = {w.phase: w for w in await PhaseWindow.filter(period_id=period.id)}
    before: dict[str, list[str]] = {}
    after: dict[str, list[str]] = {}
    for phase, (start, end) in windows.items():
        found = existing.get(phase)
        if found and found.starts_at == start and found.ends_at == end:
            continue
        if found:
            before[phase.value] = [local_time(found.starts_at), local_time(found.ends_at)]
        after[phase.value] = [local_time(start), local_time(end)]
    if not after:
        return 0

    async def apply() -> None:
        for phase, (start, end) in windows.items():
            if phase.value not in after:
                continue
            found = existing.get(phase)
            if found:
                await PhaseWindow.filter(id=found.id).update(starts_at=start, ends_at=end)
            else:
                await PhaseWindow.create(period=period, phase=phase, starts_at=start, ends_at=end)

    await event(
        actor,
        "period_windows_updated",
        obj=period,
        then=apply,
        detail={"before": before, "after": after},
    )
    return len(after)


# --- the current period --------------------------------------------------------------


async def make_current(actor: Actor, period: Period) -> bool:
    """Make ``period`` the one current period (its six windows must be set). Returns False
    when it already was. Two offices at once: exactly one stays current."""
    if await PhaseWindow.filter(period_id=period.id).count() < len(Phase):
        raise DomainError(INCOMPLETE.format(name=period.name))
    if await Period.exists(id=period.id, is_current=True):
        return False

    async def switch() -> Effects:
        # Lock every period row first (there are only a few): a concurrent switch waits
        # here until this one commits, then sees its result, so exactly one stays current.
        await Period.all().order_by("id").select_for_update()
        previous = list(await Period.filter(is_current=True).values_list("id", flat=True))
        await Period.filter(id__in=previous).update(is_current=False)
        await Period.filter(id=period.id).update(is_current=True)
        return Effects(detail={"previous": previous})

    await event(actor, "period_made_current", obj=period, then=switch, to_state="current")
    return True
