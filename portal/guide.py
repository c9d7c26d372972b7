"""The physician's 温馨提示 guide, 【考核结果】 and 【操作说明】.

The guide lists the steps of the current period in order, each with its state and the next
action, so a physician always knows what to do next.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.study import tally
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
from models.period import Evaluation, Period, Result
from models.physician import Physician
from models.training import CreditApplication
from portal.enrollment import REJECTED, active_enrollment, current_period, window, window_text
from portal.practice import summary as practice_summary
from portal.web import render, requires, user


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
    registration = window(period, Phase.REGISTRATION)
    dates = window_text(registration) if registration else ""
    if enrollment is None or enrollment.status in REJECTED:
        state = "未报名" if enrollment is None else f"{enrollment.status.label}，可改为一般程序报名"
        found.append(
            Step(
                "考试报名",
                f"{state}（报名时间：{dates}）",
                False,
                "去报名",
                "/physician/enrollment",
            )
        )
    else:
        settled = enrollment.procedure == Procedure.GENERAL or (
            enrollment.status == EnrollmentStatus.ASSESSOR_APPROVED
        )
        label = f"{enrollment.procedure.label} · {enrollment.state_label}"
        found.append(Step("考试报名", label, settled, "查看报名", "/physician/enrollment"))
    studied = await tally(physician.id, period)
    credit = await CreditApplication.exists(physician_id=physician.id, period_id=period.id)
    missing = studied.category_shortfalls
    found.append(
        Step(
            "培训",
            f"已完成 {studied.hours}/{period.required_hours} 课时"
            + (f"（{'，'.join(missing)}）" if missing else "")
            + ("，已申请学分" if credit else ""),
            studied.complete,
            "申请学分" if studied.complete and not credit else "去学习",
            "/physician/credits" if studied.complete and not credit else "/physician/training",
        )
    )
    test = window(period, Phase.TEST)
    test_open = bool(test and test.is_open(now))
    before_test = bool(test and now < test.starts_at)
    practised = await practice_summary(physician.id, period.id)
    found.append(
        Step(
            "考前练习",
            "可不限次数练习" + practised.text if before_test else "测评开始后练习关闭",
            not before_test,
            "去练习" if before_test else "",
            "/physician/practice" if before_test else "",
        )
    )
    if enrollment is not None and enrollment.procedure == Procedure.SIMPLIFIED:
        found.append(Step("业务水平测评", "适用简易程序，无需参加", True))
    else:
        attempt = await Attempt.filter(
            paper__period_id=period.id, paper__physician_id=physician.id
        ).first()
        when = window_text(test) if test else "未设置"
        if attempt is not None and attempt.status == AttemptStatus.SUBMITTED:
            verdict = "合格" if attempt.passed else "不合格"
            found.append(Step("业务水平测评", f"已交卷：{attempt.score} 分，{verdict}", True))
        elif attempt is not None and attempt.status in (AttemptStatus.ENDED, AttemptStatus.VOIDED):
            found.append(Step("业务水平测评", f"{attempt.status.label}（{when}）", True))
        else:
            state = "进行中" if test_open else ("未开始" if before_test else "已结束")
            found.append(
                Step(
                    "业务水平测评",
                    f"{state}（{when}）",
                    not test_open and not before_test,
                    "进入测评" if test_open else "",
                    "/examhall/" if test_open else "",
                )
            )
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
    rows = [(p, results.get(p.id)) for p in periods]
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
