"""【个人资料】: a physician keeps the profile current and, after a rejected registration, picks
the right institution and resubmits.

Title, licence number and contact details change at any time. Practice category and scope
and the photo change only until the registration is approved (after that the photo is the
institution's to replace). The institution changes only before the review (the registration
moves to the chosen institution's queue) or after a rejection (saving resubmits it):
once approved, a move goes through a transfer.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.errors import DomainError
from models.enums import RegistrationStatus, Role
from models.physician import Physician
from models.training import CreditApplication
from portal import registration
from portal.acting import actor
from rules import registration as registration_rules
from rules.registration import ProfileEdit
from web.endpoint import redirect, render, requires, user
from web.sessions import get_session


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
            "county": str(physician.county_id),
            "institution": str(physician.institution_id or ""),
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
    """One form, one button: the edits are saved together with a resubmission (after a
    rejection) or a corrected institution (before the review)."""
    physician = await _mine(request)
    if request.method != "POST":  # GET, and HEAD (which the CSRF check lets through)
        return await _page(request, physician)
    settings = request.app.state.settings
    form = await request.form(max_part_size=settings.max_body_bytes)
    errors: dict[str, str] = {}
    status = physician.registration_status
    title, licence, email, mobile = registration.contact(form, errors)
    approved = status == RegistrationStatus.APPROVED
    category, scope = (
        (physician.practice_category, physician.practice_scope)
        if approved
        else registration.practice(form, errors)
    )
    institution = None
    if status in (RegistrationStatus.PENDING, RegistrationStatus.REJECTED):
        _, _, institution = await registration.place(form, errors)
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
    edit = ProfileEdit(title, licence, email, mobile, category, scope, institution)
    action = await registration_rules.update_profile(
        actor(request), physician, edit, photo_replaced=bool(new_photo)
    )
    if checked is not None:
        await request.app.state.face.keep_photo(physician, checked)
    resubmitted = action == "registration_resubmitted"
    moved = action == "registration_institution_changed"
    session = get_session(request)
    if institution is not None and (resubmitted or moved):
        # The session keeps the physician's institution for jurisdiction checks.
        session.set("organisation_id", institution.id)
        session.set("prefecture_id", institution.prefecture_id)
    if resubmitted:
        assert institution is not None
        session.flash(f"已重新提交，请等待「{institution.name}」审核。")
        return redirect(request, "/")
    if moved:
        assert institution is not None
        session.flash(f"个人资料已保存，执业机构已更换为「{institution.name}」，请等待其审核。")
    else:
        session.flash("个人资料已保存。")
    return redirect(request, "/physician/profile")


routes = [
    Route("/physician/profile", profile, methods=["GET", "POST"], name="profile"),
]
