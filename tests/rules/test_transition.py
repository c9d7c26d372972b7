"""transition() and create(): the conditional update, its audit row and its mail commit
together or not at all; one conflict message; one cap on a reason."""

from __future__ import annotations

import asyncio

import pytest
from jinja2 import DictLoader, Environment
from starlette.applications import Starlette
from tortoise.queryset import QuerySet

from core.errors import CONFLICT, Conflict, DomainError
from core.mail import WAKE_KEY, Letter, Mailer
from core.settings import Settings
from models.enums import OrgKind, ReviewStatus
from models.ops import AuditLog, OutboxMail
from models.physician import Physician, Transfer
from rules import audit
from rules.actor import Actor
from rules.transition import Effects, create, event, transition
from tests import factories


async def pending_transfer() -> tuple[Transfer, Actor]:
    """A transfer waiting for its target institution, and that institution as the actor."""
    old, old_account = await factories.org_with_account(OrgKind.INSTITUTION)
    new, new_account = await factories.org_with_account(OrgKind.INSTITUTION, "653100")
    doc = await factories.physician(old)
    transfer = await Transfer.create(
        physician=doc, from_institution=old, to_institution=new, requested_by=old_account
    )
    return transfer, await Actor.of(new_account, "198.51.100.4")


def trail(transfer: Transfer) -> QuerySet[AuditLog]:
    return AuditLog.filter(object_type="transfer", object_id=transfer.id)


async def test_a_transition_writes_state_audit_and_mail(app: Starlette, settings: Settings) -> None:
    transfer, actor = await pending_transfer()
    mailer = Mailer.for_settings(settings, app.state.redis)
    await app.state.redis.delete(WAKE_KEY)
    letter = Letter(
        "doc@example.com",
        "transfer_result",
        {"name": "测试医师", "approved": False, "institution": "某医院", "reason": "不符合"},
    )
    mails_before = await OutboxMail.all().count()

    done = await transition(
        actor,
        transfer,
        action="transfer_rejected",
        from_states=[ReviewStatus.PENDING],
        to_state=ReviewStatus.REJECTED,
        values={"reason": "不符合", "reviewed_by_id": actor.account_id},
        reason="  不符合  ",
        letters=[letter],
        mailer=mailer,
        detail={"note": 1},
    )

    assert done.status == ReviewStatus.REJECTED and done.reason == "不符合"
    entry = await AuditLog.get(object_type="transfer", object_id=transfer.id)
    assert (entry.action, entry.from_state, entry.to_state) == (
        "transfer_rejected",
        "pending",
        "rejected",
    )
    assert (entry.actor_id, entry.actor_label, entry.ip) == (
        actor.account_id,
        actor.label,
        "198.51.100.4",
    )
    assert entry.reason == "不符合" and entry.detail == {"note": 1}
    assert await OutboxMail.all().count() == mails_before + 1
    mail = await OutboxMail.all().order_by("-id").first()
    assert mail is not None and mail.to == "doc@example.com" and "不符合" in mail.body
    assert await app.state.redis.llen(WAKE_KEY) == 1  # woken after the commit


async def test_the_loser_gets_the_one_conflict_and_writes_nothing(
    app: Starlette, settings: Settings
) -> None:
    transfer, actor = await pending_transfer()
    mailer = Mailer.for_settings(settings)
    letter = Letter("doc@example.com", "transfer_result", {"name": "某", "approved": True})
    mails_before = await OutboxMail.all().count()

    async def decide(to_state: ReviewStatus) -> Transfer:
        return await transition(
            actor,
            await Transfer.get(id=transfer.id),
            action=f"transfer_{to_state.value}",
            from_states=[ReviewStatus.PENDING],
            to_state=to_state,
            letters=[letter],
            mailer=mailer,
        )

    outcomes = await asyncio.gather(
        decide(ReviewStatus.APPROVED), decide(ReviewStatus.REJECTED), return_exceptions=True
    )
    conflicts = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(conflicts) == 1 and conflicts[0].message == CONFLICT
    assert await trail(transfer).count() == 1
    assert await OutboxMail.all().count() == mails_before + 1


async def test_a_row_outside_where_is_a_conflict(app: Starlette) -> None:
    transfer, actor = await pending_transfer()
    with pytest.raises(Conflict):
        await transition(
            actor,
            transfer,
            action="transfer_approved",
            from_states=[ReviewStatus.PENDING],
            to_state=ReviewStatus.APPROVED,
            where={"to_institution_id": -1},
        )
    await transfer.refresh_from_db()
    assert transfer.status == ReviewStatus.PENDING
    assert not await trail(transfer).exists()


async def test_a_failure_after_the_update_leaves_nothing_half_done(
    app: Starlette, settings: Settings
) -> None:
    """The outbox insert fails (its template cannot be rendered) after the update, the work of
    ``then`` and the audit row: everything is rolled back."""
    transfer, actor = await pending_transfer()
    broken = Mailer(Environment(loader=DictLoader({})), settings.public_url, app.state.redis)
    await app.state.redis.delete(WAKE_KEY)
    mails_before = await OutboxMail.all().count()

    async def move(row: Transfer) -> Effects:
        await Physician.filter(id=row.physician_id).update(institution_id=row.to_institution_id)
        return Effects(detail={"moved": True})

    with pytest.raises(Exception, match="transfer_result"):
        await transition(
            actor,
            transfer,
            action="transfer_approved",
            from_states=[ReviewStatus.PENDING],
            to_state=ReviewStatus.APPROVED,
            then=move,
            letters=[Letter("doc@example.com", "transfer_result")],
            mailer=broken,
        )

    await transfer.refresh_from_db()
    assert transfer.status == ReviewStatus.PENDING
    doc = await Physician.get(id=transfer.physician_id)
    assert doc.institution_id == transfer.from_institution_id
    assert not await trail(transfer).exists()
    assert await OutboxMail.all().count() == mails_before
    assert await app.state.redis.llen(WAKE_KEY) == 0


async def test_a_failure_in_then_rolls_back_the_update(app: Starlette) -> None:
    transfer, actor = await pending_transfer()

    async def refuse(row: Transfer) -> None:
        raise DomainError("调入机构已不是正常状态")

    with pytest.raises(DomainError, match="正常状态"):
        await transition(
            actor,
            transfer,
            action="transfer_approved",
            from_states=[ReviewStatus.PENDING],
            to_state=ReviewStatus.APPROVED,
            then=refuse,
        )
    await transfer.refresh_from_db()
    assert transfer.status == ReviewStatus.PENDING
    assert not await trail(transfer).exists()


async def test_one_cap_on_a_reason(app: Starlette) -> None:
    transfer, actor = await pending_transfer()
    assert audit.clean_reason("  有理由 ") == "有理由"
    assert audit.clean_reason("x" * audit.REASON_MAX) == "x" * audit.REASON_MAX
    with pytest.raises(DomainError, match=f"不能超过{audit.REASON_MAX}字"):
        audit.clean_reason("x" * (audit.REASON_MAX + 1))
    with pytest.raises(DomainError, match="请填写原因") as missing:
        audit.clean_reason(" ", required="请填写原因")
    assert missing.value.field == "reason"
    with pytest.raises(DomainError, match="不能超过"):
        await transition(
            actor,
            transfer,
            action="transfer_rejected",
            from_states=[ReviewStatus.PENDING],
            to_state=ReviewStatus.REJECTED,
            reason="x" * (audit.REASON_MAX + 1),
        )
    await transfer.refresh_from_db()
    assert transfer.status == ReviewStatus.PENDING


async def test_letters_need_a_mailer(app: Starlette) -> None:
    transfer, actor = await pending_transfer()
    with pytest.raises(ValueError, match="no mailer"):
        await transition(
            actor,
            transfer,
            action="transfer_approved",
            from_states=[ReviewStatus.PENDING],
            to_state=ReviewStatus.APPROVED,
            letters=[Letter("doc@example.com", "transfer_result")],
        )
    await transfer.refresh_from_db()
    assert transfer.status == ReviewStatus.PENDING


async def test_create_is_atomic_too(app: Starlette) -> None:
    transfer, actor = await pending_transfer()
    values = {
        "physician_id": transfer.physician_id,
        "from_institution_id": transfer.from_institution_id,
        "to_institution_id": transfer.to_institution_id,
        "requested_by_id": transfer.requested_by_id,
    }
    made = await create(
        actor, Transfer, action="transfer_requested", values=values, to_state="pending"
    )
    entry = await AuditLog.get(object_type="transfer", object_id=made.id)
    assert (entry.action, entry.to_state, entry.actor_label) == (
        "transfer_requested",
        "pending",
        actor.label,
    )

    async def fail(row: Transfer) -> None:
        raise DomainError("不行")

    count = await Transfer.all().count()
    with pytest.raises(DomainError):
        await create(actor, Transfer, action="transfer_requested", values=values, then=fail)
    assert await Transfer.all().count() == count


async def test_an_event_and_its_work_commit_together(app: Starlette) -> None:
    """``event(then=)``: an edit or deletion that moves no state column, with its audit row."""
    transfer, actor = await pending_transfer()

    async def move_and_fail() -> Effects:
        await Physician.filter(id=transfer.physician_id).update(institution_id=None)
        raise DomainError("不行")

    with pytest.raises(DomainError):
        await event(actor, "transfer_edited", obj=transfer, then=move_and_fail)
    doc = await Physician.get(id=transfer.physician_id)
    assert doc.institution_id == transfer.from_institution_id
    assert not await trail(transfer).exists()

    async def move() -> Effects:
        await Physician.filter(id=transfer.physician_id).update(institution_id=None)
        return Effects(detail={"moved": True})

    await event(actor, "transfer_edited", obj=transfer, then=move, detail={"why": "测试"})
    entry = await trail(transfer).get()
    assert entry.action == "transfer_edited" and entry.detail == {"why": "测试", "moved": True}
    assert (await Physician.get(id=transfer.physician_id)).institution_id is None


async def test_an_actor_of_each_kind(app: Starlette) -> None:
    org, account = await factories.org_with_account(OrgKind.INSTITUTION, name="某某医院")
    doc = await factories.physician(org)
    institution = await Actor.of(account, "192.0.2.1")
    assert (institution.organisation_id, institution.prefecture_id) == (org.id, org.prefecture_id)
    assert institution.display_name == "某某医院" and institution.address == "192.0.2.1"
    assert await institution.jurisdiction.physicians().filter(id=doc.id).exists()
    physician = await Actor.of(await doc.account)
    assert (physician.physician_id, physician.display_name) == (doc.id, doc.name)
    visitor = Actor.anonymous("192.0.2.9")
    assert visitor.account_id is None and visitor.label == "匿名访客"
    assert not await visitor.jurisdiction.physicians().exists()
