"""【账户管理】 of an organisation: 【机构信息】 and 【联系人信息】.

Both must be complete before the organisation's other modules open (the 温馨提示 on its home
page says so); ``requires_info`` guards those modules. What is checked and saved:
``rules/organisation_info.py``.
"""

from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.errors import Forbidden, NotFound
from models.enums import Role
from models.org import Organisation
from portal.acting import actor
from rules import organisation_info as info
from web.endpoint import Endpoint, redirect, render, requires, user
from web.sessions import get_session

ACCOUNT_ROLES = (Role.INSTITUTION, Role.ASSESSOR, Role.COMMISSION)  # the office has none


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
    if section not in info.FIELDS:
        raise NotFound()
    org = await Organisation.get(id=current.organisation_id)
    fields = info.FIELDS[section]
    errors: dict[str, str] = {}
    values = {name: getattr(org, name) for name in fields}
    if request.method == "POST":
        values, errors = info.read(section, await request.form())
        if not errors:
            await info.save(actor(request), org, section, values)
            get_session(request).flash(f"{info.TITLES[section]}已保存。")
            return redirect(request, request.url.path)
    context = {
        "org": org,
        "section": section,
        "title": info.TITLES[section],
        "fields": fields,
        "values": values,
        "errors": errors,
    }
    return render(request, "account/org.html", context, status_code=400 if errors else 200)


routes = [
    Route(f"/{role.value}/account/{{section}}", edit, methods=["GET", "POST"])
    for role in ACCOUNT_ROLES
]
