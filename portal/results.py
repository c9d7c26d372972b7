"""【考核结果】: the office computes a period's results and publishes them.

A physician is 合格 only when every part passes: the test (general procedure: the submitted
score reaches the pass mark, not voided, no proctor review pending) or both reviews of the
simplified procedure, and the assessment body's confirmed 工作成绩 and 职业道德. A part that
is not finished yet (no confirmed evaluation, a review pending) counts as not passed and is
reported as incomplete, so the office sees what is missing before it publishes.

Results can be recomputed until they are published. Publishing recomputes from the latest
data, stamps the period (one publication wins) and mails every physician.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.expressions import Q, Subquery
from tortoise.transactions import in_transaction

from core import mail
from core.errors import Conflict, DomainError, NotFound
from core.numbers import as_int
from models.enums import (
    AttemptStatus,
    EnrollmentStatus,
    EvaluationStatus,
    Outcome,
    Phase,
    Procedure,
    Rating,
    Role,
)
from models.exam import Attempt
from models.ops import AuditLog
from models.org import Account, Prefecture
from models.period import Enrollment, Evaluation, Period, Result
from models.physician import Physician
from portal.evaluations import VETO_LABELS
from portal.exports import audited_export
from rules import audit
from rules.jurisdiction import Jurisdiction
from rules.periods import window
from web import xlsx
from web.endpoint import client_ip, redirect, render, requires, user
from web.pagination import paginate
from web.sessions import get_session

TEST, SIMPLIFIED, WORK, ETHICS = "业务水平测评", "简易程序审核", "工作成绩", "职业道德"


@dataclass(frozen=True)
class Part:
    """One part of a result: passed (True/False) or not finished yet (None), and why."""

    passed: bool | None
    text: str


@dataclass(frozen=True)
class Summary:
    total: int
    qualified: int
    unqualified: int
    incomplete: int
    failed_parts: dict[str, int]
    missing_parts: dict[str, int]


def test_part(attempt: dict[str, Any] | None, pass_mark: int) -> tuple[Part, int | None]:
    if attempt is None:
        return Part(False, "未参加"), None
    status = AttemptStatus(attempt["status"])
    score = attempt["score"]
    if status == AttemptStatus.VOIDED or attempt["review_decision"] == "void":
        return Part(False, "测评已作废"), None
    if status == AttemptStatus.ENDED:
        if attempt["flagged"] and not attempt["review_decision"]:
            return Part(None, "测评被监考终止，待异常复核"), None
        return Part(False, "测评被监考终止"), None
    if status != AttemptStatus.SUBMITTED or score is None:
        return Part(None, "测评未完成交卷"), None
    if attempt["flagged"] and not attempt["review_decision"]:
        return Part(None, f"{score} 分，待监考复核"), score
    mark = attempt["paper__pass_mark"] or pass_mark
    return Part(score >= mark, f"{score} 分（合格线 {mark} 分）"), score


def simplified_part(status: EnrollmentStatus) -> Part:
    if status == EnrollmentStatus.ASSESSOR_APPROVED:
        return Part(True, "执业机构审核、考核机构复核均通过")
    if status in (EnrollmentStatus.INSTITUTION_REJECTED, EnrollmentStatus.ASSESSOR_REJECTED):
        return Part(False, f"{status.label}，且未参加一般程序")
    return Part(None, "审核未完成")


def rating_parts(evaluation: dict[str, Any] | None) -> tuple[Part, Part]:
    status = EvaluationStatus(evaluation["status"]) if evaluation else EvaluationStatus.DRAFT
    if evaluation is None or status != EvaluationStatus.ASSESSOR_CONFIRMED:
        text = "执业机构未评定" if status == EvaluationStatus.DRAFT else "考核机构未复核"
        return Part(None, text), Part(None, text)
    work = Rating(evaluation["assessor_work_performance"])
    ethics = Rating(evaluation["assessor_ethics"])
    # The reasons of a 不合格 go with it: the veto items and the reviewers' written grounds
    # (the assessment body's when it amended the rating, else the institution's).
    comment = evaluation["assessor_comment"] or evaluation["institution_comment"]
    grounds = f"考核意见：{comment}" if comment else ""
    vetoes = "；".join(VETO_LABELS.get(v, v) for v in evaluation["ethics_vetoes"] or [])

    def shown(rating: Rating, *why: str) -> str:
        reasons = "；".join(w for w in why if w)
        return f"{rating.label}（{reasons}）" if rating == Rating.FAIL and reasons else rating.label

    return (
        Part(work == Rating.PASS, shown(work, grounds)),
        Part(ethics == Rating.PASS, shown(ethics, f"否决项：{vetoes}" if vetoes else "", grounds)),
    )


async def _rows(period: Period) -> list[Result]:
    """Each practising physician enrolled in the period, judged part by part."""
    practising = Subquery(Physician.filter(institution_id__isnull=False).values("id"))
    enrollments = await Enrollment.filter(
        period_id=period.id, is_active=True, physician_id__in=practising
    ).values("physician_id", "procedure", "status")
    evaluations = {
        row["physician_id"]: row
        for row in await Evaluation.filter(period_id=period.id).values(
            "physician_id",
            "status",
            "assessor_work_performance",
            "assessor_ethics",
            "ethics_vetoes",
            "institution_comment",
            "assessor_comment",
        )
    }
    attempts: dict[int, dict[str, Any]] = {}
    for row in (
        await Attempt.filter(paper__period_id=period.id)
        .order_by("id")
        .values(
            "paper__physician_id",
            "paper__pass_mark",
            "status",
            "score",
            "flagged",
            "review_decision",
        )
    ):
        attempts[row["paper__physician_id"]] = row  # the latest attempt decides
    results = []
    for enrollment in enrollments:
        physician_id = enrollment["physician_id"]
        procedure = Procedure(enrollment["procedure"])
        score = None
        if procedure == Procedure.GENERAL:
            name = TEST
            first, score = test_part(attempts.get(physician_id), period.pass_mark)
        else:
            name = SIMPLIFIED
            first = simplified_part(EnrollmentStatus(enrollment["status"]))
        work, ethics = rating_parts(evaluations.get(physician_id))
        parts = {name: first, WORK: work, ETHICS: ethics}
        qualified = all(p.passed is True for p in parts.values())
        results.append(
            Result(
                period_id=period.id,
                physician_id=physician_id,
                procedure=procedure,
                outcome=Outcome.QUALIFIED if qualified else Outcome.UNQUALIFIED,
                test_score=score,
                parts={k: asdict(v) for k, v in parts.items()},
            )
        )
    return results


def summarise(results: list[Result]) -> Summary:
    failed: Counter[str] = Counter()
    missing: Counter[str] = Counter()
    incomplete = 0
    for r in results:
        gaps = [k for k, p in r.parts.items() if p["passed"] is None]
        missing.update(gaps)
        failed.update(k for k, p in r.parts.items() if p["passed"] is False)
        incomplete += bool(gaps)
    qualified = sum(r.outcome == Outcome.QUALIFIED for r in results)
    return Summary(
        total=len(results),
        qualified=qualified,
        unqualified=len(results) - qualified,
        incomplete=incomplete,
        failed_parts=dict(failed),
        missing_parts=dict(missing),
    )


async def compute(request: Request, period: Period) -> Summary:
    """Replace the period's results with freshly computed ones (refused once published)."""
    if period.results_published_at is not None:
        raise DomainError("该周期考核结果已发布，不能重新计算")
    results = await _rows(period)
    try:
        async with in_transaction():
            if await Period.filter(id=period.id, results_published_at__isnull=False).exists():
                raise Conflict("该周期考核结果刚刚已发布，不能重新计算")
            await Result.filter(period_id=period.id).delete()
            await Result.bulk_create(results, batch_size=500)
    except (IntegrityError, OperationalError):  # another computation of the period at once
        raise Conflict("另一位用户正在计算该周期的结果，请稍后刷新查看") from None
    summary = summarise(results)
    await audit.record(
        await Account.get(id=user(request).account_id),
        "results_computed",
        obj=period,
        ip=client_ip(request),
        **asdict(summary),
    )
    return summary


async def publish(request: Request, period: Period, accept_incomplete: bool) -> Summary:
    test = window(period, Phase.TEST)
    if test is not None and datetime.now(UTC) < test.ends_at:
        raise DomainError("业务水平测评尚未结束，不能发布考核结果")
    summary = await compute(request, period)
    if summary.total == 0:
        raise DomainError("该周期没有报名的医师，无结果可发布")
    if summary.incomplete and not accept_incomplete:
        raise DomainError(
            f"仍有 {summary.incomplete} 名医师的考核未完成（按不合格计），"
            "请确认后勾选“未完成项按不合格发布”再发布",
            field="accept_incomplete",
        )
    now = datetime.now(UTC)
    if not await Period.filter(id=period.id, results_published_at__isnull=True).update(
        results_published_at=now
    ):
        raise Conflict("该周期考核结果已由他人发布")
    await audit.record(
        await Account.get(id=user(request).account_id),
        "results_published",
        obj=period,
        from_state="computed",
        to_state="published",
        ip=client_ip(request),
        **asdict(summary),
    )
    rows = await Result.filter(period_id=period.id).values(
        "outcome", "physician__name", "physician__email"
    )
    state = request.app.state
    await mail.enqueue_many(
        state.templates.env,
        "result_published",
        (
            (
                r["physician__email"],
                {"name": r["physician__name"], "outcome": Outcome(r["outcome"])},
            )
            for r in rows
        ),
        redis=state.redis,
        period=period.name,
        site=state.settings.public_url,
    )
    return summary


# --- pages ---------------------------------------------------------------------------


async def _period(request: Request) -> Period | None:
    """The period asked for (404 when unknown), else the current one, else None."""
    raw = request.query_params.get("period", "")
    qs = Period.filter(rehearsal=False).prefetch_related("windows")
    found = await (
        qs.get_or_none(id=number)
        if (number := as_int(raw)) is not None
        else qs.filter(is_current=True).first()
    )
    if found is None and raw:
        raise NotFound()
    return found


def _filtered(period: Period, chosen: dict[str, str]) -> Any:
    qs = Result.filter(period_id=period.id)
    if chosen["q"]:
        q = chosen["q"]
        qs = qs.filter(
            Q(physician__name__icontains=q) | Q(physician__id_number__icontains=q.upper())
        )
    if chosen["outcome"] in Outcome._value2member_map_:
        qs = qs.filter(outcome=chosen["outcome"])
    if chosen["procedure"] in Procedure._value2member_map_:
        qs = qs.filter(procedure=chosen["procedure"])
    if (prefecture := as_int(chosen["prefecture"])) is not None:
        qs = qs.filter(physician__prefecture_id=prefecture)
    return qs.select_related("physician", "physician__institution").order_by("physician_id")


def _chosen(request: Request) -> dict[str, str]:
    params = request.query_params
    return {k: params.get(k, "").strip()[:50] for k in ("q", "outcome", "procedure", "prefecture")}


async def _last_summary(period: Period) -> AuditLog | None:
    return (
        await AuditLog.filter(
            object_type="period",
            object_id=period.id,
            action__in=["results_computed", "results_published"],
        )
        .order_by("-id")
        .first()
    )


@requires(Role.OFFICE)
async def results_page(request: Request) -> Response:
    period = await _period(request)
    if period is None:
        return render(request, "office/results.html", {"period": None})
    chosen = _chosen(request)
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        action = form.get("action")
        session = get_session(request)
        try:
            if action == "compute":
                summary = await compute(request, period)
                session.flash(
                    f"已计算 {summary.total} 名医师的结果：合格 {summary.qualified}，"
                    f"不合格 {summary.unqualified}（其中未完成 {summary.incomplete}）。"
                )
            elif action == "publish":
                summary = await publish(request, period, form.get("accept_incomplete") == "yes")
                session.flash(f"{period.name}考核结果已发布，已邮件通知 {summary.total} 名医师。")
            else:
                raise DomainError("请选择操作")
        except DomainError as exc:
            errors[exc.field or "form"] = exc.message
        else:
            return redirect(request, f"/office/results?period={period.id}")
        await period.refresh_from_db()
    page = await paginate(request, _filtered(period, chosen))
    context = {
        "period": period,
        "periods": await Period.filter(rehearsal=False).order_by("-id"),
        "prefectures": await Prefecture.all(),
        "page": page,
        "chosen": chosen,
        "query": "&".join(
            f"{k}={quote(v)}" for k, v in {"period": str(period.id), **chosen}.items() if v
        ),
        "outcomes": Outcome,
        "procedures": Procedure,
        "last": await _last_summary(period),
        "errors": errors,
    }
    status = 400 if errors else 200
    return render(request, "office/results.html", context, status_code=status, block="results")


HEADERS = (
    "姓名",
    "身份证号",
    "所属地（州、市）",
    "执业机构",
    "考核程序",
    "测评成绩",
    "工作成绩",
    "职业道德",
    "考核结果",
    "说明",
)


@requires(Role.OFFICE)
async def results_export(request: Request) -> Response:
    period = await _period(request)
    if period is None:
        raise NotFound()
    chosen = _chosen(request)
    results = (
        await _filtered(period, chosen)
        .select_related("physician__prefecture")
        .limit(xlsx.EXPORT_LIMIT)
    )
    rows = []
    for r in results:
        parts = r.parts
        first = parts.get(TEST) or parts.get(SIMPLIFIED) or {}
        rows.append(
            (
                r.physician.name,
                Jurisdiction.of(user(request)).id_number(r.physician),
                r.physician.prefecture.name,
                r.physician.institution.name if r.physician.institution else "暂存区",
                r.procedure.label,
                r.test_score if r.test_score is not None else "",
                parts.get(WORK, {}).get("text", ""),
                parts.get(ETHICS, {}).get("text", ""),
                r.outcome.label,
                "；".join(f"{k}：{p['text']}" for k, p in parts.items() if p["passed"] is not True)
                or first.get("text", ""),
            )
        )
    filters = {"period": str(period.id), **chosen}
    return await audited_export(request, f"考核结果_{period.name}", HEADERS, rows, filters)


routes = [
    Route("/office/results", results_page, methods=["GET", "POST"]),
    Route("/office/results/export.xlsx", results_export),
]
