"""rules.filings and rules.filing_review, called directly: a commission files, the office
decides, the effect happens with the decision or not at all."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from core.errors import CONFLICT, Conflict, DomainError
from models.enums import FilingKind, OrgKind, OrgStatus, ReviewStatus, StagingReason
from models.ops import AuditLog
from models.org import Account, County, Organisation
from models.physician import Filing, Physician, Transfer
from rules import filing_review, filings
from rules.actor import Actor
from tests import factories
from tests.rules.rule_checks import actor_of, mail_to, mailer_of, trail


async def prefecture(code: str) -> tuple[Actor, Actor, Organisation, Organisation]:
    """The commission and the office as actors, the commission, and an assessment body."""
    commission, _ = await factories.org_with_account(OrgKind.COMMISSION, code)
    office, _ = await factories.org_with_account(OrgKind.OFFICE)
    assessor = await factories.organisation(OrgKind.ASSESSOR, code)
    return await actor_of(commission), await actor_of(office), commission, assessor


async def test_add_approved_creates_the_account(app: Starlette, db: None) -> None:
    mailer = mailer_of(app)
    filer, office, commission, assessor = await prefecture("652300")
    county = await County.filter(prefecture_id=commission.prefecture_id).first()
    assert county is not None
    form = {"name": "规则新增医院", "county": str(county.id), "assessor": str(assessor.id)}
    assert await filings.request_add(filer, dict(form)) == {}
    assert (await filings.request_add(filer, dict(form)))[
        "name"
    ] == "本地（州、市）已有同名的执业机构"
    org = await Organisation.get(name="规则新增医院")
    assert org.status == OrgStatus.PENDING_ADD
    filing = await Filing.get(institution_id=org.id)

    done = await filing_review.decide(
        office, filing.id, True, "", mailer=mailer, hasher=app.state.hasher
    )
    assert done.filing.status == ReviewStatus.APPROVED and done.username.startswith("jg")
    account = await Account.get(username=done.username)
    assert account.must_change_password and account.organisation_id == org.id
    assert await app.state.hasher.verify(account.password_hash, done.password)
    assert (await Organisation.get(id=org.id)).status == OrgStatus.ACTIVE
    assert await trail(filing) == [
        ("filing_requested", "", "pending"),
        ("filing_approved", "pending", "approved"),
    ]
    entry = await AuditLog.get(object_type="filing", object_id=filing.id, action="filing_approved")
    assert entry.detail["username"] == done.username and entry.detail["kind"] == "institution_add"
    (mail,) = await mail_to(commission.contact_email)
    assert done.username in mail.body and done.password not in mail.body

    with pytest.raises(Conflict) as late:
        await filing_review.decide(
            office, filing.id, False, "晚了", mailer=mailer, hasher=app.state.hasher
        )
    assert late.value.message == CONFLICT


async def test_delete_all_or_none_then_approved(app: Starlette, db: None) -> None:
    mailer = mailer_of(app)
    filer, office, _, assessor = await prefecture("650400")
    staffed = await factories.organisation(OrgKind.INSTITUTION, "650400", assessor=assessor)
    await factories.physician(staffed)
    empty, empty_account = await factories.org_with_account(
        OrgKind.INSTITUTION, "650400", assessor=assessor
    )
    with pytest.raises(filings.StillStaffed) as refused:
        await filings.request_delete(filer, [staffed.id, empty.id])
    assert refused.value.names == [staffed.name]
    assert not await Filing.exists(institution_id=empty.id)

    (filing,) = await filings.request_delete(filer, [empty.id])
    assert (await Organisation.get(id=empty.id)).status == OrgStatus.PENDING_DELETE
    mover = await factories.physician(staffed)
    waiting = await Transfer.create(
        physician=mover, from_institution=staffed, to_institution=empty, requested_by=empty_account
    )
    done = await filing_review.decide(
        office, filing.id, True, "", mailer=mailer, hasher=app.state.hasher
    )
    assert done.disabled == [empty_account.id]
    assert not (await Account.get(id=empty_account.id)).is_active
    assert await trail(waiting) == [("transfer_rejected", "pending", "rejected")]
    assert (await Transfer.get(id=waiting.id)).reason == filing_review.DELETED_TARGET


async def test_a_failed_effect_leaves_the_filing_pending(app: Starlette, db: None) -> None:
    """The office approves a staging-in while a transfer of the physician waits: the effect
    refuses inside the transaction, and the filing's status, audit row and mail roll back."""
    mailer = mailer_of(app)
    filer, office, commission, _ = await prefecture("652900")
    inst, inst_account = await factories.org_with_account(OrgKind.INSTITUTION, "652900")
    other = await factories.organisation(OrgKind.INSTITUTION, "653100")
    doc = await factories.physician(inst)
    filing = await filings.request_staging_in(filer, doc.id_number, StagingReason.RETIRED.value)
    await Transfer.create(
        physician=doc, from_institution=inst, to_institution=other, requested_by=inst_account
    )
    with pytest.raises(DomainError, match="待审核的人员调出申请"):
        await filing_review.decide(
            office, filing.id, True, "", mailer=mailer, hasher=app.state.hasher
        )
    assert (await Filing.get(id=filing.id)).status == ReviewStatus.PENDING
    assert await trail(filing) == [("filing_requested", "", "pending")]
    assert not await mail_to(commission.contact_email)
    assert (await Physician.get(id=doc.id)).institution_id == inst.id

    await Transfer.filter(physician_id=doc.id).delete()
    done = await filing_review.decide(
        office, filing.id, True, "", mailer=mailer, hasher=app.state.hasher
    )
    assert done.filing.status == ReviewStatus.APPROVED
    staged = await Physician.get(id=doc.id)
    assert staged.institution_id is None and staged.staging_reason == StagingReason.RETIRED
    assert len(await mail_to(commission.contact_email)) == 1


async def test_staging_out_and_a_direct_edit(app: Starlette, db: None) -> None:
    mailer = mailer_of(app)
    filer, office, _, assessor = await prefecture("654200")
    target = await factories.organisation(OrgKind.INSTITUTION, "654200", assessor=assessor)
    doc = await factories.physician(None)
    await Physician.filter(id=doc.id).update(prefecture_id=target.prefecture_id)
    with pytest.raises(DomainError, match="请选择本地"):
        await filings.request_staging_out(filer, doc.id, 0)
    filing = await filings.request_staging_out(filer, doc.id, target.id)
    assert filing.kind == FilingKind.STAGING_OUT
    with pytest.raises(DomainError, match="请填写不通过的原因"):
        await filing_review.decide(
            office, filing.id, False, "", mailer=mailer, hasher=app.state.hasher
        )
    await filing_review.decide(office, filing.id, True, "", mailer=mailer, hasher=app.state.hasher)
    assert (await Physician.get(id=doc.id)).institution_id == target.id

    second = await factories.organisation(OrgKind.ASSESSOR, "654200")
    values = {"name": "改名后的医院", "assessor": str(second.id)}
    assert await filings.update_institution(filer, target, values) == {}
    renamed = await Organisation.get(id=target.id)
    assert (renamed.name, renamed.assessor_id) == ("改名后的医院", second.id)
    assert await trail(renamed) == [("institution_updated", "", "")]
    await Organisation.filter(id=target.id).update(status=OrgStatus.PENDING_DELETE)
    with pytest.raises(Conflict):  # read as active, no longer so
        await filings.update_institution(filer, renamed, {**values, "name": "又一个名字"})
