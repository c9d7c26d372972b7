"""【注册审核】: the institution approves or rejects; rejected physicians go to the staging area;
each decision is audited and mailed; others get 404; two decisions: one wins."""

from __future__ import annotations

import re

import httpx
from starlette.applications import Starlette

from core.settings import Settings
from models.enums import OrgKind, RegistrationStatus, StagingReason
from models.ops import AuditLog, OutboxMail
from models.physician import Physician
from tests import factories
from tests.face_helpers import photo
from tests.helpers import csrf_of, login, table_rows


async def decide(
    client: httpx.AsyncClient, physician_id: int, decision: str, reason: str = ""
) -> httpx.Response:
    token = await csrf_of(client, "/institution/registrations")
    return await client.post(
        f"/institution/registrations/{physician_id}/review",
        data={"decision": decision, "reason": reason, "csrf_token": token},
    )


async def test_approve_and_reject(client: httpx.AsyncClient, db: None) -> None:
    inst, acct = await factories.org_with_account(
        OrgKind.INSTITUTION, name="阿克苏地区第一人民医院"
    )
    yes = await factories.physician(inst, RegistrationStatus.PENDING, name="热依拉·吐尔逊")
    no = await factories.physician(inst, RegistrationStatus.PENDING, name="王小明")
    done = await factories.physician(inst, RegistrationStatus.APPROVED, name="已通过医师")
    await login(client, acct.username)

    listing = await client.get("/institution/registrations")
    assert "热依拉·吐尔逊" in listing.text and "王小明" in listing.text
    assert "已通过医师" not in listing.text
    assert done

    approved = await decide(client, yes.id, "approve")
    assert approved.status_code == 303
    assert "审核通过" in (await client.get("/institution/registrations")).text
    yes = await Physician.get(id=yes.id)
    assert yes.registration_status == RegistrationStatus.APPROVED and yes.reviewed_at

    missing_reason = await decide(client, no.id, "reject", "  ")
    assert missing_reason.status_code == 303
    assert "请填写不通过的原因" in (await client.get("/institution/registrations")).text
    assert (await Physician.get(id=no.id)).registration_status == RegistrationStatus.PENDING

    await decide(client, no.id, "reject", "非本机构执业医师，请重新选择执业机构")
    no = await Physician.get(id=no.id)
    assert no.registration_status == RegistrationStatus.REJECTED
    assert no.institution_id is None and no.previous_institution_id == inst.id
    assert no.staging_reason == StagingReason.REJECTED
    assert no.rejection_reason == "非本机构执业医师，请重新选择执业机构"

    entries = await AuditLog.filter(
        action__startswith="registration_", object_id__in=[yes.id, no.id]
    ).order_by("id")
    assert [(e.action, e.to_state, e.reason) for e in entries] == [
        ("registration_approved", "approved", ""),
        ("registration_rejected", "rejected", "非本机构执业医师，请重新选择执业机构"),
    ]
    assert all(e.actor_id == acct.id for e in entries)
    mails = {m.to: m for m in await OutboxMail.filter(to__in=[yes.email, no.email])}
    assert (
        "已通过" in mails[yes.email].subject and "阿克苏地区第一人民医院" in mails[yes.email].body
    )
    assert "未通过" in mails[no.email].subject and "暂存区" in mails[no.email].body
    assert "http://testserver/login" in mails[no.email].body

    client.cookies.clear()
    await login(client, no.id_number)
    home = await client.get("/")
    assert "注册审核未通过" in home.text and "非本机构执业医师" in home.text


async def test_deciding_twice_one_wins(client: httpx.AsyncClient, db: None) -> None:
    inst, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    doc = await factories.physician(inst, RegistrationStatus.PENDING)
    await login(client, acct.username)
    await decide(client, doc.id, "approve")
    late = await decide(client, doc.id, "reject", "晚到的决定")
    assert late.status_code == 303
    assert "已被处理" in (await client.get("/institution/registrations")).text
    assert (await Physician.get(id=doc.id)).registration_status == RegistrationStatus.APPROVED
    assert await AuditLog.filter(object_id=doc.id, action__startswith="registration_").count() == 1


async def test_other_institutions_and_roles_are_refused(
    client: httpx.AsyncClient, db: None
) -> None:
    mine, _ = await factories.org_with_account(OrgKind.INSTITUTION)
    _, other = await factories.org_with_account(OrgKind.INSTITUTION)
    doc = await factories.physician(mine, RegistrationStatus.PENDING, name="别家医师")
    await login(client, other.username)
    assert "别家医师" not in (await client.get("/institution/registrations")).text
    assert (await decide(client, doc.id, "approve")).status_code == 404
    assert (await client.get(f"/physicians/{doc.id}/photo")).status_code == 404
    assert (await Physician.get(id=doc.id)).registration_status == RegistrationStatus.PENDING

    client.cookies.clear()
    _, assessor = await factories.org_with_account(OrgKind.ASSESSOR)
    await login(client, assessor.username)
    assert (await client.get("/institution/registrations")).status_code == 403


async def test_photo_is_served_inside_the_jurisdiction_only(
    client: httpx.AsyncClient, app: Starlette, settings: Settings, db: None
) -> None:
    inst, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    doc = await factories.physician(inst, RegistrationStatus.PENDING)
    target = settings.media_path / "photos" / f"{doc.id}-test.jpg"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(photo("obama.jpg"))
    doc.photo = f"photos/{doc.id}-test.jpg"
    await doc.save()
    await login(client, acct.username)
    served = await client.get(f"/physicians/{doc.id}/photo")
    assert served.status_code == 200 and served.content == photo("obama.jpg")
    client.cookies.clear()
    await login(client, doc.id_number)
    assert (await client.get(f"/physicians/{doc.id}/photo")).status_code == 200


async def test_pending_list_is_paginated_and_searchable(
    client: httpx.AsyncClient, db: None
) -> None:
    inst, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    for n in range(12):
        await factories.physician(inst, RegistrationStatus.PENDING, name=f"待审医师{n:02d}")
    await login(client, acct.username)
    first = await client.get("/institution/registrations")
    assert first.text.count('class="review"') == 10 and "共 12 条" in first.text
    second = await client.get("/institution/registrations?page=2")
    assert second.text.count('class="review"') == 2
    found = await client.get("/institution/registrations", params={"q": "待审医师05"})
    assert re.findall(r"<h2>(待审医师\d+)</h2>", found.text) == ["待审医师05"]
    assert table_rows(found.text) == []
