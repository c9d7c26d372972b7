"""人员调出 and 人员调入: a physician's move between institutions.

The old institution files the ID number and the target; the physician moves only when the
target institution approves. The Transfer rows keep the history; each step is audited and
the decision is mailed to the physician.
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.errors import DomainError, NotFound
from core.idcard import id_number_field
from core.mail import Letter, Mailer
from models.enums import OrgKind, OrgStatus, RegistrationStatus, ReviewStatus
from models.org import Organisation
from models.physician import Filing, Physician, Transfer
from rules import audit
from rules.actor import Actor
from rules.transition import create, transition


async def request(sender: Actor, id_number: str, target_id: int) -> Transfer:
    """【人员调出申请】: the physician's institution asks ``target_id`` to take them."""
    number = id_number_field(id_number)
    physician = await sender.jurisdiction.physicians().get_or_none(id_number=number)
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
    return await create(
        sender,
        Transfer,
        action="transfer_requested",
        values={
            "physician": physician,
            "from_institution_id": sender.organisation_id,
            "to_institution": target,
            "requested_by_id": sender.account_id,
        },
        to_state=ReviewStatus.PENDING,
        detail={"physician": physician.id, "target": target.id},
    )


async def decide(
    receiver: Actor, transfer_id: int, approve: bool, reason: str, *, mailer: Mailer
) -> Transfer:
    """【人员调入审核】: the target institution approves (the physician moves) or rejects.
    One decision wins."""
    reason = audit.clean_reason(reason, required="" if approve else "请填写不同意调入的原因")
    transfer = await Transfer.get_or_none(
        id=transfer_id, to_institution_id=receiver.organisation_id
    )
    if transfer is None:
        raise NotFound()
    target = await Organisation.get(id=transfer.to_institution_id)
    physician = await Physician.get(id=transfer.physician_id)

    async def move(done: Transfer) -> None:
        if approve:
            await Physician.filter(id=done.physician_id).update(
                institution_id=target.id,
                prefecture_id=target.prefecture_id,
                county_id=target.county_id,
                previous_institution_id=done.from_institution_id,
            )

    return await transition(
        receiver,
        transfer,
        action="transfer_approved" if approve else "transfer_rejected",
        from_states=[ReviewStatus.PENDING],
        to_state=ReviewStatus.APPROVED if approve else ReviewStatus.REJECTED,
        values={
            "reviewed_by_id": receiver.account_id,
            "reviewed_at": datetime.now(UTC),
            "reason": reason,
        },
        reason=reason,
        then=move,
        letters=[
            Letter(
                physician.email,
                "transfer_result",
                {
                    "name": physician.name,
                    "approved": approve,
                    "institution": target.name,
                    "reason": reason,
                },
            )
        ],
        mailer=mailer,
    )
