"""【医师考核】: the 医师定期考核表, rated by the institution, confirmed by the assessor.

The institution rates 工作成绩 and 职业道德 (合格/不合格) of each physician enrolled in the
current period, inside the evaluation window. Ticking any ethics veto item forces 职业道德
不合格. The institution may revise its rating until the assessment body has reviewed it; the
assessment body confirms the rating or amends it with a comment. One decision wins, every
decision is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from core.errors import Conflict, DomainError, NotFound
from core.numbers import as_int, as_ints
from core.study import class_hours
from models.enums import EvaluationStatus, OrgStatus, Phase, Rating, Role
from models.exam import Attempt
from models.org import Account
from models.period import Enrollment, Evaluation, Period
from models.physician import Physician
from portal.account import requires_info
from rules import audit
from rules.enrollment import REJECTED, active_enrollment
from rules.jurisdiction import Jurisdiction
from rules.periods import current_period, window, window_text
from web.endpoint import CurrentUser, client_ip, own_prefix, redirect, render, requires
from web.pagination import paginate
from web.sessions import get_session

# 一票否决: any of these in the period makes 职业道德 不合格 (医师定期考核管理办法).
ETHICS_VETOES: tuple[tuple[str, str], ...] = (
    ("accident", "在发生的医疗事故中负有完全或主要责任的"),
    (
        "kickback",
        "索要或收受药品、医疗器械等生产经营企业或其人员给予的回扣、提成或其他不正当利益的",
    ),
    ("referral", "通过介绍患者到其他单位检查、治疗或购买药品、医疗器械等收取回扣或提成的"),
    ("red_envelope", "在诊疗活动中索要、收受患者及其亲友财物（“红包”）或牟取其他不正当利益的"),
    ("false_certificate", "出具虚假医学证明文件，或未经亲自诊查签署诊断、出生、死亡等证明文件的"),
    ("falsified_records", "隐匿、伪造、篡改或擅自销毁病历等医学文书及有关资料的"),
    ("unauthorised_practice", "未经批准擅自在注册地点以外执业，或超出注册的执业类别执业的"),
    ("impersonation", "代他人参加医师资格考试或医师定期考核的"),
)
VETO_LABELS = dict(ETHICS_VETOES)
EDITABLE = (EvaluationStatus.DRAFT, EvaluationStatus.INSTITUTION_RATED)


@dataclass(frozen=True)
class Rated:
    """What a rating form says, checked: the veto items force 职业道德 不合格."""

    work_performance: Rating
    ethics: Rating
    vetoes: list[str]
    comment: str


def rating_of(
    form: FormData, *, comment_field: str = "comment"
) -> tuple[Rated | None, dict[str, str]]:
    errors: dict[str, str] = {}
    work = str(form.get("work_performance", ""))
    ethics = str(form.get("ethics", ""))
    vetoes = [str(v) for v in form.getlist("vetoes")]
    comment = str(form.get(comment_field, "")).strip()
    if work not in Rating._value2member_map_:
        errors["work_performance"] = "请评定工作成绩"
    if any(v not in VETO_LABELS for v in vetoes):
        errors["vetoes"] = "否决项不在规定范围内"
    if vetoes:
        ethics = Rating.FAIL.value  # a veto item decides, whatever was chosen
    elif ethics not in Rating._value2member_map_:
        errors["ethics"] = "请评定职业道德"
    if len(comment) > 1000:
        errors[comment_field] = "意见不超过 1000 字"
    if errors:
        return None, errors
    rated = Rated(Rating(work), Rating(ethics), sorted(set(vetoes)), comment)
    if Rating.FAIL in (rated.work_performance, rated.ethics) and not comment:
        return None, {comment_field: "评定为不合格时，请填写考核意见（事实与依据）"}
    return rated, {}


def evaluation_open(period: Period) -> bool:
    found = window(period, Phase.EVALUATION)
    return bool(found and found.is_open(datetime.now(UTC)))


async def require_open_period() -> Period:
    period = await current_period()
    if period is None:
        raise DomainError("当前没有进行中的考核周期")
    if not evaluation_open(period):
        found = window(period, Phase.EVALUATION)
        when = window_text(found) if found else "未设置"
        raise DomainError(f"不在工作成绩和职业道德评定时间内（{when}）")
    return period


def enrolled(period_id: int) -> Any:
    """Ids of the physicians with an enrollment of the period that still stands."""
    return Subquery(
        Enrollment.filter(period_id=period_id, is_active=True)
        .exclude(status__in=REJECTED)
        .values("physician_id")
    )


async def evaluable(reviewer: CurrentUser, period: Period, physician_id: int) -> Physician:
    """A physician of the reviewer's jurisdiction enrolled in the period, else 404."""
    found = (
        await Jurisdiction.of(reviewer)
        .physicians()
        .filter(id=physician_id, id__in=enrolled(period.id))
        .select_related("institution")
        .first()
    )
    if found is None:
        raise NotFound()
    return found


async def _evaluation_row(period: Period, physician: Physician) -> Evaluation:
    try:
        found, _ = await Evaluation.get_or_create(period_id=period.id, physician_id=physician.id)
    except IntegrityError:  # created by a concurrent request in between
        found = await Evaluation.get(period_id=period.id, physician_id=physician.id)
    return found


async def rate(
    request: Request, rater: CurrentUser, period: Period, physician: Physician, rated: Rated
) -> Evaluation:
    """The institution's rating. It may be revised until the assessment body has reviewed it."""
    evaluation = await _evaluation_row(period, physician)
    before = evaluation.status
    changed = await Evaluation.filter(id=evaluation.id, status__in=EDITABLE).update(
        status=EvaluationStatus.INSTITUTION_RATED,
        work_performance=rated.work_performance,
        ethics=rated.ethics,
        ethics_vetoes=rated.vetoes,
        institution_comment=rated.comment,
        rated_by_id=rater.account_id,
        rated_at=datetime.now(UTC),
    )
    if not changed:
        raise Conflict("考核机构已完成复核，评定结果不能再修改")
    await audit.record(
        await Account.get(id=rater.account_id),
        "evaluation_rated",
        obj=evaluation,
        from_state=before.value,
        to_state=EvaluationStatus.INSTITUTION_RATED.value,
        reason=rated.comment,
        ip=client_ip(request),
        physician=physician.id,
        work_performance=rated.work_performance.value,
        ethics=rated.ethics.value,
        vetoes=rated.vetoes,
    )
    return await Evaluation.get(id=evaluation.id)


async def review(
    request: Request,
    reviewer: CurrentUser,
    period: Period,
    physician: Physician,
    seen: str,
    amended: Rated | None,
) -> Evaluation:
    """The assessment body confirms (``amended`` None) or amends the rating it has seen.

    ``seen`` is the rating time shown on the reviewer's form: a rating revised since then is
    not confirmed blindly. One review wins.
    """
    evaluation = await Evaluation.get_or_none(period_id=period.id, physician_id=physician.id)
    if evaluation is None or evaluation.status == EvaluationStatus.DRAFT:
        raise DomainError("执业机构尚未评定，暂不能复核")
    if evaluation.status == EvaluationStatus.ASSESSOR_CONFIRMED:
        raise Conflict("该考核表已复核，请刷新页面查看最新结果")
    if evaluation.rated_at is None or evaluation.rated_at.isoformat() != seen:
        raise Conflict("执业机构已修改评定结果，请查看最新评定后重新复核")
    if amended is None:
        work, ethics = evaluation.work_performance, evaluation.ethics
        vetoes, comment = evaluation.ethics_vetoes, ""
    else:
        work, ethics = amended.work_performance, amended.ethics
        vetoes, comment = amended.vetoes, amended.comment
    if amended is not None and not comment:
        raise DomainError("修改评定结果时，请填写复核意见", field="assessor_comment")
    changed = await Evaluation.filter(
        id=evaluation.id,
        status=EvaluationStatus.INSTITUTION_RATED,
        rated_at=evaluation.rated_at,
    ).update(
        status=EvaluationStatus.ASSESSOR_CONFIRMED,
        assessor_work_performance=work,
        assessor_ethics=ethics,
        ethics_vetoes=vetoes,
        assessor_comment=comment,
        confirmed_by_id=reviewer.account_id,
        confirmed_at=datetime.now(UTC),
    )
    if not changed:
        raise Conflict("该考核表已被复核或执业机构刚刚修改了评定，请刷新页面后重试")
    await audit.record(
        await Account.get(id=reviewer.account_id),
        "evaluation_confirmed" if amended is None else "evaluation_amended",
        obj=evaluation,
        from_state=EvaluationStatus.INSTITUTION_RATED.value,
        to_state=EvaluationStatus.ASSESSOR_CONFIRMED.value,
        reason=comment,
        ip=client_ip(request),
        physician=physician.id,
        institution_ratings=[evaluation.work_performance, evaluation.ethics],
        institution_vetoes=evaluation.ethics_vetoes,
        work_performance=work,
        ethics=ethics,
        vetoes=vetoes,
    )
    return await Evaluation.get(id=evaluation.id)


# --- pages ---------------------------------------------------------------------------

FILTERS = {
    "todo": "待评定",
    "rated": "执业机构已评定（待复核）",
    "confirmed": "考核机构已复核",
    "fail": "评定不合格",
}


def _listed(reviewer: CurrentUser, period: Period, chosen: dict[str, str]) -> QuerySet[Physician]:
    qs = Jurisdiction.of(reviewer).physicians().filter(id__in=enrolled(period.id))
    if chosen["q"]:
        q = chosen["q"]
        qs = qs.filter(Q(name__icontains=q) | Q(id_number__icontains=q.upper()))
    if (institution := as_int(chosen["institution"])) is not None:
        qs = qs.filter(institution_id=institution)
    of_period = Evaluation.filter(period_id=period.id)
    match chosen["state"]:
        case "todo":
            qs = qs.exclude(
                id__in=Subquery(
                    of_period.exclude(status=EvaluationStatus.DRAFT).values("physician_id")
                )
            )
        case "rated":
            qs = qs.filter(
                id__in=Subquery(
                    of_period.filter(status=EvaluationStatus.INSTITUTION_RATED).values(
                        "physician_id"
                    )
                )
            )
        case "confirmed":
            qs = qs.filter(
                id__in=Subquery(
                    of_period.filter(status=EvaluationStatus.ASSESSOR_CONFIRMED).values(
                        "physician_id"
                    )
                )
            )
        case "fail":
            failed = of_period.filter(
                Q(work_performance=Rating.FAIL)
                | Q(ethics=Rating.FAIL)
                | Q(assessor_work_performance=Rating.FAIL)
                | Q(assessor_ethics=Rating.FAIL)
            )
            qs = qs.filter(id__in=Subquery(failed.values("physician_id")))
    return qs.select_related("institution").order_by("institution_id", "id")


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
        "state": state if state in FILTERS or state == "" else default,
        "institution": params.get("institution", "").strip()[:10],
    }
    context: dict[str, Any] = {"period": period, "chosen": chosen, "filters": FILTERS}
    if period is not None:
        page = await paginate(request, _listed(reviewer, period, chosen))
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
        context["open"] = evaluation_open(period)
        found = window(period, Phase.EVALUATION)
        context["window_text"] = window_text(found) if found else "未设置"
        context["query"] = "&".join(f"{k}={quote(v)}" for k, v in chosen.items() if v)
        if reviewer.role == Role.ASSESSOR:
            context["institutions"] = (
                await Jurisdiction.of(reviewer)
                .institutions()
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
        "vetoes": ETHICS_VETOES,
        "veto_labels": VETO_LABELS,
        "ratings": Rating,
        "open": evaluation_open(period),
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
    physician = await evaluable(reviewer, period, request.path_params["physician_id"])
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    if request.method == "POST":
        form = await request.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        values["vetoes"] = form.getlist("vetoes")
        try:
            await require_open_period()
            if reviewer.role == Role.INSTITUTION:
                rated, errors = rating_of(form)
                if rated is not None:
                    await rate(request, reviewer, period, physician, rated)
                    get_session(request).flash(f"已保存{physician.name}的考核评定。")
                    return redirect(request, "/institution/evaluations")
            else:
                amended = None
                if form.get("decision") == "amend":
                    amended, errors = rating_of(form, comment_field="assessor_comment")
                elif form.get("decision") != "confirm":
                    errors["decision"] = "请选择复核结果"
                if not errors:
                    await review(
                        request, reviewer, period, physician, str(form.get("seen", "")), amended
                    )
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
        period = await require_open_period()
    except DomainError as exc:
        session.flash(exc.message, "error")
        return redirect(request, back)
    done, skipped = 0, 0
    for physician_id in ids:
        physician = await evaluable(reviewer, period, physician_id)
        try:
            if reviewer.role == Role.INSTITUTION:
                await rate(
                    request, reviewer, period, physician, Rated(Rating.PASS, Rating.PASS, [], "")
                )
            else:
                current = await Evaluation.get_or_none(
                    period_id=period.id, physician_id=physician.id
                )
                seen = current.rated_at.isoformat() if current and current.rated_at else ""
                await review(request, reviewer, period, physician, seen, None)
        except DomainError:
            skipped += 1
        else:
            done += 1
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
