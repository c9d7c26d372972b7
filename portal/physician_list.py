"""【考核信息查看】: the physicians of one's jurisdiction, searched and filtered, one page at a
time or all of them as an .xlsx file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from models.enums import Outcome, Procedure, RegistrationStatus, Role
from models.period import Enrollment, Result
from models.physician import Physician
from models.practice import PRACTICE_SCOPES
from portal import xlsx
from portal.enrollment import current_period
from portal.pagination import paginate
from portal.web import ORG_ROLES, render, requires, user

ALL_SCOPES = sorted({s for scopes in PRACTICE_SCOPES.values() for s in scopes})


@dataclass(frozen=True)
class Shown:
    """The current period, and whether its results may be shown: organisations see them
    once published, the office as soon as they are computed."""

    period_id: int | None
    results: bool


async def filtered(request: Request) -> tuple[QuerySet[Physician], dict[str, str], Shown]:
    params = request.query_params
    qs = user(request).jurisdiction.physicians().select_related("institution", "prefecture")
    chosen = {
        k: params.get(k, "").strip()[:50] for k in ("q", "status", "procedure", "scope", "result")
    }
    if chosen["q"]:
        qs = qs.filter(Q(name__icontains=chosen["q"]) | Q(id_number__icontains=chosen["q"].upper()))
    if chosen["status"] in RegistrationStatus._value2member_map_:
        qs = qs.filter(registration_status=chosen["status"])
    if chosen["scope"] in ALL_SCOPES:
        qs = qs.filter(practice_scope=chosen["scope"])
    period = await current_period()
    period_id = period.id if period else None
    shown = Shown(
        period_id,
        bool(period and (period.results_published_at or user(request).role == Role.OFFICE)),
    )
    if chosen["procedure"] in Procedure._value2member_map_ and period_id:
        qs = qs.filter(
            id__in=Subquery(
                Enrollment.filter(
                    period_id=period_id, is_active=True, procedure=chosen["procedure"]
                ).values("physician_id")
            )
        )
    if chosen["result"] in Outcome._value2member_map_:
        # Before publication no result is visible, so no physician matches one.
        published = Result.filter(period_id=period_id if shown.results else -1)
        qs = qs.filter(
            id__in=Subquery(published.filter(outcome=chosen["result"]).values("physician_id"))
        )
    return qs.order_by("id"), chosen, shown


async def period_facts(shown: Shown, ids: list[int]) -> dict[int, dict[str, str]]:
    """Each listed physician's procedure and result in the current period."""
    facts: dict[int, dict[str, str]] = {i: {"procedure": "未报名", "result": "—"} for i in ids}
    if shown.period_id is None or not ids:
        return facts
    for e in await Enrollment.filter(
        period_id=shown.period_id, is_active=True, physician_id__in=ids
    ):
        facts[e.physician_id]["procedure"] = f"{e.procedure.label}（{e.state_label}）"
    if shown.results:
        for r in await Result.filter(period_id=shown.period_id, physician_id__in=ids):
            facts[r.physician_id]["result"] = r.outcome.label
    return facts


@requires(*ORG_ROLES)
async def physician_list(request: Request) -> Response:
    qs, chosen, shown = await filtered(request)
    page = await paginate(request, qs)
    context: dict[str, Any] = {
        "page": page,
        "facts": await period_facts(shown, [p.id for p in page.items]),
        "chosen": chosen,
        "query": "&".join(f"{k}={quote(v)}" for k, v in chosen.items() if v),
        "statuses": RegistrationStatus,
        "procedures": Procedure,
        "outcomes": Outcome,
        "scopes": ALL_SCOPES,
    }
    return render(request, "physicians/list.html", context, block="results")


HEADERS = (
    "姓名",
    "身份证号",
    "性别",
    "所属地（州、市）",
    "执业机构",
    "执业类别",
    "执业范围",
    "职称",
    "注册状态",
    "本期考核程序",
    "本期考核结果",
)


@requires(*ORG_ROLES)
async def export(request: Request) -> Response:
    qs, _, shown = await filtered(request)
    physicians = await qs.limit(xlsx.EXPORT_LIMIT)
    facts = await period_facts(shown, [p.id for p in physicians])
    rows = [
        (
            p.name,
            p.id_number,
            p.sex.label,
            p.prefecture.name,
            p.institution.name if p.institution else "暂存区",
            p.practice_category,
            p.practice_scope,
            p.title,
            p.registration_status.label,
            facts[p.id]["procedure"],
            facts[p.id]["result"],
        )
        for p in physicians
    ]
    return await xlsx.download("考核信息", HEADERS, rows)
