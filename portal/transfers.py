"""【人员机构管理】: 【人员调出申请】 by the old institution, 【人员调入审核】 by the new one.

The physician moves only when the target institution approves; the Transfer rows keep the
history. Each step is audited and the decision is mailed to the physician
(``rules.transfers``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.errors import DomainError, NotFound
from core.idcard import IdNumberError, parse_id_number
from core.numbers import as_int
from models.enums import OrgKind, OrgStatus, ReviewStatus, Role
from models.org import Organisation
from models.physician import Transfer
from portal.account import requires_info
from portal.acting import actor
from rules import transfers
from rules.jurisdiction import Jurisdiction
from web.endpoint import (
    fragment,
    mailer,
    redirect,
    render,
    requires,
    user,
)
from web.pagination import paginate
from web.sessions import get_session


@requires(Role.INSTITUTION)
@requires_info
async def outgoing(request: Request) -> Response:
    sender = user(request)
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        target = values.get("target", "")
        try:
            await transfers.request(
                actor(request), values.get("id_number", ""), as_int(target) or 0
            )
        except DomainError as exc:
            errors[exc.field or "id_number"] = exc.message
        else:
            get_session(request).flash("调出申请已提交，等待调入机构审核。")
            return redirect(request, "/institution/transfers/out")
    qs = Transfer.filter(from_institution_id=sender.organisation_id).select_related(
        "physician", "to_institution"
    )
    context = {
        "page": await paginate(request, qs.order_by("-id")),
        "errors": errors,
        "values": values,
    }
    return render(
        request, "institution/transfers_out.html", context, status_code=400 if errors else 200
    )


@requires(Role.INSTITUTION)
@fragment("/institution/transfers/out")
async def lookup(request: Request) -> Response:
    """htmx: the physician behind an ID number, shown for confirmation before 提交."""
    sender = user(request)
    raw = request.query_params.get("id_number", "")
    context: dict[str, object] = {"values": {}, "errors": {}}
    try:
        number = parse_id_number(raw).number
        context["found"] = await Jurisdiction.of(sender).physicians().get_or_none(id_number=number)
        context["looked_up"] = True
    except IdNumberError as exc:
        context["lookup_error"] = str(exc) if raw.strip() else ""
    return render(request, "institution/transfers_out.html", context, block="lookup")


@requires(Role.INSTITUTION)
@fragment("/institution/transfers/out")
async def targets(request: Request) -> Response:
    """htmx: institutions of the region whose name matches, for the target list."""
    q = request.query_params.get("q", "").strip()[:30]
    found = []
    if q:
        found = (
            await Organisation.filter(
                kind=OrgKind.INSTITUTION, status=OrgStatus.ACTIVE, name__icontains=q
            )
            .exclude(id=user(request).organisation_id)
            .select_related("prefecture")
            .limit(30)
        )
    context = {"targets": found, "values": {}, "errors": {}}
    return render(request, "institution/transfers_out.html", context, block="target_options")


@requires(Role.INSTITUTION)
@requires_info
async def incoming(request: Request) -> Response:
    qs = Transfer.filter(
        to_institution_id=user(request).organisation_id, status=ReviewStatus.PENDING
    ).select_related("physician", "from_institution")
    page = await paginate(request, qs.order_by("id"))
    return render(request, "institution/transfers_in.html", {"page": page})


@requires(Role.INSTITUTION)
@requires_info
async def decide(request: Request) -> Response:
    form = await request.form()
    decision = str(form.get("decision", ""))
    if decision not in ("approve", "reject"):
        raise DomainError("请选择审核结果")
    try:
        transfer = await transfers.decide(
            actor(request),
            request.path_params["transfer_id"],
            decision == "approve",
            str(form.get("reason", "")),
            mailer=mailer(request),
        )
    except NotFound:
        raise
    except DomainError as exc:
        get_session(request).flash(exc.message, "error")
    else:
        verdict = "已同意调入" if transfer.status == ReviewStatus.APPROVED else "已拒绝调入"
        get_session(request).flash(f"{verdict}，结果已邮件通知医师。")
    return redirect(request, "/institution/transfers/in")


routes = [
    Route("/institution/transfers/out", outgoing, methods=["GET", "POST"]),
    Route("/institution/transfers/lookup", lookup),
    Route("/institution/transfers/targets", targets),
    Route("/institution/transfers/in", incoming),
    Route("/institution/transfers/{transfer_id:int}/review", decide, methods=["POST"]),
]
