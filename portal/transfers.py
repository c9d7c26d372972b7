"""【人员机构管理】: 【人员调出申请】 by the old institution, 【人员调入审核】 by the new one.

The physician moves only when the target institution approves; the Transfer rows keep the
history. Each step is audited and the decision is mailed to the physician.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.errors import Conflict, DomainError, NotFound
from core.idcard import IdNumberError, id_number_field, parse_id_number
from core.numbers import as_int
from models.enums import OrgKind, OrgStatus, RegistrationStatus, ReviewStatus, Role
from models.org import Account, Organisation
from models.physician import Filing, Physician, Transfer
from portal.account import requires_info
from rules import audit
from rules.jurisdiction import Jurisdiction
from web.endpoint import (
    CurrentUser,
    client_ip,
    fragment,
    redirect,
    render,
    requires,
    send_mail,
    user,
)
from web.pagination import paginate
from web.sessions import get_session


async def request_transfer(
    request: Request, sender: CurrentUser, id_number: str, target_id: int
) -> Transfer:
    number = id_number_field(id_number)
    physician = await Jurisdiction.of(sender).physicians().get_or_none(id_number=number)
    if physician is None or physician.registration_status != RegistrationStatus.APPROVED:
        raise DomainError("本机构没有该身份证号的在册医师", field="id_number")
    if target_id == sender.organisation_id:
        raise DomainError("调入机构不能是本机构", field="target")
    target = await Organisation.get_or_none(
        id=target_id, kind=OrgKind.INSTITUTION, status=OrgStatus.ACTIVE
    )
    if target is None:
        raise DomainError("请从列表中选择调入的执业机构", field="target")
    if await Transfer.exists(physician_id=physician.id, status=ReviewStatus.PENDING):
        raise DomainError("该医师已有待审核的调出申请", field="id_number")
    if await Filing.exists(physician_id=physician.id, status=ReviewStatus.PENDING):
        raise DomainError("该医师有待备案的暂存区申请，备案完成前不能调出", field="id_number")
    actor = await Account.get(id=sender.account_id)
    transfer = await Transfer.create(
        physician=physician,
        from_institution_id=sender.organisation_id,
        to_institution=target,
        requested_by=actor,
    )
    await audit.record(
        actor,
        "transfer_requested",
        obj=transfer,
        to_state="pending",
        ip=client_ip(request),
        physician=physician.id,
        target=target.id,
    )
    return transfer


async def decide_transfer(
    request: Request, receiver: CurrentUser, transfer_id: int, approve: bool, reason: str
) -> Transfer:
    """The target institution approves (the physician moves) or rejects. One decision wins."""
    reason = reason.strip()[:500]
    if not approve and not reason:
        raise DomainError("请填写不同意调入的原因", field="reason")
    transfer = await Transfer.get_or_none(
        id=transfer_id, to_institution_id=receiver.organisation_id
    )
    if transfer is None:
        raise NotFound()
    now = datetime.now(UTC)
    changed = await Transfer.filter(id=transfer.id, status=ReviewStatus.PENDING).update(
        status=ReviewStatus.APPROVED if approve else ReviewStatus.REJECTED,
        reviewed_by_id=receiver.account_id,
        reviewed_at=now,
        reason=reason,
    )
    if not changed:
        raise Conflict("该调入申请已被处理，请刷新页面查看最新状态")
    target = await Organisation.get(id=receiver.organisation_id)
    if approve:
        await Physician.filter(id=transfer.physician_id).update(
            institution_id=target.id,
            prefecture_id=target.prefecture_id,
            county_id=target.county_id,
            previous_institution_id=transfer.from_institution_id,
        )
    await transfer.refresh_from_db()
    await audit.record(
        await Account.get(id=receiver.account_id),
        "transfer_approved" if approve else "transfer_rejected",
        obj=transfer,
        from_state="pending",
        to_state=transfer.status.value,
        reason=reason,
        ip=client_ip(request),
    )
    physician = await Physician.get(id=transfer.physician_id)
    await send_mail(
        request,
        physician.email,
        "transfer_result",
        name=physician.name,
        approved=approve,
        institution=target.name,
        reason=reason,
    )
    return transfer


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
            await request_transfer(
                request, sender, values.get("id_number", ""), as_int(target) or 0
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
        transfer = await decide_transfer(
            request,
            user(request),
            request.path_params["transfer_id"],
            decision == "approve",
            str(form.get("reason", "")),
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
