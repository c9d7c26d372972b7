"""【账户管理】 of an organisation: 【机构信息】 and 【联系人信息】.

Both must be complete before the organisation's other modules open (the 温馨提示 on its home
page says so); ``requires_info`` guards those modules.
"""

from __future__ import annotations

import functools
import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.errors import Forbidden, NotFound
from models.enums import Role
from models.org import Account, Organisation
from rules import audit
from web.endpoint import Endpoint, client_ip, redirect, render, requires, user
from web.sessions import get_session

ACCOUNT_ROLES = (Role.INSTITUTION, Role.ASSESSOR, Role.COMMISSION)  # the office has none
PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}(-\d{1,6})?)$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def valid_credit_code(code: str) -> bool:
    """统一社会信用代码 (GB 32100-2015): 18 characters with a check character."""
    if len(code) != 18 or any(c not in USCC_CHARS for c in code):
        return False
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(code, USCC_WEIGHTS, strict=False))
    return USCC_CHARS[(31 - total % 31) % 31] == code[17]


FIELDS = {
    "info": {
        "credit_code": ("统一社会信用代码", False, 18),
        "address": ("机构地址", True, 200),
        "grade": ("机构等级", False, 20),
        "org_type": ("机构类别", False, 40),
        "phone": ("机构电话", True, 30),
    },
    "contact": {
        "contact_name": ("联系人姓名", True, 50),
        "contact_title": ("联系人职务", False, 50),
        "contact_phone": ("联系人电话", True, 30),
        "contact_email": ("联系人邮箱", True, 100),
    },
}
TITLES = {"info": "机构信息", "contact": "联系人信息"}


def check(name: str, value: str) -> str | None:
    if name == "credit_code" and value and not valid_credit_code(value.upper()):
        return "统一社会信用代码应为18位，且校验位正确"
    if name in ("phone", "contact_phone") and not PHONE.match(value):
        return "请填写手机号码或带区号的固定电话，例如 0991-1234567"
    if name == "contact_email" and not EMAIL.match(value):
        return "请填写有效的电子邮箱，用于找回密码和接收通知"
    return None


def requires_info(endpoint: Endpoint) -> Endpoint:
    """Send an organisation whose info is incomplete to 【机构信息】 first."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        current = user(request)
        org = await Organisation.get(id=current.organisation_id)
        if not org.info_complete:
            get_session(request).flash(
                "请先在【账户管理】中完善【机构信息】和【联系人信息】全部内容。", "warning"
            )
            target = "info" if not (org.address and org.phone) else "contact"
            return redirect(request, f"/{current.role.value}/account/{target}")
        return await endpoint(request)

    return guarded


@requires(*ACCOUNT_ROLES)
async def edit(request: Request) -> Response:
    current = user(request)
    section = request.path_params["section"]
    if not request.url.path.startswith(f"/{current.role.value}/"):
        raise Forbidden()
    if section not in FIELDS:
        raise NotFound()
    org = await Organisation.get(id=current.organisation_id)
    fields = FIELDS[section]
    errors: dict[str, str] = {}
    values = {name: getattr(org, name) for name in fields}
    if request.method == "POST":
        form = await request.form()
        for name, (label, required, limit) in fields.items():
            value = str(form.get(name, "")).strip()
            values[name] = value
            if required and not value:
                errors[name] = f"请填写{label}"
            elif len(value) > limit:
                errors[name] = f"{label}不能超过{limit}个字"
            elif problem := check(name, value):
                errors[name] = problem
        if not errors:
            before = {name: getattr(org, name) for name in fields}
            for name, value in values.items():
                setattr(org, name, value.upper() if name == "credit_code" else value)
            await org.save(update_fields=list(fields))
            if section == "contact":  # the address password-reset mail goes to
                await Account.filter(organisation_id=org.id).update(email=org.contact_email)
            await audit.record(
                await Account.get(id=current.account_id),
                f"org_{section}_updated",
                obj=org,
                ip=client_ip(request),
                before=before,
            )
            get_session(request).flash(f"{TITLES[section]}已保存。")
            return redirect(request, request.url.path)
    context = {
        "org": org,
        "section": section,
        "title": TITLES[section],
        "fields": fields,
        "values": values,
        "errors": errors,
    }
    return render(request, "account/org.html", context, status_code=400 if errors else 200)


routes = [
    Route(f"/{role.value}/account/{{section}}", edit, methods=["GET", "POST"])
    for role in ACCOUNT_ROLES
]
