"""The 医师定期考核表: the institution rates, the assessment body confirms or amends.

The institution rates 工作成绩 and 职业道德 (合格/不合格) of each physician enrolled in the
current period, inside the evaluation window. Ticking any ethics veto item forces 职业道德
不合格, and a 不合格 needs its facts written down. The institution may revise its rating until
the assessment body has reviewed it; the assessment body confirms the rating it has seen or
amends it with a comment. One decision wins, and each goes through ``transition()`` with its
audit row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.numbers import as_int
from models.enums import EvaluationStatus, Phase, Rating, Role
from models.period import Enrollment, Evaluation, Period
from models.physician import Physician
from rules import audit
from rules.actor import Actor
from rules.enrollment import REJECTED
from rules.periods import current_period, is_open, window, window_text
from rules.transition import transition

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
# A rating's written grounds (the facts of a 不合格) may run longer than a reason: the evaluation
# keeps them whole, its audit row the first ``audit.REASON_MAX`` characters.
COMMENT_MAX = 1000

FILTERS = {
    "todo": "待评定",
    "rated": "执业机构已评定（待复核）",
    "confirmed": "考核机构已复核",
    "fail": "评定不合格",
}


@dataclass(frozen=True)
class Rated:
    """What a rating form says, checked: the veto items force 职业道德 不合格."""

    work_performance: Rating
    ethics: Rating
    vetoes: list[str]
    comment: str


PASSED = Rated(Rating.PASS, Rating.PASS, [], "")  # 批量: 合格 / 合格, nothing to explain


def rating_of(
    values: Mapping[str, str], vetoes: Iterable[str], *, comment_field: str = "comment"
) -> tuple[Rated | None, dict[str, str]]:
    """The rating a form gives (``work_performance``, ``ethics``, the comment under
    ``comment_field``, the ticked ``vetoes``), or the errors by field name."""
    errors: dict[str, str] = {}
    work = values.get("work_performance", "")
    ethics = values.get("ethics", "")
    ticked = list(vetoes)
    comment = values.get(comment_field, "").strip()
    if work not in Rating._value2member_map_:
        errors["work_performance"] = "请评定工作成绩"
    if any(v not in VETO_LABELS for v in ticked):
        errors["vetoes"] = "否决项不在规定范围内"
    if ticked:
        ethics = Rating.FAIL.value  # a veto item decides, whatever was chosen
    elif ethics not in Rating._value2member_map_:
        errors["ethics"] = "请评定职业道德"
    if len(comment) > COMMENT_MAX:
        errors[comment_field] = f"意见不超过 {COMMENT_MAX} 字"
    if errors:
        return None, errors
    rated = Rated(Rating(work), Rating(ethics), sorted(set(ticked)), comment)
    if Rating.FAIL in (rated.work_performance, rated.ethics) and not comment:
        return None, {comment_field: "评定为不合格时，请填写考核意见（事实与依据）"}
    return rated, {}


def evaluation_open(period: Period, now: datetime | None = None) -> bool:
    return is_open(period, Phase.EVALUATION, now)


def window_words(period: Period) -> str:
    """The evaluation window in words, or 未设置."""
    found = window(period, Phase.EVALUATION)
    return window_text(found) if found else "未设置"


async def require_open_period(now: datetime | None = None) -> Period:
    """The current period, provided its evaluation window is open."""
    period = await current_period()
    if period is None:
        raise DomainError("当前没有进行中的考核周期")
    if not evaluation_open(period, now):
        raise DomainError(f"不在工作成绩和职业道德评定时间内（{window_words(period)}）")
    return period


def enrolled(period_id: int) -> Any:
    """Ids of the physicians with an enrollment of the period that still stands."""
    return Subquery(
        Enrollment.filter(period_id=period_id, is_active=True)
        .exclude(status__in=REJECTED)
        .values("physician_id")
    )


async def evaluable(reviewer: Actor, period: Period, physician_id: int) -> Physician:
    """A physician of the reviewer's jurisdiction enrolled in the period, else 404."""
    found = (
        await reviewer.jurisdiction.physicians()
        .filter(id=physician_id, id__in=enrolled(period.id))
        .select_related("institution")
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def listed(
    reviewer: Actor, period: Period, *, q: str = "", state: str = "", institution: str = ""
) -> QuerySet[Physician]:
    """The enrolled physicians of the reviewer's jurisdiction, searched by name or ID number,
    one institution, and one of ``FILTERS`` ("" for all)."""
    qs = reviewer.jurisdiction.physicians().filter(id__in=enrolled(period.id))
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(id_number__icontains=q.upper()))
    if (institution_id := as_int(institution)) is not None:
        qs = qs.filter(institution_id=institution_id)
    of_period = Evaluation.filter(period_id=period.id)

    def having(evaluations: QuerySet[Evaluation]) -> Subquery:
        return Subquery(evaluations.values("physician_id"))

    match state:
        case "todo":
            qs = qs.exclude(id__in=having(of_period.exclude(status=EvaluationStatus.DRAFT)))
        case "rated":
            qs = qs.filter(
                id__in=having(of_period.filter(status=EvaluationStatus.INSTITUTION_RATED))
            )
        case "confirmed":
            qs = qs.filter(
                id__in=having(of_period.filter(status=EvaluationStatus.ASSESSOR_CONFIRMED))
            )
        case "fail":
            failed = of_period.filter(
                Q(work_performance=Rating.FAIL)
                | Q(ethics=Rating.FAIL)
                | Q(assessor_work_performance=Rating.FAIL)
                | Q(assessor_ethics=Rating.FAIL)
            )
            qs = qs.filter(id__in=having(failed))
    return qs.select_related("institution").order_by("institution_id", "id")


async def _evaluation_row(period: Period, physician: Physician) -> Evaluation:
    try:
        found, _ = await Evaluation.get_or_create(period_id=period.id, physician_id=physician.id)
    except IntegrityError:  # created by a concurrent request in between
        found = await Evaluation.get(period_id=period.id, physician_id=physician.id)
    return found


async def rate(rater: Actor, period: Period, physician: Physician, rated: Rated) -> Evaluation:
    """The institution's rating. It may be revised until the assessment body has reviewed it."""
    if rater.role != Role.INSTITUTION:
        raise Forbidden()
    evaluation = await _evaluation_row(period, physician)
    if evaluation.status not in EDITABLE:
        raise Conflict("考核机构已完成复核，评定结果不能再修改")
    return await transition(
        rater,
        evaluation,
        action="evaluation_rated",
        from_states=EDITABLE,
        to_state=EvaluationStatus.INSTITUTION_RATED,
        values={
            "work_performance": rated.work_performance,
            "ethics": rated.ethics,
            "ethics_vetoes": rated.vetoes,
            "institution_comment": rated.comment,
            "rated_by_id": rater.account_id,
            "rated_at": datetime.now(UTC),
        },
        reason=rated.comment[: audit.REASON_MAX],  # the whole text is the evaluation's
        detail={
            "physician": physician.id,
            "work_performance": rated.work_performance.value,
            "ethics": rated.ethics.value,
            "vetoes": rated.vetoes,
        },
    )


async def review(
    reviewer: Actor, period: Period, physician: Physician, seen: str, amended: Rated | None
) -> Evaluation:
    """The assessment body confirms (``amended`` None) or amends the rating it has seen.

    ``seen`` is the rating time shown on the reviewer's form: a rating revised since then is
    not confirmed blindly. One review wins.
    """
    if reviewer.role != Role.ASSESSOR:
        raise Forbidden()
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
    return await transition(
        reviewer,
        evaluation,
        action="evaluation_confirmed" if amended is None else "evaluation_amended",
        from_states=[EvaluationStatus.INSTITUTION_RATED],
        to_state=EvaluationStatus.ASSESSOR_CONFIRMED,
        # The rating seen, not one revised in between.
        where={"rated_at": evaluation.rated_at},
        values={
            "assessor_work_performance": work,
            "assessor_ethics": ethics,
            "ethics_vetoes": vetoes,
            "assessor_comment": comment,
            "confirmed_by_id": reviewer.account_id,
            "confirmed_at": datetime.now(UTC),
        },
        reason=comment[: audit.REASON_MAX],
        detail={
            "physician": physician.id,
            "institution_ratings": [evaluation.work_performance, evaluation.ethics],
            "institution_vetoes": evaluation.ethics_vetoes,
            "work_performance": work,
            "ethics": ethics,
            "vetoes": vetoes,
        },
    )


async def decide_many(reviewer: Actor, period: Period, physician_ids: list[int]) -> tuple[int, int]:
    """批量: the institution rates each physician 合格/合格, the assessment body confirms the
    rating it finds. Returns (done, skipped: already reviewed, or not rated yet); a physician
    outside the reviewer's jurisdiction or not enrolled is 404."""
    if reviewer.role not in (Role.INSTITUTION, Role.ASSESSOR):
        raise Forbidden()
    done, skipped = 0, 0
    for physician_id in physician_ids:
        physician = await evaluable(reviewer, period, physician_id)
        try:
            if reviewer.role == Role.INSTITUTION:
                await rate(reviewer, period, physician, PASSED)
            else:
                current = await Evaluation.get_or_none(
                    period_id=period.id, physician_id=physician.id
                )
                seen = current.rated_at.isoformat() if current and current.rated_at else ""
                await review(reviewer, period, physician, seen, None)
        except DomainError:
            skipped += 1
        else:
            done += 1
    return done, skipped
