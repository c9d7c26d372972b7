"""【个人资料】: what a physician may change and when; rejected → staging → resubmit → approved."""

from __future__ import annotations

import httpx

from models.enums import OrgKind, RegistrationStatus, StagingReason
from models.ops import AuditLog
from models.org import Account
from models.physician import Physician
from tests import factories
from tests.helpers import csrf_of, login

DETAILS = {
    "title": "副主任医师",
    "licence_number": "110650100000999",
    "email": "new-address@example.com",
    "mobile": "15999990000",
}


async def post(client: httpx.AsyncClient, path: str, data: dict[str, str]) -> httpx.Response:
    token = await csrf_of(client, "/physician/profile")
    return await client.post(path, data={**data, "csrf_token": token})


async def test_approved_physician_updates_title_and_contact(
    client: httpx.AsyncClient, db: None
) -> None:
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    await login(client, doc.id_number)
    page = await client.get("/physician/profile")
    assert "如需更换个人照片请联系执业机构" in page.text
    assert 'name="practice_scope"' not in page.text and "重新提交注册" not in page.text

    response = await post(
        client,
        "/physician/profile",
        {**DETAILS, "practice_category": "口腔", "practice_scope": "口腔专业"},
    )
    assert response.status_code == 303
    doc = await Physician.get(id=doc.id)
    assert (doc.title, doc.email, doc.mobile) == ("副主任医师", DETAILS["email"], DETAILS["mobile"])
    assert doc.practice_scope == "内科专业"  # not changeable after approval
    assert (await Account.get(id=doc.account_id)).email == DETAILS["email"]
    entry = await AuditLog.get(action="profile_updated", object_id=doc.id)
    assert entry.detail["before"]["title"] == "主治医师"
    assert "个人资料已保存" in (await client.get("/physician/profile")).text


async def test_bad_contact_is_explained_and_nothing_saved(
    client: httpx.AsyncClient, db: None
) -> None:
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    await login(client, doc.id_number)
    response = await post(client, "/physician/profile", {**DETAILS, "mobile": "123"})
    assert response.status_code == 400 and "11位手机号码" in response.text
    assert (await Physician.get(id=doc.id)).mobile == doc.mobile


async def test_rejected_resubmits_to_the_right_institution_and_is_approved(
    client: httpx.AsyncClient, db: None
) -> None:
    """One form: the corrected scope and contact details go with the resubmission."""
    wrong = await factories.organisation(OrgKind.INSTITUTION, "653100")
    right, right_acct = await factories.org_with_account(OrgKind.INSTITUTION, "653100")
    doc = await factories.physician(wrong, RegistrationStatus.PENDING)
    await Physician.filter(id=doc.id).update(
        registration_status=RegistrationStatus.REJECTED,
        institution_id=None,
        previous_institution_id=wrong.id,
        staging_reason=StagingReason.REJECTED,
        rejection_reason="非本机构医师",
        practice_scope="眼耳鼻咽喉科专业",
    )
    await login(client, doc.id_number)
    page = await client.get("/physician/profile")
    assert "非本机构医师" in page.text and "重新提交注册" in page.text
    assert page.text.count('<form method="post" action="/physician/profile"') == 1
    assert "/physician/profile/resubmit" not in page.text

    edits = {**DETAILS, "practice_category": "临床", "practice_scope": "外科专业"}
    missing = await post(client, "/physician/profile", edits)
    assert missing.status_code == 400 and "请选择所属地" in missing.text

    place = {
        "prefecture": str(right.prefecture_id),
        "county": str(right.county_id),
        "institution": str(right.id),
    }
    response = await post(client, "/physician/profile", {**edits, **place})
    assert response.status_code == 303
    doc = await Physician.get(id=doc.id)
    assert doc.registration_status == RegistrationStatus.PENDING
    assert doc.institution_id == right.id and doc.staging_reason is None
    assert (doc.practice_scope, doc.title, doc.email) == (
        "外科专业",
        "副主任医师",
        DETAILS["email"],
    )
    assert "注册审核中" in (await client.get("/")).text

    client.cookies.clear()
    await login(client, right_acct.username)
    token = await csrf_of(client, "/institution/registrations")
    await client.post(
        f"/institution/registrations/{doc.id}/review",
        data={"decision": "approve", "csrf_token": token},
    )
    assert (await Physician.get(id=doc.id)).registration_status == RegistrationStatus.APPROVED
    actions = [
        e.action
        async for e in AuditLog.filter(object_type="physician", object_id=doc.id).order_by("id")
    ]
    assert actions[-2:] == ["registration_resubmitted", "registration_approved"]


async def test_pending_physician_corrects_the_institution_before_review(
    client: httpx.AsyncClient, db: None
) -> None:
    wrong, wrong_acct = await factories.org_with_account(OrgKind.INSTITUTION)
    right, right_acct = await factories.org_with_account(OrgKind.INSTITUTION)
    doc = await factories.physician(wrong, RegistrationStatus.PENDING)
    await login(client, doc.id_number)
    page = await client.get("/physician/profile")
    assert 'name="institution"' in page.text and "审核前可更正" in page.text
    place = {
        "prefecture": str(right.prefecture_id),
        "county": str(right.county_id),
        "institution": str(right.id),
    }
    data = {**DETAILS, "practice_category": "临床", "practice_scope": "内科专业", **place}
    assert (await post(client, "/physician/profile", data)).status_code == 303
    doc = await Physician.get(id=doc.id)
    assert doc.institution_id == right.id
    assert doc.registration_status == RegistrationStatus.PENDING
    assert "请等待其审核" in (await client.get("/physician/profile")).text
    entry = await AuditLog.get(action="registration_institution_changed", object_id=doc.id)
    assert entry.detail["institution"] == right.id

    # The registration is now in the right institution's queue, not the wrong one's.
    for acct, listed in ((wrong_acct, False), (right_acct, True)):
        client.cookies.clear()
        await login(client, acct.username)
        queue = await client.get("/institution/registrations")
        assert (doc.name in queue.text) is listed


async def test_no_institution_change_once_approved(client: httpx.AsyncClient, db: None) -> None:
    inst = await factories.organisation(OrgKind.INSTITUTION)
    other = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    await login(client, doc.id_number)
    assert 'name="institution"' not in (await client.get("/physician/profile")).text
    place = {
        "prefecture": str(other.prefecture_id),
        "county": str(other.county_id),
        "institution": str(other.id),
    }
    response = await post(client, "/physician/profile", {**DETAILS, **place})
    assert response.status_code == 303
    assert (await Physician.get(id=doc.id)).institution_id == inst.id


async def test_pending_physician_may_still_fix_the_scope(
    client: httpx.AsyncClient, db: None
) -> None:
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst, RegistrationStatus.PENDING)
    await login(client, doc.id_number)
    place = {
        "prefecture": str(inst.prefecture_id),
        "county": str(inst.county_id),
        "institution": str(inst.id),
    }
    data = {**DETAILS, **place, "practice_category": "中医", "practice_scope": "维医专业"}
    assert (await post(client, "/physician/profile", data)).status_code == 303
    assert (await Physician.get(id=doc.id)).practice_scope == "维医专业"
    wrong = {**DETAILS, **place, "practice_category": "口腔", "practice_scope": "维医专业"}
    response = await post(client, "/physician/profile", wrong)
    assert response.status_code == 400 and "对应" in response.text
