"""【注册管理】→【注册审核】: an institution approves or rejects the registrations filed with it.

A rejected physician leaves the institution for the staging area (暂存区) and may pick the
right institution and resubmit. Each decision is audited and mailed to the physician.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route
from tortoise.expressions import Q

from core.errors import Conflict, DomainError, NotFound
from models.enums import RegistrationStatus, Role, StagingReason
from models.org import Account
from models.physician import Physician
from portal.account import requires_info
from rules import audit
from rules.jurisdiction import Jurisdiction
from web.endpoint import CurrentUser, client_ip, redirect, render, requires, send_mail, user
from web.pagination import paginate
from web.sessions import get_session

MAX_REASON = 200


async def review(
    request: Request, reviewer: CurrentUser, physician_id: int, approve: bool, reason: str
) -> Physician:
    """Decide one pending registration. Two reviewers at once: exactly one wins."""
    reason = reason.strip()
    if not approve and not reason:
        raise DomainError("请填写不通过的原因，医师将看到该原因", field="reason")
    if len(reason) > MAX_REASON:
        raise DomainError(f"原因不能超过{MAX_REASON}字", field="reason")
    physician = await Jurisdiction.of(reviewer).physician(physician_id)
    now = datetime.now(UTC)
    pending = Physician.filter(
        id=physician.id,
        registration_status=RegistrationStatus.PENDING,
        institution_id=reviewer.organisation_id,
    )
    if approve:
        changed = await pending.update(
            registration_status=RegistrationStatus.APPROVED, reviewed_at=now, rejection_reason=""
        )
    else:
        changed = await pending.update(
            registration_status=RegistrationStatus.REJECTED,
            reviewed_at=now,
            rejection_reason=reason,
            previous_institution_id=reviewer.organisation_id,
            institution_id=None,
            staging_reason=StagingReason.REJECTED,
        )
    if not changed:
        raise Conflict("该注册申请已被处理，请刷新页面查看最新状态")
    await physician.refresh_from_db()
    to_state = physician.registration_status
    actor = await Account.get(id=reviewer.account_id)
    await audit.record(
        actor,
        "registration_approved" if approve else "registration_rejected",
        obj=physician,
        from_state=RegistrationStatus.PENDING.value,
        to_state=to_state.value,
        reason=reason,
        ip=client_ip(request),
    )
    await send_mail(
        request,
        physician.email,
        "registration_result",
        name=physician.name,
        approved=approve,
        institution=reviewer.display_name,
        reason=reason,
    )
    return physician


@requires(Role.INSTITUTION)
@requires_info
async def pending_list(request: Request) -> Response:
    qs = (
        Jurisdiction.of(user(request))
        .physicians()
        .filter(registration_status=RegistrationStatus.PENDING)
    )
    q = request.query_params.get("q", "").strip()[:50]
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(id_number__icontains=q.upper()))
    page = await paginate(request, qs.order_by("submitted_at", "id"), size=10)
    return render(
        request, "institution/registrations.html", {"page": page, "q": q}, block="results"
    )


@requires(Role.INSTITUTION)
@requires_info
async def decide(request: Request) -> Response:
    form = await request.form()
    decision = str(form.get("decision", ""))
    if decision not in ("approve", "reject"):
        raise DomainError("请选择审核结果")
    physician_id = request.path_params["physician_id"]
    try:
        physician = await review(
            request, user(request), physician_id, decision == "approve", str(form.get("reason", ""))
        )
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        get_session(request).flash(exc.message, "error")
        return redirect(request, "/institution/registrations")
    verdict = "审核通过" if decision == "approve" else "审核不通过，已转入暂存区"
    get_session(request).flash(f"{physician.name}：{verdict}，结果已邮件通知医师。")
    return redirect(request, "/institution/registrations")


@requires(Role.INSTITUTION, Role.ASSESSOR, Role.COMMISSION, Role.OFFICE, Role.PHYSICIAN)
async def photo(request: Request) -> Response:
    """A physician's registered photo, to the physician and to those whose jurisdiction holds
    them (a pending registration is in its institution's jurisdiction)."""
    physician = await Jurisdiction.of(user(request)).physician(request.path_params["physician_id"])
    if not physician.photo:
        raise NotFound("该医师没有照片")
    path = request.app.state.settings.media_path / physician.photo
    if not path.is_file():
        raise NotFound("照片文件不存在")
    return FileResponse(path)  # no-store, like every page (web/headers.py)


routes = [
    Route("/institution/registrations", pending_list, name="registrations"),
    Route(
        "/institution/registrations/{physician_id:int}/review",
        decide,
        methods=["POST"],
        name="registration_review",
    ),
    Route("/physicians/{physician_id:int}/photo", photo, name="physician_photo"),
]
