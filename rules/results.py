"""A period's results: computed part by part, and published by the office.

A physician is 合格 only when every part passes: the test (general procedure: the submitted
score reaches the pass mark, not voided, no proctor review pending) or both reviews of the
simplified procedure, and the assessment body's confirmed 工作成绩 and 职业道德. A part that
is not finished yet (no confirmed evaluation, a review pending) counts as not passed and is
reported as incomplete, so the office sees what is missing before it publishes.

Results can be recomputed until they are published. Publishing recomputes from the latest
data, then stamps the period (one publication wins), writes its audit row and a mail to every
physician in one transaction.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core import mail
from core.errors import Conflict, DomainError, Forbidden
from core.mail import Mailer
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
from models.period import Enrollment, Evaluation, Period, Result
from models.physician import Physician
from rules import audit
from rules.actor import Actor
from rules.evaluations import VETO_LABELS
from rules.periods import window
from rules.transition import Effects, transition

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


async def judge(period: Period) -> list[Result]:
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


async def compute(actor: Actor, period: Period) -> Summary:
    """Replace the period's results with freshly computed ones (refused once published)."""
    if actor.role != Role.OFFICE:
        raise Forbidden()
    if period.results_published_at is not None:
        raise DomainError("该周期考核结果已发布，不能重新计算")
    results = await judge(period)
    summary = summarise(results)
    try:
        async with in_transaction():
            if await Period.filter(id=period.id, results_published_at__isnull=False).exists():
                raise Conflict("该周期考核结果刚刚已发布，不能重新计算")
            await Result.filter(period_id=period.id).delete()
            await Result.bulk_create(results, batch_size=500)
            await audit.record(actor, "results_computed", obj=period, **asdict(summary))
    except (IntegrityError, OperationalError):  # another computation of the period at once
        raise Conflict("另一位用户正在计算该周期的结果，请稍后刷新查看") from None
    return summary


async def publish(
    actor: Actor,
    period: Period,
    accept_incomplete: bool,
    *,
    mailer: Mailer,
    now: datetime | None = None,
) -> Summary:
    """Recompute, then publish: the period's publication time, its audit row and a mail to
    every physician with a result commit together. ``period.windows`` fetched."""
    test = window(period, Phase.TEST)
    if test is not None and (now or datetime.now(UTC)) < test.ends_at:
        raise DomainError("业务水平测评尚未结束，不能发布考核结果")
    summary = await compute(actor, period)
    if summary.total == 0:
        raise DomainError("该周期没有报名的医师，无结果可发布")
    if summary.incomplete and not accept_incomplete:
        raise DomainError(
            f"仍有 {summary.incomplete} 名医师的考核未完成（按不合格计），"
            "请确认后勾选“未完成项按不合格发布”再发布",
            field="accept_incomplete",
        )

    async def mail_everyone(published: Period) -> Effects:
        # Tens of thousands of letters: written in batches, in this transaction.
        rows = await Result.filter(period_id=published.id).values(
            "outcome", "physician__name", "physician__email"
        )
        await mail.enqueue_many(
            mailer.env,
            "result_published",
            (
                (
                    r["physician__email"],
                    {"name": r["physician__name"], "outcome": Outcome(r["outcome"])},
                )
                for r in rows
            ),
            period=published.name,
            site=mailer.site,
        )
        return Effects()

    await transition(
        actor,
        period,
        action="results_published",
        state_field=None,
        from_states=["computed"],
        to_state="published",
        where={"results_published_at__isnull": True},  # one publication wins
        values={"results_published_at": now or datetime.now(UTC)},
        then=mail_everyone,
        detail=asdict(summary),
    )
    await mailer.wake()  # the letters are committed
    return summary


def filtered(
    period: Period, *, q: str = "", outcome: str = "", procedure: str = "", prefecture: str = ""
) -> QuerySet[Result]:
    """The period's results, searched by name or ID number and filtered (unknown values of a
    filter are ignored), with their physicians and institutions."""
    qs = Result.filter(period_id=period.id)
    if q:
        qs = qs.filter(
            Q(physician__name__icontains=q) | Q(physician__id_number__icontains=q.upper())
        )
    if outcome in Outcome._value2member_map_:
        qs = qs.filter(outcome=outcome)
    if procedure in Procedure._value2member_map_:
        qs = qs.filter(procedure=procedure)
    if (prefecture_id := as_int(prefecture)) is not None:
        qs = qs.filter(physician__prefecture_id=prefecture_id)
    return qs.select_related("physician", "physician__institution").order_by("physician_id")


async def last_summary(period: Period) -> AuditLog | None:
    """The latest computation or publication of the period, as audited (its figures)."""
    return (
        await AuditLog.filter(
            object_type="period",
            object_id=period.id,
            action__in=["results_computed", "results_published"],
        )
        .order_by("-id")
        .first()
    )
