"""【医师考核】: the pages of the 医师定期考核表, rated by the institution, confirmed by the
assessor. The rules (the veto items, the window, who may rate or review what, one decision
wins) are ``rules.evaluations``; this module parses, authorises and renders.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.errors import DomainError, NotFound
from core.numbers import as_ints
from models.enums import EvaluationStatus, OrgStatus, Rating, Role
from models.exam import Attempt
from models.period import Enrollment, Evaluation, Period
from models.physician import Physician
from portal.account import requires_info
from portal.acting import actor
from rules import evaluations as rules
from rules.enrollment import active_enrollment
from rules.periods import current_period
from rules.training import class_hours
from web.endpoint import own_prefix, redirect, render, requires
from web.pagination import paginate
from web.sessions import get_session


@requires(Role.INSTITUTION, Role.ASSESSOR)
@requires_info
async def evaluation_list(request: Request) -> Response:
    reviewer = own_prefix(request)
    period = await current_period()
    params = request.query_params
    default = "todo" if reviewer.role == Role.INSTITUTION else "rated"
    state = params.get("state", default)
    chosen = {
        "q": params.get("q", "").strip()[:50],
        "state": state if state in rules.FILTERS or state == "" else default,
        "institution": params.get("institution", "").strip()[:10],
    }
    context: dict[str, Any] = {"period": period, "chosen": chosen, "filters": rules.FILTERS}
    if period is not None:
        page = await paginate(request, rules.listed(actor(request), period, **chosen))
        ids = [p.id for p in page.items]
        context["page"] = page
        context["evaluations"] = {
            e.physician_id: e
            for e in await Evaluation.filter(period_id=period.id, physician_id__in=ids)
        }
        context["enrollments"] = {
            e.physician_id: e
            for e in await Enrollment.filter(
                period_id=period.id, is_active=True, physician_id__in=ids
            )
        }
        context["open"] = rules.evaluation_open(period)
        context["window_text"] = rules.window_words(period)
        context["query"] = "&".join(f"{k}={quote(v)}" for k, v in chosen.items() if v)
        if reviewer.role == Role.ASSESSOR:
            context["institutions"] = (
                await actor(request)
                .jurisdiction.institutions()
                .filter(status__in=(OrgStatus.ACTIVE, OrgStatus.PENDING_DELETE))
                .order_by("name")
            )
    return render(request, "review/evaluations.html", context, block="results")


async def _sheet_context(period: Period, physician: Physician) -> dict[str, Any]:
    attempt = (
        await Attempt.filter(paper__period_id=period.id, paper__physician_id=physician.id)
        .order_by("-id")
        .first()
    )
    return {
        "period": period,
        "physician": physician,
        "enrollment": await active_enrollment(physician.id, period.id),
        "evaluation": await Evaluation.get_or_none(period_id=period.id, physician_id=physician.id),
        "hours": await class_hours(physician.id, period.id),
        "attempt": attempt,
        "vetoes": rules.ETHICS_VETOES,
        "veto_labels": rules.VETO_LABELS,
        "ratings": Rating,
        "open": rules.evaluation_open(period),
        "S": EvaluationStatus,
    }


@requires(Role.INSTITUTION, Role.ASSESSOR)
@requires_info
async def evaluation_sheet(request: Request) -> Response:
    """GET the 医师定期考核表, POST the institution's rating or the assessor's review."""
    reviewer = own_prefix(request)
    period = await current_period()
    if period is None:
        raise NotFound()
    who = actor(request)
    physician = await rules.evaluable(who, period, request.path_params["physician_id"])
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    if request.method == "POST":
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        vetoes = [str(v) for v in form.getlist("vetoes")]
        values = {**fields, "vetoes": vetoes}
        try:
            await rules.require_open_period()
            if reviewer.role == Role.INSTITUTION:
                rated, errors = rules.rating_of(fields, vetoes)
                if rated is not None:
                    await rules.rate(who, period, physician, rated)
                    get_session(request).flash(f"已保存{physician.name}的考核评定。")
                    return redirect(request, "/institution/evaluations")
            else:
                amended = None
                if form.get("decision") == "amend":
                    amended, errors = rules.rating_of(
                        fields, vetoes, comment_field="assessor_comment"
                    )
                elif form.get("decision") != "confirm":
                    errors["decision"] = "请选择复核结果"
                if not errors:
                    seen = fields.get("seen", "")
                    await rules.review(who, period, physician, seen, amended)
                    get_session(request).flash(f"已完成{physician.name}的考核复核。")
                    return redirect(request, "/assessor/evaluations")
        except DomainError as exc:
            errors[exc.field or "form"] = exc.message
    context = await _sheet_context(period, physician)
    context.update(errors=errors, values=values)
    return render(
        request, "review/evaluation_sheet.html", context, status_code=400 if errors else 200
    )


@requires(Role.INSTITUTION, Role.ASSESSOR)
@requires_info
async def evaluation_bulk(request: Request) -> Response:
    """批量: the institution rates the ticked physicians 合格/合格, the assessor confirms them."""
    reviewer = own_prefix(request)
    back = f"/{reviewer.role.value}/evaluations"
    form = await request.form()
    ids = as_ints(form.getlist("physician"))
    session = get_session(request)
    if not ids:
        session.flash("请先勾选医师", "error")
        return redirect(request, back)
    try:
        period = await rules.require_open_period()
    except DomainError as exc:
        session.flash(exc.message, "error")
        return redirect(request, back)
    done, skipped = await rules.decide_many(actor(request), period, ids)
    verb = "评定为合格" if reviewer.role == Role.INSTITUTION else "确认复核"
    message = f"已将 {done} 名医师{verb}。"
    if skipped:
        message += f"{skipped} 名医师未处理（已复核或尚未评定），请逐个查看。"
    session.flash(message, "warning" if skipped else "success")
    return redirect(request, back)


routes = [
    Route("/institution/evaluations", evaluation_list),
    Route("/assessor/evaluations", evaluation_list),
    Route("/institution/evaluations/{physician_id:int}", evaluation_sheet, methods=["GET", "POST"]),
    Route("/assessor/evaluations/{physician_id:int}", evaluation_sheet, methods=["GET", "POST"]),
    Route("/institution/evaluations/bulk", evaluation_bulk, methods=["POST"]),
    Route("/assessor/evaluations/bulk", evaluation_bulk, methods=["POST"]),
]
