"""rules.registration, called directly: registering, the institution's review, the profile
edit that resubmits a rejected registration."""

from __future__ import annotations

from datetime import date

import pytest
from starlette.applications import Starlette

from core.errors import CONFLICT, Conflict, DomainError, NotFound
from core.idcard import make_id_number
from models.enums import OrgKind, RegistrationStatus, Sex, StagingReason
from models.ops import AuditLog
from models.org import Account, County, Organisation
from models.physician import Physician
from rules import registration
from rules.actor import Actor
from rules.registration import ProfileEdit, Registration
from tests import factories
from tests.rules.rule_checks import actor_of, mail_to, mailer_of, physician_actor, trail


async def form(institution: Organisation, id_number: str, email: str) -> Registration:
    county = await County.get(id=institution.county_id).prefetch_related("prefecture")
    return Registration(
        name="阿依古丽·买买提",
        id_number=id_number,
        sex=Sex.FEMALE,
        birth_date=date(1985, 3, 4),
        prefecture=county.prefecture,
        county=county,
        institution=institution,
        practice_category="临床",
        practice_scope="内科专业",
        title="主治医师",
        licence_number="110650000000001",
        email=email,
        mobile="13800000000",
        password="unused-here",
        photo=b"",
    )


async def test_register_then_the_same_number_again(app: Starlette, db: None) -> None:
    mailer = mailer_of(app)
    inst = await factories.organisation(OrgKind.INSTITUTION)
    number = make_id_number("650102", date(1985, 3, 4), 802)
    visitor = Actor.anonymous("198.51.100.7")

    made = await registration.register(
        visitor, await form(inst, number, "new@example.com"), "hash", mailer=mailer
    )
    assert made is not None and made.registration_status == RegistrationStatus.PENDING
    assert made.institution_id == inst.id
    entry = await AuditLog.get(object_type="physician", object_id=made.id)
    assert (entry.action, entry.to_state, entry.actor_label, entry.ip) == (
        "registration_submitted",
        "pending",
        number,
        "198.51.100.7",
    )

    again = await registration.register(
        visitor, await form(inst, number, "other@example.com"), "hash", mailer=mailer
    )
    assert again is None and await Account.filter(username=number).count() == 1
    assert not await mail_to("other@example.com")  # never the address typed in the form
    (told,) = await mail_to("new@example.com")
    assert "已注册" in told.subject + told.body
    duplicate = await AuditLog.get(action="registration_duplicate", object_id=made.account_id)
    assert duplicate.actor_label == "匿名访客" and duplicate.actor_id is None


async def test_review_approves_rejects_and_one_decision_wins(app: Starlette, db: None) -> None:
    mailer = mailer_of(app)
    inst, _ = await factories.org_with_account(OrgKind.INSTITUTION, name="规则测试医院")
    reviewer = await actor_of(inst)
    yes = await factories.physician(inst, RegistrationStatus.PENDING)
    no = await factories.physician(inst, RegistrationStatus.PENDING)

    approved = await registration.review(reviewer, yes.id, True, "", mailer=mailer)
    assert approved.registration_status == RegistrationStatus.APPROVED and approved.reviewed_at
    assert await trail(yes) == [("registration_approved", "pending", "approved")]
    (mail,) = await mail_to(yes.email)
    assert "规则测试医院" in mail.body

    with pytest.raises(Conflict) as late:
        await registration.review(reviewer, yes.id, False, "晚了", mailer=mailer)
    assert late.value.message == CONFLICT
    assert len(await trail(yes)) == 1 and len(await mail_to(yes.email)) == 1

    with pytest.raises(DomainError, match="请填写不通过的原因"):
        await registration.review(reviewer, no.id, False, "  ", mailer=mailer)
    with pytest.raises(DomainError, match="不能超过500字"):
        await registration.review(reviewer, no.id, False, "长" * 501, mailer=mailer)
    rejected = await registration.review(reviewer, no.id, False, "非本机构医师", mailer=mailer)
    assert rejected.registration_status == RegistrationStatus.REJECTED
    assert rejected.institution_id is None and rejected.previous_institution_id == inst.id
    assert rejected.staging_reason == StagingReason.REJECTED
    assert rejected.rejection_reason == "非本机构医师"


async def test_review_outside_the_jurisdiction_is_not_found(app: Starlette, db: None) -> None:
    mailer = mailer_of(app)
    mine, _ = await factories.org_with_account(OrgKind.INSTITUTION)
    other = await factories.organisation(OrgKind.INSTITUTION)
    theirs = await factories.physician(other, RegistrationStatus.PENDING)
    with pytest.raises(NotFound):
        await registration.review(await actor_of(mine), theirs.id, True, "", mailer=mailer)
    assert (await Physician.get(id=theirs.id)).registration_status == RegistrationStatus.PENDING


async def test_a_rejected_registration_resubmits_with_the_profile(db: None) -> None:
    wrong = await factories.organisation(OrgKind.INSTITUTION)
    right = await factories.organisation(OrgKind.INSTITUTION, name="正确的医院")
    doc = await factories.physician(wrong, RegistrationStatus.PENDING)
    await Physician.filter(id=doc.id).update(
        registration_status=RegistrationStatus.REJECTED, institution_id=None
    )
    doc = await Physician.get(id=doc.id)
    me = await physician_actor(doc)
    edit = ProfileEdit(
        "副主任医师", doc.licence_number, "moved@example.com", doc.mobile, "临床", "外科专业", right
    )

    stale = await Physician.get(id=doc.id)
    action = await registration.update_profile(me, doc, edit, photo_replaced=False)
    assert action == "registration_resubmitted"
    doc = await Physician.get(id=doc.id)
    assert (doc.registration_status, doc.institution_id, doc.title) == (
        RegistrationStatus.PENDING,
        right.id,
        "副主任医师",
    )
    assert (await Account.get(id=doc.account_id)).email == "moved@example.com"
    assert await trail(doc) == [("registration_resubmitted", "rejected", "pending")]

    # A second save from the page read before: the status it saw no longer holds.
    with pytest.raises(Conflict):
        await registration.update_profile(me, stale, edit, photo_replaced=False)
    assert len(await trail(doc)) == 1
