"""rules.transfers, called directly: the old institution files, the new one decides."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from core.errors import CONFLICT, Conflict, DomainError, NotFound
from models.enums import OrgKind, RegistrationStatus, ReviewStatus
from models.physician import Physician
from rules import transfers
from tests import factories
from tests.rules.rule_checks import actor_of, mail_to, mailer_of, trail


async def test_request_then_approve_moves_the_physician(app: Starlette, db: None) -> None:
    mailer = mailer_of(app)
    old, _ = await factories.org_with_account(OrgKind.INSTITUTION, "650100")
    new, _ = await factories.org_with_account(OrgKind.INSTITUTION, "653100", name="新的医院")
    doc = await factories.physician(old)
    sender, receiver = await actor_of(old), await actor_of(new)

    with pytest.raises(DomainError, match="不能是本机构"):
        await transfers.request(sender, doc.id_number, old.id)
    transfer = await transfers.request(sender, doc.id_number, new.id)
    assert transfer.status == ReviewStatus.PENDING and transfer.requested_by_id == sender.account_id
    with pytest.raises(DomainError, match="已有待审核的调出申请"):
        await transfers.request(sender, doc.id_number, new.id)

    with pytest.raises(NotFound):  # only the target institution decides
        await transfers.decide(sender, transfer.id, True, "", mailer=mailer)
    done = await transfers.decide(receiver, transfer.id, True, "", mailer=mailer)
    assert done.status == ReviewStatus.APPROVED and done.reviewed_by_id == receiver.account_id
    moved = await Physician.get(id=doc.id)
    assert (moved.institution_id, moved.prefecture_id, moved.previous_institution_id) == (
        new.id,
        new.prefecture_id,
        old.id,
    )
    assert await trail(transfer) == [
        ("transfer_requested", "", "pending"),
        ("transfer_approved", "pending", "approved"),
    ]
    (mail,) = await mail_to(doc.email)
    assert "新的医院" in mail.body

    with pytest.raises(Conflict) as late:
        await transfers.decide(receiver, transfer.id, False, "晚了", mailer=mailer)
    assert late.value.message == CONFLICT and len(await mail_to(doc.email)) == 1


async def test_reject_needs_a_reason_and_keeps_the_physician(app: Starlette, db: None) -> None:
    mailer = mailer_of(app)
    old, _ = await factories.org_with_account(OrgKind.INSTITUTION)
    new, _ = await factories.org_with_account(OrgKind.INSTITUTION)
    doc = await factories.physician(old)
    transfer = await transfers.request(await actor_of(old), doc.id_number, new.id)
    receiver = await actor_of(new)
    with pytest.raises(DomainError, match="请填写不同意调入的原因"):
        await transfers.decide(receiver, transfer.id, False, " ", mailer=mailer)
    done = await transfers.decide(receiver, transfer.id, False, "编制已满", mailer=mailer)
    assert done.status == ReviewStatus.REJECTED and done.reason == "编制已满"
    assert (await Physician.get(id=doc.id)).institution_id == old.id


async def test_only_approved_physicians_of_the_sender(db: None) -> None:
    old, _ = await factories.org_with_account(OrgKind.INSTITUTION)
    new = await factories.organisation(OrgKind.INSTITUTION)
    pending = await factories.physician(old, RegistrationStatus.PENDING)
    elsewhere = await factories.physician(new)
    for doc in (pending, elsewhere):
        with pytest.raises(DomainError, match="没有该身份证号的在册医师"):
            await transfers.request(await actor_of(old), doc.id_number, new.id)
