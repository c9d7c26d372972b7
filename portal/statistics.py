"""【统计分析】: per prefecture (the office) and per institution of one prefecture (the office
drilling in, or a commission for its own), for one period, with a bar chart and .xlsx export.

Every figure is one GROUP BY query over the physicians in scope (a measure is a filter, often
``id IN (subquery)``), so a page costs a fixed handful of queries however many physicians
there are. Physicians are counted where they are now: the staging area is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.expressions import Q, Subquery
from tortoise.functions import Count, Sum
from tortoise.queryset import QuerySet

from core.errors import NotFound
from core.numbers import as_int
from models.enums import AttemptStatus, OrgStatus, Outcome, Procedure, RegistrationStatus, Role
from models.exam import Paper
from models.org import Organisation, Prefecture
from models.period import Enrollment, Period, Result
from models.physician import Physician
from models.training import LessonProgress
from portal.account import requires_info
from portal.exports import audited_export
from rules.enrollment import REJECTED
from rules.jurisdiction import Jurisdiction
from rules.training import SECONDS_PER_CLASS_HOUR
from web.endpoint import CurrentUser, render, requires, user
from web.pagination import paginate

MEASURES: tuple[tuple[str, str], ...] = (
    ("registered", "注册人数"),
    ("approved", "注册审核通过"),
    ("general", "一般程序报名"),
    ("simplified", "简易程序报名"),
    ("trained", "培训完成"),
    ("tested", "参加测评"),
    ("test_passed", "测评合格"),
    ("qualified", "考核合格"),
)
# What the chart draws for each row (all figures stay in the table below it).
SERIES: tuple[tuple[str, str, str], ...] = (
    ("approved", "注册审核通过", "#1f5fa8"),
    ("enrolled", "报名", "#4d9de0"),
    ("trained", "培训完成", "#2e9e5b"),
    ("tested", "参加测评", "#e0a030"),
    ("test_passed", "测评合格", "#c0504d"),
)
EXPORT_LIMIT = 20_000


def measure_filters(period: Period | None) -> dict[str, Q]:
    """Each measure as a filter on Physician, for ``period``."""
    found = {
        "registered": Q(
            registration_status__in=[RegistrationStatus.PENDING, RegistrationStatus.APPROVED]
        ),
        "approved": Q(registration_status=RegistrationStatus.APPROVED),
    }
    if period is None:
        return found
    for procedure in Procedure:
        enrolled = Enrollment.filter(
            period_id=period.id, is_active=True, procedure=procedure
        ).exclude(status__in=REJECTED)
        found[procedure.value] = Q(id__in=Subquery(enrolled.values("physician_id")))
    studied = (
        LessonProgress.filter(period_id=period.id)
        .annotate(total=Sum("seconds_credited"))
        .group_by("physician_id")
        .filter(total__gte=period.required_hours * SECONDS_PER_CLASS_HOUR)
        .values("physician_id")
    )
    found["trained"] = Q(id__in=Subquery(studied))
    tested = Paper.filter(period_id=period.id, attempt__status=AttemptStatus.SUBMITTED)
    found["tested"] = Q(id__in=Subquery(tested.values("physician_id")))
    passed = tested.filter(attempt__score__gte=period.pass_mark)
    found["test_passed"] = Q(id__in=Subquery(passed.values("physician_id")))
    qualified = Result.filter(period_id=period.id, outcome=Outcome.QUALIFIED)
    found["qualified"] = Q(id__in=Subquery(qualified.values("physician_id")))
    return found


async def tally(
    base: QuerySet[Physician], key: str, period: Period | None
) -> dict[int, dict[str, int]]:
    """{group id: {measure: count}} for the physicians of ``base`` grouped by ``key``."""
    counts: dict[int, dict[str, int]] = {}
    for measure, condition in measure_filters(period).items():
        rows = await base.filter(condition).annotate(n=Count("id")).group_by(key).values(key, "n")
        for row in rows:
            counts.setdefault(row[key], {})[measure] = row["n"]
    return counts


def full_row(label: str, counts: dict[str, int] | None, **extra: Any) -> dict[str, Any]:
    row = {m: (counts or {}).get(m, 0) for m, _ in MEASURES}
    row["enrolled"] = row["general"] + row["simplified"]
    return {"label": label, **row, **extra}


def total_row(rows: list[dict[str, Any]], label: str = "合计") -> dict[str, Any]:
    return full_row(label, {m: sum(r[m] for r in rows) for m, _ in MEASURES})


# --- chart -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    label: str
    value: int
    colour: str


def axis(value: int) -> tuple[int, int]:
    """A round step (1, 2 or 5 times a power of ten) giving about four ticks, and the axis
    end: the first multiple of the step at or above ``value``."""
    power = 1
    while 5 * power * 4 < value:
        power *= 10
    step = next(m * power for m in (1, 2, 5) if m * power * 4 >= value)
    return step, max(step, -(-value // step) * step)


def chart(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Positions for a horizontal grouped bar chart drawn as SVG by the template."""
    label_width, plot_width, bar, gap, top = 180, 480, 9, 12, 28
    step, top_value = axis(max([r[k] for r in rows for k, _, _ in SERIES] + [1]))
    scale = plot_width / top_value
    group = bar * len(SERIES) + gap
    bars: list[Bar] = []
    labels = []
    for i, row in enumerate(rows):
        y0 = top + i * group
        name = row["label"]
        labels.append(
            {
                "y": y0 + bar * len(SERIES) / 2 + 4,
                "text": name[:13] + ("…" if len(name) > 13 else ""),
                "full": name,
            }
        )
        for j, (key, series, colour) in enumerate(SERIES):
            value = row[key]
            bars.append(
                Bar(
                    x=label_width,
                    y=y0 + j * bar,
                    width=value * scale,
                    label=f"{name} {series}",
                    value=value,
                    colour=colour,
                )
            )
    height = top + len(rows) * group + 22
    ticks = [{"x": label_width + v * scale, "value": v} for v in range(0, top_value + 1, step)]
    return {
        "width": label_width + plot_width + 40,
        "height": height,
        "plot_left": label_width,
        "bars": bars,
        "labels": labels,
        "ticks": ticks,
        "series": SERIES,
    }


# --- pages -----------------------------------------------------------------------------


async def chosen_period(request: Request) -> tuple[Period | None, list[Period]]:
    periods = await Period.filter(rehearsal=False).order_by("-id")
    wanted = request.query_params.get("period", "")
    found = next((p for p in periods if str(p.id) == wanted), None)
    if found is None:
        found = next((p for p in periods if p.is_current), periods[0] if periods else None)
    return found, list(periods)


async def prefecture_in_scope(current: CurrentUser, prefecture_id: int) -> Prefecture:
    if current.role == Role.COMMISSION and prefecture_id != current.prefecture_id:
        raise NotFound()
    found = await Prefecture.get_or_none(id=prefecture_id)
    if found is None:
        raise NotFound()
    return found


def placed(current: CurrentUser) -> QuerySet[Physician]:
    """The physicians in scope that belong to an institution (not in the staging area)."""
    return Jurisdiction.of(current).physicians().filter(institution_id__isnull=False)


async def prefecture_rows(current: CurrentUser, period: Period | None) -> list[dict[str, Any]]:
    counts = await tally(placed(current), "prefecture_id", period)
    return [
        full_row(p.name, counts.get(p.id), id=p.id) for p in await Prefecture.all().order_by("sort")
    ]


def institutions_of(current: CurrentUser, prefecture: Prefecture, q: str) -> QuerySet[Organisation]:
    qs = (
        Jurisdiction.of(current)
        .institutions()
        .filter(prefecture_id=prefecture.id)
        .exclude(status=OrgStatus.DELETED)
    )
    if q:
        qs = qs.filter(name__icontains=q)
    return qs.order_by("name", "id")


async def institution_rows(
    current: CurrentUser, period: Period | None, institutions: list[Organisation]
) -> list[dict[str, Any]]:
    ids = [i.id for i in institutions]
    counts = await tally(placed(current).filter(institution_id__in=ids), "institution_id", period)
    return [full_row(i.name, counts.get(i.id), id=i.id) for i in institutions]


async def prefecture_total(
    current: CurrentUser, period: Period | None, prefecture: Prefecture
) -> dict[str, Any]:
    base = placed(current).filter(prefecture_id=prefecture.id)
    counts = await tally(base, "prefecture_id", period)
    return full_row(f"{prefecture.name}合计", counts.get(prefecture.id))


def prefecture_param(request: Request, current: CurrentUser) -> int | None:
    """The prefecture drilled into: chosen by the office, always its own for a commission
    (asking for another one answers 404 through ``prefecture_in_scope``)."""
    raw = request.query_params.get("prefecture", "")
    number = as_int(raw)
    if raw and number is None:
        raise NotFound()
    if current.role == Role.COMMISSION:
        return number if raw else current.prefecture_id
    return number


async def statistics_page(request: Request) -> Response:
    current = user(request)
    period, periods = await chosen_period(request)
    q = request.query_params.get("q", "").strip()[:50]
    prefecture_id = prefecture_param(request, current)
    base = f"/{current.role.value}/statistics"
    context: dict[str, Any] = {
        "period": period,
        "periods": periods,
        "measures": MEASURES,
        "base": base,
        "q": q,
        "prefecture": None,
    }
    params = {"period": str(period.id) if period else ""}
    if prefecture_id is None:
        rows = await prefecture_rows(current, period)
        context |= {"rows": rows, "total": total_row(rows), "chart": chart(rows)}
    else:
        prefecture = await prefecture_in_scope(current, prefecture_id)
        page = await paginate(request, institutions_of(current, prefecture, q))
        rows = await institution_rows(current, period, page.items)
        context |= {
            "prefecture": prefecture,
            "page": page,
            "rows": rows,
            "total": await prefecture_total(current, period, prefecture),
            "chart": chart(rows),
        }
        if current.role == Role.OFFICE:
            params["prefecture"] = str(prefecture.id)
        params["q"] = q
    context["query"] = "&".join(f"{k}={quote(v)}" for k, v in params.items() if v)
    return render(request, "office/statistics.html", context, block="results")


async def export(request: Request) -> Response:
    current = user(request)
    period, _ = await chosen_period(request)
    prefecture_id = prefecture_param(request, current)
    if prefecture_id is None:
        rows = await prefecture_rows(current, period)
        total, scope = total_row(rows), "各地州市"
    else:
        prefecture = await prefecture_in_scope(current, prefecture_id)
        q = request.query_params.get("q", "").strip()[:50]
        institutions = await institutions_of(current, prefecture, q).limit(EXPORT_LIMIT)
        rows = await institution_rows(current, period, list(institutions))
        total, scope = await prefecture_total(current, period, prefecture), prefecture.name
    title = f"{period.name if period else '尚无考核周期'} · {scope} · 统计分析"
    headers = ["名称", *(label for _, label in MEASURES)]
    cells = [[row["label"], *(row[m] for m, _ in MEASURES)] for row in [*rows, total]]
    filters = {
        "period": str(period.id) if period else "",
        "prefecture": str(prefecture_id or ""),
        "q": request.query_params.get("q", "").strip()[:50] if prefecture_id else "",
    }
    return await audited_export(request, f"统计分析_{scope}", headers, cells, filters, title=title)


office_page = requires(Role.OFFICE)(statistics_page)
office_export = requires(Role.OFFICE)(export)
commission_page = requires(Role.COMMISSION)(requires_info(statistics_page))
commission_export = requires(Role.COMMISSION)(requires_info(export))

routes = [
    Route("/office/statistics", office_page),
    Route("/office/statistics/export.xlsx", office_export),
    Route("/commission/statistics", commission_page),
    Route("/commission/statistics/export.xlsx", commission_export),
]
