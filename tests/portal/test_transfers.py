"""人员调出申请 → 人员调入审核: approved (the physician moves, history kept) or rejected."""

from __future__ import annotations

import httpx

from models.enums import FilingKind, OrgKind, RegistrationStatus, ReviewStatus, StagingReason
from models.ops import AuditLog, OutboxMail
from models.physician import Filing, Physician, Transfer
from tests import factories
from tests.helpers import csrf_of, login


async def send(client: httpx.AsyncClient, id_number: str, target: int) -> httpx.Response:
    token = await csrf_of(client, "/institution/transfers/out")
    return await client.post(
        "/institution/transfers/out",
        data={"id_number": id_number, "target": str(target), "csrf_token": token},
    )


async def decide(
    client: httpx.AsyncClient, transfer_id: int, decision: str, reason: str = ""
) -> httpx.Response:
    token = await csrf_of(client, "/institution/transfers/in")
    return await client.post(
        f"/institution/transfers/{transfer_id}/review",
        data={"decision": decision, "reason": reason, "csrf_token": token},
    )


async def test_transfer_out_and_in(client: httpx.AsyncClient, db: None) -> None:
    old, old_acct = await factories.org_with_account(OrgKind.INSTITUTION, "650100")
    new, new_acct = await factories.org_with_account(
        OrgKind.INSTITUTION, "653100", name="喀什地区第一人民医院"
    )
    doc = await factories.physician(old, name="艾力·买买提")
    await login(client, old_acct.username)
    shown = await client.get(
        "/institution/transfers/lookup",
        params={"id_number": doc.id_number},
        headers={"HX-Request": "true"},
    )
    assert "艾力·买买提" in shown.text
    listed = await client.get(
        "/institution/transfers/targets", params={"q": "喀什"}, headers={"HX-Request": "true"}
    )
    assert "喀什地区第一人民医院" in listed.text and old.name not in listed.text

    assert (await send(client, doc.id_number, old.id)).status_code == 400  # same institution
    assert (await send(client, doc.id_number, new.id)).status_code == 303
    again = await send(client, doc.id_number, new.id)
    assert again.status_code == 400 and "待审核的调出申请" in again.text
    transfer = await Transfer.get(physician_id=doc.id)

    client.cookies.clear()
    await login(client, new_acct.username)
    assert "艾力·买买提" in (await client.get("/institution/transfers/in")).text
    await decide(client, transfer.id, "approve")
    doc = await Physician.get(id=doc.id)
    assert doc.institution_id == new.id and doc.previous_institution_id == old.id
    assert doc.prefecture_id == new.prefecture_id
    late = await decide(client, transfer.id, "reject", "晚了")
    assert late.status_code == 303
    assert "已被处理" in (await client.get("/institution/transfers/in")).text
    assert (await Transfer.get(id=transfer.id)).status == ReviewStatus.APPROVED
    mine = AuditLog.filter(object_type="transfer", object_id=transfer.id).order_by("id")
    actions = [e.action async for e in mine]
    assert actions == ["transfer_requested", "transfer_approved"]
    assert await OutboxMail.filter(to=doc.email, subject__contains="已完成").exists()

    client.cookies.clear()
    await login(client, new_acct.username)
    assert doc.name in (await client.get("/physicians")).text
    client.cookies.clear()
    await login(client, old_acct.username)
    assert (await client.get(f"/physicians/{doc.id}")).status_code == 404
    assert "喀什地区第一人民医院" in (await client.get("/institution/transfers/out")).text


async def test_rejected_transfer_leaves_the_physician(client: httpx.AsyncClient, db: None) -> None:
    old, old_acct = await factories.org_with_account(OrgKind.INSTITUTION)
    new, new_acct = await factories.org_with_account(OrgKind.INSTITUTION)
    doc = await factories.physician(old)
    await login(client, old_acct.username)
    await send(client, doc.id_number, new.id)
    transfer = await Transfer.get(physician_id=doc.id)
    client.cookies.clear()
    await login(client, new_acct.username)
    await decide(client, transfer.id, "reject")
    assert "请填写不同意调入的原因" in (await client.get("/institution/transfers/in")).text
    await decide(client, transfer.id, "reject", "本机构无此人员")
    assert (await Physician.get(id=doc.id)).institution_id == old.id
    assert (await Transfer.get(id=transfer.id)).status == ReviewStatus.REJECTED


async def test_bad_requests_change_nothing(client: httpx.AsyncClient, db: None) -> None:
    mine, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    other, other_acct = await factories.org_with_account(OrgKind.INSTITUTION)
    third = await factories.organisation(OrgKind.INSTITUTION)
    theirs = await factories.physician(other)
    pending = await factories.physician(mine, RegistrationStatus.PENDING)
    await login(client, acct.username)
    for number in (theirs.id_number, pending.id_number):
        response = await send(client, number, third.id)
        assert response.status_code == 400 and "本机构没有该身份证号的在册医师" in response.text
    bad = await send(client, "653121198403091350", third.id)
    assert bad.status_code == 400 and "校验位" in bad.text
    assert not await Transfer.filter(physician_id__in=[theirs.id, pending.id]).exists()

    transfer = await Transfer.create(
        physician=theirs,
        from_institution=other,
        to_institution=third,
        requested_by=other_acct,
    )
    assert (await decide(client, transfer.id, "approve")).status_code == 404
    assert (await Transfer.get(id=transfer.id)).status == ReviewStatus.PENDING


async def test_no_transfer_while_staging_waits(client: httpx.AsyncClient, db: None) -> None:
    mine, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    target = await factories.organisation(OrgKind.INSTITUTION)
    commission, commission_acct = await factories.org_with_account(OrgKind.COMMISSION)
    doc = await factories.physician(mine)
    await Filing.create(
        kind=FilingKind.STAGING_IN,
        commission=commission,
        institution=mine,
        physician=doc,
        staging_reason=StagingReason.RETIRED,
        requested_by=commission_acct,
    )
    await login(client, acct.username)
    refused = await send(client, doc.id_number, target.id)
    assert refused.status_code == 400 and "暂存区申请" in refused.text
    assert not await Transfer.exists(physician_id=doc.id)
