"""【考试报名】 and 【报名资格审核】.

General procedure: enrolled at once. Simplified procedure: an application that the
institution reviews and then the assessment body re-reviews; a rejection at either level
ends it, and the physician may still enroll in the general procedure while the
registration window is open. The rules are in ``rules.enrollment``; this module parses,
authorises and renders.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.errors import DomainError, NotFound
from core.numbers import as_int
from models.enums import EnrollmentStatus, Phase, Procedure, RegistrationStatus, Role
from models.period import Enrollment
from models.physician import Physician
from portal.account import requires_info
from portal.acting import actor
from rules import enrollment as enrollment_rules
from rules.enrollment import active_enrollment
from rules.periods import current_period, window, window_text
from web.endpoint import (
    mailer,
    own_prefix,
    redirect,
    render,
    requires,
    user,
)
from web.pagination import paginate
from web.sessions import get_session


def application_of(form: FormData) -> tuple[dict[str, Any], dict[str, str]]:
    """The simplified-procedure application: the eligibility facts and the 述职报告."""
    errors: dict[str, str] = {}
    years = as_int(form.get("years_in_practice"), high=60)
    if years is None:
        errors["years_in_practice"] = "请填写执业年限（0–60 的整数）"
    if form.get("no_bad_record") != "yes":
        errors["no_bad_record"] = "适用简易程序须本周期内无不良执业记录，请确认"
    report = str(form.get("report", "")).strip()
    if not 50 <= len(report) <= 3000:
        errors["report"] = "述职报告须为 50–3000 字"
    application = {
        "years_in_practice": years,
        "no_bad_record": True,
        "report": report,
    }
    return application, errors


@requires(Role.PHYSICIAN)
async def physician_page(request: Request) -> Response:
    physician = await Physician.get(id=user(request).physician_id).select_related("institution")
    period = await current_period()
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    if request.method == "POST" and period is not None:
        form = await request.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        choice = str(form.get("procedure", ""))
        try:
            if choice in (Procedure.GENERAL, Procedure.SIMPLIFIED) and (
                form.get("confirm_profile") != "yes"
            ):
                raise DomainError("请先核对个人资料，确认无误后勾选“个人资料已核对”")
            if choice == Procedure.GENERAL:
                await enrollment_rules.enroll(actor(request), period, Procedure.GENERAL)
                get_session(request).flash("一般程序报名成功。")
                return redirect(request, "/physician/enrollment")
            if choice == Procedure.SIMPLIFIED:
                application, errors = application_of(form)
                if not errors:
                    await enrollment_rules.enroll(
                        actor(request), period, Procedure.SIMPLIFIED, application
                    )
                    get_session(request).flash("简易程序申请已提交，请等待执业机构审核。")
                    return redirect(request, "/physician/enrollment")
            else:
                errors["procedure"] = "请选择考核程序"
        except DomainError as exc:
            errors["procedure"] = exc.message
    registration = window(period, Phase.REGISTRATION) if period else None
    context = {
        "physician": physician,
        "period": period,
        "registration": registration,
        "window_text": window_text(registration) if registration else "",
        "open": bool(registration and registration.is_open(datetime.now(UTC))),
        "enrollment": await active_enrollment(physician.id, period.id) if period else None,
        "history": await Enrollment.filter(physician_id=physician.id).order_by("-id")
        if period
        else [],
        "errors": errors,
        "values": values,
        "S": EnrollmentStatus,
        "P": Procedure,
        "approved": physician.registration_status == RegistrationStatus.APPROVED,
    }
    return render(request, "physician/enrollment.html", context, status_code=400 if errors else 200)


@requires(Role.INSTITUTION, Role.ASSESSOR)
@requires_info
async def review_list(request: Request) -> Response:
    own_prefix(request)
    waiting = enrollment_rules.awaiting(actor(request)).select_related("physician", "institution")
    page = await paginate(request, waiting.order_by("id"))
    return render(request, "review/enrollments.html", {"page": page})


@requires(Role.INSTITUTION, Role.ASSESSOR)
@requires_info
async def review_decide(request: Request) -> Response:
    reviewer = own_prefix(request)
    form = await request.form()
    decision = str(form.get("decision", ""))
    if decision not in ("approve", "reject"):
        raise DomainError("请选择审核结果")
    back = f"/{reviewer.role.value}/enrollments"
    try:
        await enrollment_rules.review(
            actor(request),
            request.path_params["enrollment_id"],
            decision == "approve",
            str(form.get("reason", "")),
            mailer=mailer(request),
        )
    except NotFound:
        raise
    except DomainError as exc:
        get_session(request).flash(exc.message, "error")
        return redirect(request, back)
    get_session(request).flash("审核结果已保存，并已邮件通知医师。")
    return redirect(request, back)


routes = [
    Route("/physician/enrollment", physician_page, methods=["GET", "POST"], name="enrollment"),
    Route("/institution/enrollments", review_list, name="institution_enrollments"),
    Route("/assessor/enrollments", review_list, name="assessor_enrollments"),
    Route("/institution/enrollments/{enrollment_id:int}/review", review_decide, methods=["POST"]),
    Route("/assessor/enrollments/{enrollment_id:int}/review", review_decide, methods=["POST"]),
]
