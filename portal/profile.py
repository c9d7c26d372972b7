"""【个人资料】: a physician keeps the profile current and, after a rejected registration, picks
the right institution and resubmits.

Title, licence number and contact details change at any time. Practice category and scope
and the photo change only until the registration is approved (after that the photo is the
institution's to replace). The institution changes only while the registration is rejected:
otherwise a move goes through a transfer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core import audit
from core.errors import Conflict, DomainError
from models.enums import RegistrationStatus, Role
from models.org import Account
from models.physician import Physician
from models.training import CreditApplication
from portal import registration
from portal.sessions import get_session
from portal.web import client_ip, redirect, render, requires, user


async def _mine(request: Request) -> Physician:
    physician_id = user(request).physician_id
    assert physician_id is not None
    return await Physician.get(id=physician_id).select_related(
        "institution", "prefecture", "county", "previous_institution"
    )


async def _page(
    request: Request, physician: Physician, errors: dict[str, str] | None = None, form: Any = None
) -> Response:
    values = (
        dict(form)
        if form is not None
        else {
            "title": physician.title,
            "licence_number": physician.licence_number,
            "email": physician.email,
            "mobile": physician.mobile,
            "practice_category": physician.practice_category,
            "practice_scope": physician.practice_scope,
            "prefecture": str(physician.prefecture_id),
        }
    )
    context = {
        **await registration.form_context(values),
        "physician": physician,
        "credits": await CreditApplication.filter(physician_id=physician.id)
        .select_related("period")
        .order_by("-id"),
        "errors": errors or {},
        "Status": RegistrationStatus,
    }
    return render(request, "physician/profile.html", context, status_code=400 if errors else 200)


@requires(Role.PHYSICIAN)
async def profile(request: Request) -> Response:
    physician = await _mine(request)
    if request.method != "POST":  # GET, and HEAD (which the CSRF check lets through)
        return await _page(request, physician)
    settings = request.app.state.settings
    form = await request.form(max_part_size=settings.max_body_bytes)
    errors: dict[str, str] = {}
    title, licence, email, mobile = registration.contact(form, errors)
    approved = physician.registration_status == RegistrationStatus.APPROVED
    category, scope = (
        (physician.practice_category, physician.practice_scope)
        if approved
        else registration.practice(form, errors)
    )
    new_photo, checked = b"", None
    upload = form.get("photo")
    if not approved and isinstance(upload, UploadFile) and upload.filename:
        new_photo = await registration.upload(form, settings.face_max_photo_bytes, errors)
    if not errors and new_photo:
        try:
            checked = await request.app.state.face.check_photo(new_photo)
        except DomainError as exc:
            errors["photo"] = exc.message
    if errors:
        return await _page(request, physician, errors, form)
    before = {"title": physician.title, "email": physician.email, "mobile": physician.mobile}
    physician.title, physician.licence_number = title, licence
    physician.email, physician.mobile = email, mobile
    physician.practice_category, physician.practice_scope = category, scope
    await physician.save()
    await Account.filter(id=physician.account_id).update(email=email)
    if checked is not None:
        await request.app.state.face.keep_photo(physician, checked)
    await audit.record(
        await Account.get(id=physician.account_id),
        "profile_updated",
        obj=physician,
        ip=client_ip(request),
        before=before,
        photo_replaced=bool(new_photo),
    )
    get_session(request).flash("个人资料已保存。")
    return redirect(request, "/physician/profile")


@requires(Role.PHYSICIAN)
async def resubmit(request: Request) -> Response:
    """Choose the right institution after a rejection and send the registration again."""
    physician = await _mine(request)
    if physician.registration_status != RegistrationStatus.REJECTED:
        raise Conflict(
            "只有注册审核未通过时才能更换执业机构；已审核通过的医师请由原执业机构办理调出"
        )
    form = await request.form()
    errors: dict[str, str] = {}
    prefecture, county, institution = await registration.place(form, errors)
    if errors:
        return await _page(request, physician, errors, form)
    assert prefecture and county and institution
    changed = await Physician.filter(
        id=physician.id, registration_status=RegistrationStatus.REJECTED
    ).update(
        registration_status=RegistrationStatus.PENDING,
        prefecture_id=prefecture.id,
        county_id=county.id,
        institution_id=institution.id,
        staging_reason=None,
        rejection_reason="",
        submitted_at=datetime.now(UTC),
    )
    if not changed:
        raise Conflict("注册状态已变化，请刷新页面")
    await audit.record(
        await Account.get(id=physician.account_id),
        "registration_resubmitted",
        obj=physician,
        from_state=RegistrationStatus.REJECTED.value,
        to_state=RegistrationStatus.PENDING.value,
        ip=client_ip(request),
        institution=institution.id,
    )
    # The session keeps the physician's institution for jurisdiction checks.
    session = get_session(request)
    session.set("organisation_id", institution.id)
    session.set("prefecture_id", prefecture.id)
    session.flash(f"已重新提交，请等待「{institution.name}」审核。")
    return redirect(request, "/")


routes = [
    Route("/physician/profile", profile, methods=["GET", "POST"], name="profile"),
    Route("/physician/profile/resubmit", resubmit, methods=["POST"], name="resubmit"),
]
