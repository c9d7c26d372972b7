"""【注册管理】→【注册审核】: an institution approves or rejects the registrations filed with it.

A rejected physician leaves the institution for the staging area (暂存区) and may pick the
right institution and resubmit. Each decision is audited and mailed to the physician
(``rules.registration.review``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route
from tortoise.expressions import Q

from core.errors import DomainError, NotFound
from models.enums import RegistrationStatus, Role
from portal.account import requires_info
from portal.acting import actor
from rules import registration
from rules.jurisdiction import Jurisdiction
from web.endpoint import mailer, redirect, render, requires, user
from web.pagination import paginate
from web.sessions import get_session


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
        physician = await registration.review(
            actor(request),
            physician_id,
            decision == "approve",
            str(form.get("reason", "")),
            mailer=mailer(request),
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
