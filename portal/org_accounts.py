"""【账号管理】 of the office (the commissions' accounts) and 【机构账号管理】 of a commission
(its institutions' and assessment bodies' accounts): search, and 重置密码.

The user guide sends an organisation that lost its password to the level above it
(``Jurisdiction.organisations``). A reset sets a temporary password that is shown once to
the person resetting it, ends the account's sessions, mails the organisation a notice (not
the password) and is audited. Accounts outside the jurisdiction answer 404.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from core.errors import NotFound
from models.enums import OrgKind, OrgStatus, Role
from models.org import Account
from portal.account import requires_info
from portal.auth import issue_temporary_password
from rules import audit
from rules.jurisdiction import Jurisdiction
from web.endpoint import CurrentUser, client_ip, redirect, render, requires, send_mail, user
from web.pagination import paginate
from web.sessions import get_session

TITLES = {Role.OFFICE: "账号管理", Role.COMMISSION: "机构账号管理"}
KINDS = {
    Role.OFFICE: (OrgKind.COMMISSION,),
    Role.COMMISSION: (OrgKind.INSTITUTION, OrgKind.ASSESSOR),
}


def managed_accounts(manager: CurrentUser) -> QuerySet[Account]:
    """The log-ins of the organisations ``manager`` looks after (deleted ones left out)."""
    organisations = Jurisdiction.of(manager).organisations().exclude(status=OrgStatus.DELETED)
    return Account.filter(organisation_id__in=Subquery(organisations.values("id")))


async def reset_password_of(
    request: Request, manager: CurrentUser, account_id: int
) -> tuple[Account, str]:
    """重置密码 of one managed account: its new temporary password (to show once)."""
    account = (
        await managed_accounts(manager).select_related("organisation").get_or_none(id=account_id)
    )
    if account is None:
        raise NotFound()
    organisation = account.organisation
    assert organisation is not None  # managed accounts belong to an organisation
    password, ended = await issue_temporary_password(request, account)
    await audit.record(
        await Account.get(id=manager.account_id),
        "org_password_reset",
        obj=account,
        ip=client_ip(request),
        organisation=organisation.id,
        sessions_ended=ended,
    )
    address = account.email or organisation.contact_email
    if address:
        await send_mail(
            request,
            address,
            "org_password_reset",
            organisation=organisation.name,
            username=account.username,
            manager=manager.display_name,
        )
    return account, password


def base_path(manager: CurrentUser) -> str:
    return f"/{manager.role.value}/accounts"


async def account_list(request: Request) -> Response:
    manager = user(request)
    params = request.query_params
    chosen = {k: params.get(k, "").strip()[:50] for k in ("q", "kind")}
    kinds = KINDS[manager.role]
    qs = managed_accounts(manager).select_related("organisation")
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
    account, password = await reset_password_of(request, manager, request.path_params["account_id"])
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
