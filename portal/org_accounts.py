"""【账号管理】 of the office (the commissions' accounts) and 【机构账号管理】 of a commission
(its institutions' and assessment bodies' accounts): search, and 重置密码.

The user guide sends an organisation that lost its password to the level above it
(``rules.accounts.managed_accounts``). A reset (``rules.accounts.reset_organisation_password``)
sets a temporary password that is shown once to the person resetting it, ends the account's
sessions, mails the organisation a notice (not the password) and is audited. Accounts outside
the jurisdiction answer 404.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.expressions import Q

from models.enums import OrgKind, Role
from portal.account import requires_info
from portal.acting import actor, means
from rules import accounts
from web.endpoint import CurrentUser, redirect, render, requires, user
from web.pagination import paginate
from web.sessions import get_session

TITLES = {Role.OFFICE: "账号管理", Role.COMMISSION: "机构账号管理"}
KINDS = {
    Role.OFFICE: (OrgKind.COMMISSION,),
    Role.COMMISSION: (OrgKind.INSTITUTION, OrgKind.ASSESSOR),
}


def base_path(manager: CurrentUser) -> str:
    return f"/{manager.role.value}/accounts"


async def account_list(request: Request) -> Response:
    manager = user(request)
    params = request.query_params
    chosen = {k: params.get(k, "").strip()[:50] for k in ("q", "kind")}
    kinds = KINDS[manager.role]
    qs = accounts.managed_accounts(actor(request)).select_related("organisation")
    if chosen["q"]:
        q = chosen["q"]
        qs = qs.filter(
            Q(username__icontains=q)
            | Q(organisation__name__icontains=q)
            | Q(organisation__contact_name__icontains=q)
        )
    if chosen["kind"] in {k.value for k in kinds}:
        qs = qs.filter(organisation__kind=chosen["kind"])
    page = await paginate(
        request, qs.order_by("organisation__prefecture_id", "organisation_id", "id")
    )
    context: dict[str, Any] = {
        "title": TITLES[manager.role],
        "base": base_path(manager),
        "page": page,
        "chosen": chosen,
        "kinds": kinds if len(kinds) > 1 else (),
        "query": "&".join(f"{k}={quote(v)}" for k, v in chosen.items() if v),
    }
    return render(request, "accounts/list.html", context, block="results")


async def reset(request: Request) -> Response:
    manager = user(request)
    account, password = await accounts.reset_organisation_password(
        actor(request), request.path_params["account_id"], means(request)
    )
    get_session(request).flash(
        f"已重置账号 {account.username}（{account.display_name}）的密码，"
        f"临时密码：{password}（仅显示一次，请告知该机构登录后立即修改）。"
        "该账号已登录的会话均已退出。"
    )
    return redirect(request, base_path(manager))


office_list = requires(Role.OFFICE)(account_list)
office_reset = requires(Role.OFFICE)(reset)
commission_list = requires(Role.COMMISSION)(requires_info(account_list))
commission_reset = requires(Role.COMMISSION)(requires_info(reset))

routes = [
    Route("/office/accounts", office_list),
    Route("/office/accounts/{account_id:int}/password", office_reset, methods=["POST"]),
    Route("/commission/accounts", commission_list),
    Route("/commission/accounts/{account_id:int}/password", commission_reset, methods=["POST"]),
]
