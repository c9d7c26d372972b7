"""【考试报名】 and 【报名资格审核】.

General procedure: enrolled at once. Simplified procedure: an application that the
institution reviews and then the assessment body re-reviews; a rejection at either level
ends it, and the physician may still enroll in the general procedure while the
registration window is open. Every decision is audited and mailed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.expressions import Subquery

from core.errors import Conflict, DomainError, NotFound
from core.numbers import as_int
from models.enums import EnrollmentStatus, Phase, Procedure, RegistrationStatus, Role
from models.org import Account
from models.period import Enrollment, Period, PhaseWindow
from models.physician import Physician
from portal.account import requires_info
from rules import audit
from rules.jurisdiction import Jurisdiction
from web.endpoint import (
    CurrentUser,
    client_ip,
    local_time,
    own_prefix,
    redirect,
    render,
    requires,
    send_mail,
    user,
)
from web.pagination import paginate
from web.sessions import get_session

REJECTED = (EnrollmentStatus.INSTITUTION_REJECTED, EnrollmentStatus.ASSESSOR_REJECTED)
WINDOW_FORMAT = "%Y年%m月%d日 %H:%M"


async def current_period() -> Period | None:
    return await Period.filter(is_current=True).prefetch_related("windows").first()


def window(period: Period, phase: Phase) -> PhaseWindow | None:
    return next((w for w in period.windows if w.phase == phase), None)


def window_text(w: PhaseWindow) -> str:
    return f"{local_time(w.starts_at, WINDOW_FORMAT)} 至 {local_time(w.ends_at, WINDOW_FORMAT)}"


async def active_enrollment(physician_id: int, period_id: int) -> Enrollment | None:
    return (
        await Enrollment.filter(physician_id=physician_id, period_id=period_id, is_active=True)
        .order_by("-id")
        .first()
    )


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


async def enroll(
    request: Request,
    physician: Physician,
    period: Period,
    procedure: Procedure,
    application: dict[str, Any] | None = None,
) -> Enrollment:
    if physician.registration_status != RegistrationStatus.APPROVED or not physician.institution_id:
        raise DomainError("注册审核通过后方可报名")
    registration = window(period, Phase.REGISTRATION)
    if registration is None or not registration.is_open(datetime.now(UTC)):
        dates = window_text(registration) if registration else "未设置"
        raise DomainError(f"当前不在报名时间内。本期报名时间：{dates}")
    existing = await active_enrollment(physician.id, period.id)
    if existing is not None and existing.status not in REJECTED:
        if existing.procedure == Procedure.GENERAL:
            raise Conflict("您已报名本期一般程序考核，无需重复报名")
        raise Conflict("您的简易程序申请正在审核中，不能重复报名")
    if existing is not None and procedure == Procedure.SIMPLIFIED:
        raise Conflict("简易程序申请未通过，请在报名时间内选择一般程序报名")
    if existing is not None:
        await Enrollment.filter(id=existing.id).update(is_active=False)
    enrollment = await Enrollment.create(
        period=period,
        physician=physician,
        institution_id=physician.institution_id,
        procedure=procedure,
        status=EnrollmentStatus.SUBMITTED,
        application=application or {},
    )
    await audit.record(
        await Account.get(id=physician.account_id),
        "enrolled",
        obj=enrollment,
        to_state=f"{procedure.value}:{enrollment.status.value}",
        ip=client_ip(request),
    )
    return enrollment


LEVELS = {
    Role.INSTITUTION: (
        EnrollmentStatus.SUBMITTED,
        EnrollmentStatus.INSTITUTION_APPROVED,
        EnrollmentStatus.INSTITUTION_REJECTED,
    ),
    Role.ASSESSOR: (
        EnrollmentStatus.INSTITUTION_APPROVED,
        EnrollmentStatus.ASSESSOR_APPROVED,
        EnrollmentStatus.ASSESSOR_REJECTED,
    ),
}


def awaiting(reviewer: CurrentUser) -> Any:
    """Simplified applications waiting for this reviewer, inside its jurisdiction."""
    waiting_status = LEVELS[reviewer.role][0]
    physicians = Subquery(Jurisdiction.of(reviewer).physicians().values("id"))
    return Enrollment.filter(
        procedure=Procedure.SIMPLIFIED,
        status=waiting_status,
        is_active=True,
        physician_id__in=physicians,
    )


async def review_enrollment(
    request: Request, reviewer: CurrentUser, enrollment_id: int, approve: bool, reason: str
) -> Enrollment:
    """点击审核: one level of the simplified-procedure review. One decision wins."""
    reason = reason.strip()[:500]
    if not approve and not reason:
        raise DomainError("请填写不通过的原因", field="reason")
    enrollment = await awaiting(reviewer).get_or_none(id=enrollment_id)
    if enrollment is None:
        mine = Subquery(Jurisdiction.of(reviewer).physicians().values("id"))
        if await Enrollment.exists(id=enrollment_id, physician_id__in=mine):
            raise Conflict("该申请不在您的待审核列表中（可能已被处理），请刷新页面查看最新状态")
        raise NotFound()
    waiting_status, yes, no = LEVELS[reviewer.role]
    now = datetime.now(UTC)
    new_status = yes if approve else no
    fields: dict[str, Any] = {"status": new_status}
    if reviewer.role == Role.INSTITUTION:
        fields |= {
            "institution_reviewer_id": reviewer.account_id,
            "institution_reviewed_at": now,
            "institution_reason": reason,
        }
    else:
        fields |= {
            "assessor_reviewer_id": reviewer.account_id,
            "assessor_reviewed_at": now,
            "assessor_reason": reason,
        }
    changed = await Enrollment.filter(id=enrollment.id, status=waiting_status).update(**fields)
    if not changed:
        raise Conflict("该申请已被处理，请刷新页面查看最新状态")
    await enrollment.refresh_from_db()
    await audit.record(
        await Account.get(id=reviewer.account_id),
        "enrollment_reviewed",
        obj=enrollment,
        from_state=waiting_status.value,
        to_state=new_status.value,
        reason=reason,
        ip=client_ip(request),
    )
    physician = await Physician.get(id=enrollment.physician_id)
    await send_mail(
        request,
        physician.email,
        "enrollment_result",
        name=physician.name,
        level=reviewer.role.label,
        organisation=reviewer.display_name,
        approved=approve,
        final=reviewer.role == Role.ASSESSOR or not approve,
        reason=reason,
    )
    return enrollment


# --- pages ---------------------------------------------------------------------------


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
                await enroll(request, physician, period, Procedure.GENERAL)
                get_session(request).flash("一般程序报名成功。")
                return redirect(request, "/physician/enrollment")
            if choice == Procedure.SIMPLIFIED:
                application, errors = application_of(form)
                if not errors:
                    await enroll(request, physician, period, Procedure.SIMPLIFIED, application)
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
    page = await paginate(
        request, awaiting(user(request)).select_related("physician", "institution").order_by("id")
    )
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
        await review_enrollment(
            request,
            reviewer,
            request.path_params["enrollment_id"],
            decision == "approve",
            str(form.get("reason", "")),
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
