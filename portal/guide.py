"""The physician's 温馨提示 guide, 【考核结果】 and 【操作说明】.

The guide lists the steps of the current period in order, each with its state and the next
action, so a physician always knows what to do next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from models.enums import (
    AttemptStatus,
    EnrollmentStatus,
    EvaluationStatus,
    Phase,
    Procedure,
    RegistrationStatus,
    Role,
)
from models.exam import Attempt
from models.period import Enrollment, Evaluation, Period, Result
from models.physician import Physician
from models.training import CreditApplication
from rules.enrollment import REJECTED, active_enrollment
from rules.periods import current_period, window, window_text
from rules.practice import closed_reason as practice_closed
from rules.practice import summary as practice_summary
from rules.training import study_refusal, tally
from web.endpoint import render, requires, user


@dataclass(frozen=True)
class Step:
    title: str
    state: str
    done: bool
    action: str = ""
    url: str = ""


async def steps(physician: Physician, period: Period) -> list[Step]:
    now = datetime.now(UTC)
    approved = physician.registration_status == RegistrationStatus.APPROVED
    found: list[Step] = [
        Step(
            "注册审核",
            physician.registration_status.label,
            approved,
            "" if approved else "查看个人资料",
            "" if approved else "/physician/profile",
        ),
    ]
    enrollment = await active_enrollment(physician.id, period.id)
    found.append(_enrollment_step(physician, period, enrollment, now))
    studied = await tally(physician.id, period)
    credit = await CreditApplication.exists(physician_id=physician.id, period_id=period.id)
    missing = studied.category_shortfalls
    refusal = await study_refusal(physician, period, now)
    hours = (
        f"已完成 {studied.hours}/{period.required_hours} 课时"
        + (f"（{'，'.join(missing)}）" if missing else "")
        + ("，已申请学分" if credit else "")
    )
    if studied.complete and not credit:
        found.append(Step("培训", hours, True, "申请学分", "/physician/credits"))
    elif refusal:
        found.append(Step("培训", f"{hours}；{refusal}", studied.complete))
    else:
        found.append(Step("培训", hours, studied.complete, "去学习", "/physician/training"))
    test = window(period, Phase.TEST)
    before_test = bool(test and now < test.starts_at)
    reason = await practice_closed(physician, period, now)
    if not reason:
        practised = await practice_summary(physician.id, period.id)
        text = "可不限次数练习" + practised.text
        found.append(Step("考前练习", text, False, "去练习", "/physician/practice"))
    else:
        found.append(Step("考前练习", reason, not before_test))
    found.append(await _test_step(physician, period, enrollment, now))
    evaluation = await Evaluation.get_or_none(physician_id=physician.id, period_id=period.id)
    status = evaluation.status if evaluation else EvaluationStatus.DRAFT
    found.append(
        Step("工作成绩和职业道德评定", status.label, status == EvaluationStatus.ASSESSOR_CONFIRMED)
    )
    published = period.results_published_at is not None
    found.append(
        Step(
            "考核结果",
            "已公布" if published else "尚未公布",
            published,
            "查看结果" if published else "",
            "/physician/result" if published else "",
        )
    )
    return found


def _enrollment_step(
    physician: Physician, period: Period, enrollment: Enrollment | None, now: datetime
) -> Step:
    """考试报名: 去报名 only while the physician may enroll, else what stands and why."""
    if enrollment is not None and enrollment.status not in REJECTED:
        settled = enrollment.procedure == Procedure.GENERAL or (
            enrollment.status == EnrollmentStatus.ASSESSOR_APPROVED
        )
        label = f"{enrollment.procedure.label} · {enrollment.state_label}"
        return Step("考试报名", label, settled, "查看报名", "/physician/enrollment")
    registration = window(period, Phase.REGISTRATION)
    dates = f"（报名时间：{window_text(registration)}）" if registration else "（报名时间未设置）"
    if physician.registration_status != RegistrationStatus.APPROVED:
        return Step("考试报名", "注册审核通过后方可报名" + dates, False)
    state = "未报名" if enrollment is None else enrollment.state_label
    if registration is not None and registration.is_open(now):
        if enrollment is not None:
            state += "，可改为一般程序报名"
        return Step("考试报名", state + dates, False, "去报名", "/physician/enrollment")
    if registration is not None and now < registration.starts_at:
        return Step("考试报名", f"{state}，报名尚未开始" + dates, False)
    return Step("考试报名", f"{state}，本期报名已结束" + dates, False)


NO_PHOTO = (
    "。您还没有注册照片，测评的人脸识别无法通过：请联系所在执业机构在【考核信息查看】中为您"
    "【更换照片】"
)


async def _test_step(
    physician: Physician, period: Period, enrollment: Enrollment | None, now: datetime
) -> Step:
    """业务水平测评: 进入测评 only for a general-procedure physician while the hall admits."""
    title = "业务水平测评"
    test = window(period, Phase.TEST)
    when = f"（测评时间：{window_text(test)}）" if test else "（测评时间未设置）"
    standing = enrollment is not None and enrollment.status not in REJECTED
    if standing and enrollment is not None and enrollment.procedure == Procedure.SIMPLIFIED:
        if enrollment.status == EnrollmentStatus.ASSESSOR_APPROVED:
            return Step(title, "适用简易程序，无需参加", True)
        return Step(title, "简易程序审核中：审核通过的无需参加，未通过的须改报一般程序", False)
    if not standing or physician.registration_status != RegistrationStatus.APPROVED:
        return Step(title, "未报名一般程序，不能参加" + when, False)
    attempt = await Attempt.filter(
        paper__period_id=period.id, paper__physician_id=physician.id
    ).first()
    if attempt is not None and attempt.status == AttemptStatus.SUBMITTED:
        verdict = "合格" if attempt.passed else "不合格"
        return Step(title, f"已交卷：{attempt.score} 分，{verdict}", True)
    if attempt is not None and attempt.status in (AttemptStatus.ENDED, AttemptStatus.VOIDED):
        return Step(title, f"{attempt.status.label}{when}", True)
    if test is None:
        return Step(title, "未设置" + when, False)
    started = attempt is not None and attempt.started_at is not None
    opens = test.starts_at - timedelta(minutes=period.waiting_room_minutes)
    # Every face check compares with the registered photo: without one, say so beforehand.
    photo = "" if physician.face_encoding else NO_PHOTO
    if started or opens <= now < test.ends_at:
        state = "进行中" if started or now >= test.starts_at else "候考室已开放"
        return Step(title, state + when + photo, False, "进入测评", "/examhall/")
    if now < opens:
        return Step(title, "未开始" + when + photo, False)
    return Step(title, "已结束" + when, True)


async def guide_for(physician: Physician) -> tuple[Period | None, list[Step]]:
    period = await current_period()
    if period is None:
        return None, []
    return period, await steps(physician, period)


@requires(Role.PHYSICIAN)
async def result_page(request: Request) -> Response:
    physician = await Physician.get(id=user(request).physician_id)
    periods = await Period.filter(results_published_at__isnull=False).order_by("-id")
    results = {
        r.period_id: r
        for r in await Result.filter(
            physician_id=physician.id, period_id__in=[p.id for p in periods]
        )
    }
    enrolled = set(
        await Enrollment.filter(
            physician_id=physician.id, period_id__in=[p.id for p in periods]
        ).values_list("period_id", flat=True)
    )
    # Only the periods the physician took part in: another period's list says nothing to them.
    rows = [(p, results.get(p.id)) for p in periods if p.id in results or p.id in enrolled]
    return render(
        request, "physician/result.html", {"rows": rows, "current": await current_period()}
    )


@requires(Role.PHYSICIAN)
async def help_page(request: Request) -> Response:
    return render(request, "physician/help.html")


routes = [
    Route("/physician/result", result_page, name="result"),
    Route("/physician/help", help_page, name="help"),
]
