"""What an institution does for its own physicians on the physician's page: reset the
password (a temporary one, shown once and mailed) and replace the photo (re-encoded by the
face service). Both are audited; other organisations get 404."""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.errors import DomainError
from models.enums import Role
from portal import registration
from portal.account import requires_info
from portal.acting import actor, means
from rules import accounts
from rules import registration as rules_registration
from rules.jurisdiction import Jurisdiction
from web.endpoint import redirect, requires, user
from web.sessions import get_session


@requires(Role.INSTITUTION)
@requires_info
async def reset_password(request: Request) -> Response:
    physician, password = await accounts.reset_physician_password(
        actor(request), request.path_params["physician_id"], means(request)
    )
    get_session(request).flash(
        f"已重置{physician.name}的密码，临时密码：{password}（仅显示一次，请告知本人登录后立即修改）。"
    )
    return redirect(request, f"/physicians/{physician.id}")


@requires(Role.INSTITUTION)
@requires_info
async def replace_photo(request: Request) -> Response:
    physician = await Jurisdiction.of(user(request)).physician(request.path_params["physician_id"])
    settings = request.app.state.settings
    form = await request.form(max_part_size=settings.max_body_bytes)
    errors: dict[str, str] = {}
    image = b""
    if isinstance(form.get("photo"), UploadFile):
        image = await registration.upload(form, settings.face_max_photo_bytes, errors)
    else:
        errors["photo"] = "请选择照片"
    session = get_session(request)
    if not errors:
        try:
            checked = await request.app.state.face.check_photo(image)
        except DomainError as exc:
            errors["photo"] = exc.message
    if errors:
        session.flash(errors["photo"], "error")
        return redirect(request, f"/physicians/{physician.id}")
    face = request.app.state.face
    await rules_registration.replace_photo(
        actor(request), physician, lambda row: face.keep_photo(row, checked)
    )
    session.flash(f"已更换{physician.name}的照片，人脸识别将使用新照片。")
    return redirect(request, f"/physicians/{physician.id}")


routes = [
    Route("/physicians/{physician_id:int}/password", reset_password, methods=["POST"]),
    Route("/physicians/{physician_id:int}/photo/replace", replace_photo, methods=["POST"]),
]
