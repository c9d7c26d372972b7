"""备案审核: the regional office approves or rejects the commissions' filings.

A filing takes effect only here: the institution is added (with its log-in account) or
deleted (its accounts disabled), the physician goes into or out of the staging area. The
conditions are checked again at decision time, inside the same transaction as the
conditional status change, its audit row and the commission's mail, so one decision wins
and a stale filing cannot break the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.errors import Conflict, DomainError, NotFound
from core.mail import Letter, Mailer
from core.passwords import Hasher, temporary_password
from models.enums import FilingKind, OrgKind, OrgStatus, RegistrationStatus, ReviewStatus, Role
from models.org import Account, County, Organisation
from models.physician import Filing, Physician, Transfer
from rules import audit
from rules.actor import Actor
from rules.filings import STILL_STAFFED
from rules.transition import Effects, transition

DELETED_TARGET = "调入机构已删除"


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


async def _add(filing: Filing, approve: bool, password_hash: str) -> dict[str, Any]:
    assert filing.institution_id is not None
    org = await Organisation.get(id=filing.institution_id)
    if org.status != OrgStatus.PENDING_ADD:
        raise Conflict("该执业机构已不在新增待备案状态")
    if not approve:
        await Organisation.filter(id=org.id).update(status=OrgStatus.DELETED)
        return {}
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
    return {"username": username, "account_id": account.id}


async def _delete(office: Actor, filing: Filing, approve: bool) -> dict[str, Any]:
    assert filing.institution_id is not None
    org = await Organisation.get(id=filing.institution_id)
    if org.status != OrgStatus.PENDING_DELETE:
        raise Conflict("该执业机构已不在删除待备案状态")
    if not approve:
        await Organisation.filter(id=org.id).update(status=OrgStatus.ACTIVE)
        return {}
    if await Physician.exists(institution_id=org.id):
        raise DomainError(STILL_STAFFED)
    if await _pending_out_to(org.id):
        raise DomainError("有待备案的调出暂存区申请以该机构为调入机构，请先审核该申请")
    await Organisation.filter(id=org.id).update(status=OrgStatus.DELETED)
    accounts = await Account.filter(organisation_id=org.id).values_list("id", flat=True)
    await Account.filter(organisation_id=org.id).update(is_active=False)
    # Nobody can approve a move into a deleted institution any more.
    cancelled = []
    for transfer in await Transfer.filter(to_institution_id=org.id, status=ReviewStatus.PENDING):
        await transition(
            office,
            transfer,
            action="transfer_rejected",
            from_states=[ReviewStatus.PENDING],
            to_state=ReviewStatus.REJECTED,
            values={"reason": DELETED_TARGET, "reviewed_at": datetime.now(UTC)},
            reason=DELETED_TARGET,
        )
        cancelled.append(transfer.id)
    return {"accounts": list(accounts), "transfers_cancelled": cancelled}


async def _staging_in(filing: Filing, commission: Organisation) -> dict[str, Any]:
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
    return {"from_institution": doc.institution_id}


async def _staging_out(filing: Filing, commission: Organisation) -> dict[str, Any]:
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
    return {"to_institution": target.id, "registration_resubmitted": bool(moved)}


async def _apply(
    office: Actor, filing: Filing, approve: bool, password_hash: str
) -> dict[str, Any]:
    """Carry out an approved filing, or undo what a rejected one reserved. Raises DomainError
    (the transaction rolls back) when the filing can no longer take effect."""
    commission = await Organisation.get(id=filing.commission_id)
    match filing.kind:
        case FilingKind.INSTITUTION_ADD:
            return await _add(filing, approve, password_hash)
        case FilingKind.INSTITUTION_DELETE:
            return await _delete(office, filing, approve)
        case FilingKind.STAGING_IN if approve:
            return await _staging_in(filing, commission)
        case FilingKind.STAGING_OUT if approve:
            return await _staging_out(filing, commission)
    return {}


def subject_of(filing: Filing) -> str:
    """What the filing is about, in words (needs institution and physician fetched)."""
    if filing.physician is not None:
        return f"{filing.physician.name}（{filing.physician.masked_id_number}）"
    return filing.institution.name if filing.institution else ""


async def _letters(filing: Filing, username: str) -> list[Letter]:
    """The decision, mailed to the commission that filed it (if it has an address)."""
    await filing.fetch_related("commission", "institution", "physician")
    email = filing.commission.contact_email
    if not email:
        return []
    context = {
        "commission": filing.commission.name,
        "kind": filing.kind.label,
        "subject": subject_of(filing),
        "approved": filing.status == ReviewStatus.APPROVED,
        "reason": filing.decision_reason,
        "username": username,
    }
    return [Letter(email, "filing_result", context)]


@dataclass(frozen=True)
class Decision:
    filing: Filing
    username: str = ""  # a new institution's log-in
    password: str = ""  # and its temporary password, shown once, never stored in clear
    disabled: list[int] = field(default_factory=list)  # accounts of a deleted institution


async def decide(
    office: Actor,
    filing_id: int,
    approve: bool,
    reason: str,
    *,
    mailer: Mailer,
    hasher: Hasher,
) -> Decision:
    """Approve or reject one filing. One decision wins: the loser gets Conflict. The caller
    ends the sessions of ``Decision.disabled`` (they end at their next request anyway)."""
    reason = audit.clean_reason(reason, required="" if approve else "请填写不通过的原因")
    filing = await Filing.get_or_none(id=filing_id)
    if filing is None:
        raise NotFound()
    if filing.status != ReviewStatus.PENDING:
        raise Conflict()
    password = password_hash = ""
    if approve and filing.kind == FilingKind.INSTITUTION_ADD:
        password = temporary_password()
        password_hash = await hasher.hash(password)
    found: dict[str, Any] = {}

    async def take_effect(done: Filing) -> Effects:
        found.update(await _apply(office, done, approve, password_hash))
        return Effects(detail=found, letters=await _letters(done, found.get("username", "")))

    filing = await transition(
        office,
        filing,
        action="filing_approved" if approve else "filing_rejected",
        from_states=[ReviewStatus.PENDING],
        to_state=ReviewStatus.APPROVED if approve else ReviewStatus.REJECTED,
        values={
            "reviewed_by_id": office.account_id,
            "reviewed_at": datetime.now(UTC),
            "decision_reason": reason,
        },
        reason=reason,
        then=take_effect,
        mailer=mailer,
        detail={"kind": filing.kind.value},
    )
    return Decision(filing, found.get("username", ""), password, found.get("accounts", []))
