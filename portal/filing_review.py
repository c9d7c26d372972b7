"""备案审核: the regional office approves or rejects the commissions' filings.

A filing takes effect only here: the institution is added (with its log-in account) or
deleted (its accounts disabled), the physician goes into or out of the staging area. The
conditions are checked again at decision time, inside the same transaction as the
conditional status change, so one decision wins and a stale filing cannot break the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.expressions import Case, When
from tortoise.transactions import in_transaction

from core.errors import Conflict, DomainError, NotFound
from core.numbers import as_int
from models.enums import FilingKind, OrgKind, OrgStatus, RegistrationStatus, ReviewStatus, Role
from models.org import Account, County, Organisation, Prefecture
from models.physician import Filing, Physician, Transfer
from portal.auth import temporary_password
from rules import audit
from web.endpoint import CurrentUser, client_ip, redirect, render, requires, send_mail, user
from web.pagination import paginate
from web.sessions import get_session

GROUPS: dict[str, tuple[str, tuple[FilingKind, ...]]] = {
    "institutions": ("执业机构备案", (FilingKind.INSTITUTION_ADD, FilingKind.INSTITUTION_DELETE)),
    "staging": ("暂存区备案", (FilingKind.STAGING_IN, FilingKind.STAGING_OUT)),
}
STILL_STAFFED = "该执业机构内仍有个人信息留存，无法进行删除！"


def group_of(kind: FilingKind) -> str:
    return next(name for name, (_, kinds) in GROUPS.items() if kind in kinds)


async def new_username(county_id: int) -> str:
    """``jg`` + county code + a two-digit sequence, the scheme the seeded accounts use."""
    county = await County.get(id=county_id)
    prefix = f"jg{county.code}"
    taken = set(
        await Account.filter(username__startswith=prefix).values_list("username", flat=True)
    )
    sequence = 1
    while f"{prefix}{sequence:02d}" in taken:
        sequence += 1
    return f"{prefix}{sequence:02d}"


async def _pending_out_to(institution_id: int) -> bool:
    return await Filing.exists(
        kind=FilingKind.STAGING_OUT, status=ReviewStatus.PENDING, institution_id=institution_id
    )


async def _apply(filing: Filing, approve: bool, password_hash: str) -> dict[str, Any]:
    """Carry out an approved filing, or undo what a rejected one reserved. Raises DomainError
    (the caller's transaction rolls back) when the filing can no longer take effect."""
    effects: dict[str, Any] = {}
    commission = await Organisation.get(id=filing.commission_id)
    match filing.kind:
        case FilingKind.INSTITUTION_ADD:
            assert filing.institution_id is not None
            org = await Organisation.get(id=filing.institution_id)
            if org.status != OrgStatus.PENDING_ADD:
                raise Conflict("该执业机构已不在新增待备案状态")
            if not approve:
                await Organisation.filter(id=org.id).update(status=OrgStatus.DELETED)
                return effects
            duplicate = await Organisation.filter(
                kind=OrgKind.INSTITUTION,
                prefecture_id=org.prefecture_id,
                name=org.name,
                status__in=[OrgStatus.ACTIVE, OrgStatus.PENDING_DELETE],
            ).exists()
            if duplicate:
                raise DomainError("该地（州、市）已有同名的执业机构，请不通过此申请")
            assert org.county_id is not None
            username = await new_username(org.county_id)
            await Organisation.filter(id=org.id).update(status=OrgStatus.ACTIVE)
            account = await Account.create(
                username=username,
                role=Role.INSTITUTION,
                organisation=org,
                password_hash=password_hash,
                display_name=org.name,
                password_changed_at=datetime.now(UTC),
                must_change_password=True,  # the temporary password shown to the office
            )
            effects.update(username=username, account_id=account.id)
        case FilingKind.INSTITUTION_DELETE:
            assert filing.institution_id is not None
            org = await Organisation.get(id=filing.institution_id)
            if org.status != OrgStatus.PENDING_DELETE:
                raise Conflict("该执业机构已不在删除待备案状态")
            if not approve:
                await Organisation.filter(id=org.id).update(status=OrgStatus.ACTIVE)
                return effects
            if await Physician.exists(institution_id=org.id):
                raise DomainError(STILL_STAFFED)
            if await _pending_out_to(org.id):
                raise DomainError("有待备案的调出暂存区申请以该机构为调入机构，请先审核该申请")
            await Organisation.filter(id=org.id).update(status=OrgStatus.DELETED)
            accounts = await Account.filter(organisation_id=org.id).values_list("id", flat=True)
            await Account.filter(organisation_id=org.id).update(is_active=False)
            # Nobody can approve a move into a deleted institution any more.
            cancelled = await Transfer.filter(
                to_institution_id=org.id, status=ReviewStatus.PENDING
            ).values_list("id", flat=True)
            await Transfer.filter(id__in=list(cancelled)).update(
                status=ReviewStatus.REJECTED, reason="调入机构已删除", reviewed_at=datetime.now(UTC)
            )
            effects.update(accounts=list(accounts), transfers_cancelled=list(cancelled))
        case FilingKind.STAGING_IN:
            if not approve:
                return effects
            doc = await Physician.get(id=filing.physician_id)
            if doc.institution_id is None:
                raise DomainError("该医师已在暂存区")
            if doc.prefecture_id != commission.prefecture_id:
                raise DomainError("该医师已不在申请单位所辖地（州、市）执业，请不通过此申请")
            if await Transfer.exists(physician_id=doc.id, status=ReviewStatus.PENDING):
                raise DomainError("该医师有待审核的人员调出申请，请待调入机构处理后再审核")
            await Physician.filter(id=doc.id).update(
                institution_id=None,
                staging_reason=filing.staging_reason,
                previous_institution_id=doc.institution_id,
            )
            effects.update(from_institution=doc.institution_id)
        case FilingKind.STAGING_OUT:
            if not approve:
                return effects
            doc = await Physician.get(id=filing.physician_id)
            if doc.institution_id is not None:
                raise DomainError("该医师已不在暂存区，请不通过此申请")
            target = await Organisation.get_or_none(
                id=filing.institution_id or 0,
                kind=OrgKind.INSTITUTION,
                status=OrgStatus.ACTIVE,
                prefecture_id=commission.prefecture_id,
            )
            if target is None:
                raise DomainError("调入的执业机构已不是正常状态，请不通过此申请")
            moved: dict[str, Any] = {}
            if doc.registration_status == RegistrationStatus.REJECTED:
                # A registration rejected by the wrong institution goes to the right one.
                moved = {
                    "registration_status": RegistrationStatus.PENDING,
                    "submitted_at": datetime.now(UTC),
                }
            await Physician.filter(id=doc.id).update(
                institution_id=target.id,
                prefecture_id=target.prefecture_id,
                county_id=target.county_id,
                staging_reason=None,
                **moved,
            )
            effects.update(to_institution=target.id, registration_resubmitted=bool(moved))
    return effects


@dataclass(frozen=True)
class Decision:
    filing: Filing
    username: str = ""  # a new institution's log-in
    password: str = ""  # and its temporary password, shown once, never stored in clear


async def decide_filing(
    request: Request, office: CurrentUser, filing_id: int, approve: bool, reason: str
) -> Decision:
    """Approve or reject one filing. One decision wins: the loser gets Conflict."""
    reason = reason.strip()[:500]
    if not approve and not reason:
        raise DomainError("请填写不通过的原因", field="reason")
    filing = await Filing.get_or_none(id=filing_id)
    if filing is None:
        raise NotFound()
    if filing.status != ReviewStatus.PENDING:
        raise Conflict("该备案申请已被处理，请刷新页面查看最新状态")
    password = ""
    password_hash = ""
    if approve and filing.kind == FilingKind.INSTITUTION_ADD:
        password = temporary_password()
        password_hash = await request.app.state.hasher.hash(password)
    status = ReviewStatus.APPROVED if approve else ReviewStatus.REJECTED
    async with in_transaction():
        changed = await Filing.filter(id=filing.id, status=ReviewStatus.PENDING).update(
            status=status,
            reviewed_by_id=office.account_id,
            reviewed_at=datetime.now(UTC),
            decision_reason=reason,
        )
        if not changed:
            raise Conflict("该备案申请已被处理，请刷新页面查看最新状态")
        effects = await _apply(filing, approve, password_hash)
    for account_id in effects.get("accounts", []):
        await request.app.state.sessions.end_all(account_id)
    await filing.refresh_from_db()
    actor = await Account.get(id=office.account_id)
    await audit.record(
        actor,
        "filing_approved" if approve else "filing_rejected",
        obj=filing,
        from_state=ReviewStatus.PENDING.value,
        to_state=status.value,
        reason=reason,
        ip=client_ip(request),
        kind=filing.kind.value,
        **effects,
    )
    for transfer_id in effects.get("transfers_cancelled", []):
        await audit.record(
            actor,
            "transfer_rejected",
            obj=await Transfer.get(id=transfer_id),
            from_state=ReviewStatus.PENDING.value,
            to_state=ReviewStatus.REJECTED.value,
            reason="调入机构已删除",
            ip=client_ip(request),
        )
    username = effects.get("username", "")
    await _mail_commission(request, filing, username)
    return Decision(filing, username, password)


def subject_of(filing: Filing) -> str:
    """What the filing is about, in words (needs institution and physician fetched)."""
    if filing.physician is not None:
        return f"{filing.physician.name}（{filing.physician.masked_id_number}）"
    return filing.institution.name if filing.institution else ""


async def _mail_commission(request: Request, filing: Filing, username: str) -> None:
    await filing.fetch_related("commission", "institution", "physician")
    email = filing.commission.contact_email
    if not email:
        return
    await send_mail(
        request,
        email,
        "filing_result",
        commission=filing.commission.name,
        kind=filing.kind.label,
        subject=subject_of(filing),
        approved=filing.status == ReviewStatus.APPROVED,
        reason=filing.decision_reason,
        username=username,
    )


async def _listing(request: Request, group: str, errors: dict[int, str]) -> dict[str, Any]:
    title, kinds = GROUPS[group]
    params = request.query_params
    chosen = {
        "status": params.get("status", ReviewStatus.PENDING.value),
        "kind": params.get("kind", ""),
        "prefecture": params.get("prefecture", ""),
    }
    qs = Filing.filter(kind__in=list(kinds))
    if chosen["status"] in ReviewStatus._value2member_map_:
        qs = qs.filter(status=chosen["status"])
    else:
        chosen["status"] = ""
    if chosen["kind"] in [k.value for k in kinds]:
        qs = qs.filter(kind=chosen["kind"])
    if (prefecture := as_int(chosen["prefecture"])) is not None:
        qs = qs.filter(commission__prefecture_id=prefecture)
    qs = qs.annotate(
        waiting=Case(When(status=ReviewStatus.PENDING, then="0"), default="1")
    ).select_related(
        "commission__prefecture",
        "institution__county",
        "institution__assessor",
        "physician__institution",
        "reviewed_by",
    )
    ordering = ("id",) if chosen["status"] == ReviewStatus.PENDING else ("waiting", "-id")
    page = await paginate(request, qs.order_by(*ordering))
    ids = [f.institution_id for f in page.items if f.kind == FilingKind.INSTITUTION_DELETE]
    staffed = set(
        await Physician.filter(institution_id__in=ids).values_list("institution_id", flat=True)
    )
    return {
        "group": group,
        "title": title,
        "kinds": kinds,
        "page": page,
        "chosen": chosen,
        "query": "".join(f"&{k}={quote(v)}" for k, v in chosen.items()),
        "statuses": ReviewStatus,
        "prefectures": await Prefecture.all(),
        "staffed": staffed,
        "errors": errors,
        "Kind": FilingKind,
    }


@requires(Role.OFFICE)
async def filing_list(request: Request) -> Response:
    group = request.url.path.rsplit("/", 1)[1]
    context = await _listing(request, group, {})
    return render(request, "office/filings.html", context, block="results")


@requires(Role.OFFICE)
async def decide(request: Request) -> Response:
    form = await request.form()
    filing_id = request.path_params["filing_id"]
    filing = await Filing.get_or_none(id=filing_id)
    if filing is None:
        raise NotFound()
    group = group_of(filing.kind)
    back = f"/office/filings/{group}"
    session = get_session(request)
    decision = str(form.get("decision", ""))
    try:
        if decision not in ("approve", "reject"):
            raise DomainError("请选择审核结果", field="decision")
        done = await decide_filing(
            request, user(request), filing_id, decision == "approve", str(form.get("reason", ""))
        )
    except Conflict as exc:
        session.flash(exc.message, "error")
        return redirect(request, back)
    except DomainError as exc:
        # Shown next to the filing's form, and on top in case it is not on the first page.
        context = await _listing(request, group, {filing_id: exc.message})
        await filing.fetch_related("institution", "physician")
        context["error"] = f"「{subject_of(filing)}」{filing.kind.label}：{exc.message}"
        return render(request, "office/filings.html", context, status_code=400)
    filing = done.filing
    verdict = "备案已通过" if filing.status == ReviewStatus.APPROVED else "备案未通过"
    text = f"「{subject_of(filing)}」{filing.kind.label}{verdict}。"
    if done.password:
        text += (
            f"机构登录账号：{done.username}，临时密码：{done.password}"
            "（仅显示一次，请告知申请的地、州、市卫生健康委，登录后立即修改密码）。"
        )
    session.flash(text)
    return redirect(request, back)


routes = [
    Route("/office/filings/institutions", filing_list),
    Route("/office/filings/staging", filing_list),
    Route("/office/filings/{filing_id:int}/review", decide, methods=["POST"]),
]
