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

from models.enums import (
    AttemptStatus,
    EvaluationStatus,
    Outcome,
    Procedure,
    RegistrationStatus,
    Role,
)
from models.exam import Attempt
from models.period import Enrollment, Evaluation, Period, Result
from models.physician import Physician
from models.practice import PRACTICE_SCOPES, valid_scope
from portal.exports import audited_export
from rules.jurisdiction import Jurisdiction
from rules.periods import current_period
from rules.training import class_hours_of
from web import xlsx
from web.endpoint import ORG_ROLES, render, requires, user
from web.pagination import paginate

ALL_SCOPES = sorted({s for scopes in PRACTICE_SCOPES.values() for s in scopes})


@dataclass(frozen=True)
class Shown:
    """The current period, and whether its results may be shown: organisations see them
    once published, the office as soon as they are computed."""

    period_id: int | None
    results: bool


async def shown_for(request: Request) -> tuple[Period | None, Shown]:
    period = await current_period()
    shown = Shown(
        period.id if period else None,
        bool(period and (period.results_published_at or user(request).role == Role.OFFICE)),
    )
    return period, shown


async def filtered(request: Request) -> tuple[QuerySet[Physician], dict[str, str], Shown]:
    params = request.query_params
    qs = Jurisdiction.of(user(request)).physicians().select_related("institution", "prefecture")
    chosen = {
        k: params.get(k, "").strip()[:50] for k in ("q", "status", "procedure", "scope", "result")
    }
    if chosen["q"]:
        qs = qs.filter(Q(name__icontains=chosen["q"]) | Q(id_number__icontains=chosen["q"].upper()))
    if chosen["status"] in RegistrationStatus._value2member_map_:
        qs = qs.filter(registration_status=chosen["status"])
    category, _, scope = chosen["scope"].partition("/")
    if valid_scope(category, scope):
        qs = qs.filter(practice_category=category, practice_scope=scope)
    elif chosen["scope"] in ALL_SCOPES:  # a scope alone: every category that has it
        qs = qs.filter(practice_scope=chosen["scope"])
    _, shown = await shown_for(request)
    period_id = shown.period_id
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


FACTS = ("procedure", "hours", "test", "work", "ethics", "result")


async def period_facts(shown: Shown, ids: list[int]) -> dict[int, dict[str, str]]:
    """Each listed physician's current period: procedure, training hours, test, the
    evaluation's 工作成绩 and 职业道德, and the result (once it may be shown)."""
    facts = {i: dict.fromkeys(FACTS, "—") | {"procedure": "未报名"} for i in ids}
    period = await Period.get_or_none(id=shown.period_id) if shown.period_id else None
    if period is None or not ids:
        return facts
    hours = await class_hours_of(ids, period.id)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for e in await Enrollment.filter(
            period_id=period.id, is_active=True, physician_id__in=chunk
        ):
            facts[e.physician_id]["procedure"] = f"{e.procedure.label}（{e.state_label}）"
        for a in await Attempt.filter(
            paper__period_id=period.id, paper__physician_id__in=chunk
        ).values("paper__physician_id", "status", "score"):
            status = AttemptStatus(a["status"])
            scored = status == AttemptStatus.SUBMITTED and a["score"] is not None
            facts[a["paper__physician_id"]]["test"] = f"{a['score']} 分" if scored else status.label
        for ev in await Evaluation.filter(period_id=period.id, physician_id__in=chunk):
            work, ethics = evaluation_ratings(ev)
            facts[ev.physician_id] |= {"work": work, "ethics": ethics}
        if shown.results:
            for r in await Result.filter(period_id=period.id, physician_id__in=chunk):
                facts[r.physician_id]["result"] = r.outcome.label
    for i in ids:
        facts[i]["hours"] = f"{hours.get(i, 0)}/{period.required_hours} 课时"
    return facts


def evaluation_ratings(ev: Evaluation) -> tuple[str, str]:
    """工作成绩 and 职业道德 as far as the evaluation got: the assessment body's once it has
    reviewed, else the institution's, marked as waiting for the review."""
    if ev.status == EvaluationStatus.ASSESSOR_CONFIRMED:
        work, ethics, note = ev.assessor_work_performance, ev.assessor_ethics, ""
    elif ev.status == EvaluationStatus.INSTITUTION_RATED:
        work, ethics, note = ev.work_performance, ev.ethics, "（待考核机构复核）"
    else:
        return "未评定", "未评定"
    return (
        (work.label + note) if work else "未评定",
        (ethics.label + note) if ethics else "未评定",
    )


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
        "scopes": PRACTICE_SCOPES,
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
    "培训课时",
    "业务水平测评",
    "工作成绩",
    "职业道德",
    "本期考核结果",
)


@requires(*ORG_ROLES)
async def export(request: Request) -> Response:
    qs, chosen, shown = await filtered(request)
    physicians = await qs.limit(xlsx.EXPORT_LIMIT)
    facts = await period_facts(shown, [p.id for p in physicians])
    jurisdiction = Jurisdiction.of(user(request))
    rows = [
        (
            p.name,
            jurisdiction.id_number(p),
            p.sex.label,
            p.prefecture.name,
            p.institution.name if p.institution else "暂存区",
            p.practice_category,
            p.practice_scope,
            p.title,
            p.registration_status.label,
            *(facts[p.id][k] for k in FACTS),
        )
        for p in physicians
    ]
    return await audited_export(request, "考核信息", HEADERS, rows, chosen)
