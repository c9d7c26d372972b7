"""【执业机构管理】, 【特殊人员处理】 and the office's 备案审核, end to end through the app."""

from __future__ import annotations

import asyncio
import re
from datetime import date

import httpx
from starlette.applications import Starlette

from core.idcard import make_id_number
from models.enums import (
    FilingKind,
    OrgKind,
    OrgStatus,
    RegistrationStatus,
    ReviewStatus,
    Role,
    StagingReason,
)
from models.ops import AuditLog, OutboxMail
from models.org import Account, County, Organisation
from models.physician import Filing, Physician, Transfer
from tests import factories
from tests.helpers import csrf_of, login, post_form, table_rows

STILL_STAFFED = "该执业机构内仍有个人信息留存，无法进行删除！"
REPORTED = "机构删除已上报！"


async def commission_of(code: str) -> tuple[Organisation, Account, Organisation]:
    """A prefecture's commission (with its log-in) and one assessment body."""
    commission, acct = await factories.org_with_account(OrgKind.COMMISSION, code)
    assessor = await factories.organisation(OrgKind.ASSESSOR, code)
    return commission, acct, assessor


async def as_user(client: httpx.AsyncClient, username: str) -> None:
    client.cookies.clear()
    await login(client, username)


async def decide(
    client: httpx.AsyncClient, filing: Filing, decision: str, reason: str = ""
) -> httpx.Response:
    group = "institutions" if filing.kind.value.startswith("institution") else "staging"
    token = await csrf_of(client, f"/office/filings/{group}")
    return await client.post(
        f"/office/filings/{filing.id}/review",
        data={"decision": decision, "reason": reason, "csrf_token": token},
    )


async def actions(filing: Filing) -> list[str]:
    found = AuditLog.filter(object_type="filing", object_id=filing.id).order_by("id")
    return [e.action async for e in found]


async def test_add_institution_approved(client: httpx.AsyncClient, db: None) -> None:
    commission, acct, assessor = await commission_of("652300")
    county = await County.filter(prefecture_id=commission.prefecture_id).first()
    assert county is not None
    other_assessor = await factories.organisation(OrgKind.ASSESSOR, "653100")
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    await as_user(client, acct.username)
    form = {"name": "昌吉州第二人民医院", "county": str(county.id), "assessor": str(assessor.id)}

    empty = await post_form(client, "/commission/institutions/add", {})
    assert empty.status_code == 400
    assert "请输入机构名称" in empty.text and "请选择本地（州、市）的考核机构" in empty.text
    foreign = await post_form(
        client, "/commission/institutions/add", {**form, "assessor": str(other_assessor.id)}
    )
    assert foreign.status_code == 400 and "请选择本地（州、市）的考核机构" in foreign.text
    assert not await Organisation.exists(name="昌吉州第二人民医院")

    done = await post_form(client, "/commission/institutions/add", form)
    assert done.status_code == 303
    org = await Organisation.get(name="昌吉州第二人民医院")
    assert org.status == OrgStatus.PENDING_ADD and org.assessor_id == assessor.id
    filing = await Filing.get(institution_id=org.id)
    assert filing.kind == FilingKind.INSTITUTION_ADD and filing.status == ReviewStatus.PENDING
    twice = await post_form(
        client, "/commission/institutions/add", {**form, "name": " 昌吉州第二人民医院 "}
    )
    assert twice.status_code == 400 and "已有同名的执业机构" in twice.text
    listed = await client.get("/commission/institutions", params={"status": "pending_add"})
    assert any(
        "昌吉州第二人民医院" in row and "新增待备案" in row for row in table_rows(listed.text)
    )
    # Not offered to registering physicians until the office approves it.
    options = await client.get("/register/institutions", params={"county": county.id})
    assert "昌吉州第二人民医院" not in options.text

    await as_user(client, office.username)
    queue = await client.get(
        "/office/filings/institutions", params={"prefecture": commission.prefecture_id}
    )
    assert "昌吉州第二人民医院" in queue.text and commission.name in queue.text
    approved = await decide(client, filing, "approve")
    assert approved.status_code == 303
    flash = (await client.get("/office/filings/institutions")).text
    found = re.search(r"机构登录账号：(jg\d{8})，临时密码：([A-Za-z0-9]{10})", flash)
    assert found, flash
    username, password = found.groups()
    assert username == f"jg{county.code}01"
    org = await Organisation.get(id=org.id)
    assert org.status == OrgStatus.ACTIVE
    account = await Account.get(username=username)
    assert account.role == Role.INSTITUTION and account.organisation_id == org.id
    assert password not in account.password_hash
    assert await actions(filing) == ["filing_requested", "filing_approved"]
    mail = await OutboxMail.get(to=commission.contact_email)
    assert "备案已通过" in mail.subject and username in mail.body and password not in mail.body

    client.cookies.clear()  # the new institution logs in with the temporary password
    first = await login(client, username, password)
    assert first.status_code == 303 and first.headers["location"] == "/account/password"
    assert (await client.get("/")).headers["location"] == "/account/password"
    new = {
        "old_password": password,
        "new_password": "Changji2026",
        "confirm_password": "Changji2026",
    }
    assert (await post_form(client, "/account/password", new)).status_code == 303
    assert (await client.get("/")).status_code == 200
    options = await client.get("/register/institutions", params={"county": county.id})
    assert "昌吉州第二人民医院" in options.text
    await as_user(client, acct.username)
    records = table_rows((await client.get("/commission/filings")).text)
    assert any("昌吉州第二人民医院" in row and "已通过" in row for row in records)
    # 申请内容 says what was filed: the new institution, its county and its assessment body.
    filed = f"新增：昌吉州第二人民医院（{county.name}，考核机构：{assessor.name}）"
    assert any(filed in row for row in records), records
    recent = table_rows((await client.get("/commission/institutions/add")).text)
    assert any(filed in row for row in recent), recent


async def test_add_rejected_needs_a_reason_and_one_decision_wins(
    client: httpx.AsyncClient, db: None
) -> None:
    commission, acct, assessor = await commission_of("652700")
    county = await County.filter(prefecture_id=commission.prefecture_id).first()
    assert county is not None
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    await as_user(client, acct.username)
    form = {"name": "博州某诊所", "county": str(county.id), "assessor": str(assessor.id)}
    assert (await post_form(client, "/commission/institutions/add", form)).status_code == 303
    filing = await Filing.get(institution__name="博州某诊所")

    await as_user(client, office.username)
    missing = await decide(client, filing, "reject")
    assert missing.status_code == 400 and "请填写不通过的原因" in missing.text
    assert (await Filing.get(id=filing.id)).status == ReviewStatus.PENDING
    await decide(client, filing, "reject", "该机构无医疗机构执业许可证")
    late = await decide(client, filing, "approve")
    assert late.status_code == 303
    assert "已被处理" in (await client.get("/office/filings/institutions")).text
    filing = await Filing.get(id=filing.id)
    assert filing.status == ReviewStatus.REJECTED
    org = await Organisation.get(id=filing.institution_id)
    assert org.status == OrgStatus.DELETED
    assert not await Account.exists(organisation_id=org.id)
    assert await actions(filing) == ["filing_requested", "filing_rejected"]
    entry = await AuditLog.get(object_type="filing", object_id=filing.id, action="filing_rejected")
    assert entry.from_state == "pending" and entry.to_state == "rejected"
    assert entry.reason == "该机构无医疗机构执业许可证" and entry.ip == "203.0.113.7"

    await as_user(client, acct.username)
    detail = await client.get(f"/commission/filings/{filing.id}")
    assert "未通过" in detail.text and "该机构无医疗机构执业许可证" in detail.text
    # The name is free again once the addition was refused.
    assert (await post_form(client, "/commission/institutions/add", form)).status_code == 303


async def test_concurrent_decisions_one_wins(
    client: httpx.AsyncClient, app: Starlette, db: None
) -> None:
    commission, acct, assessor = await commission_of("652800")
    county = await County.filter(prefecture_id=commission.prefecture_id).first()
    assert county is not None
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    await as_user(client, acct.username)
    form = {"name": "巴州并发医院", "county": str(county.id), "assessor": str(assessor.id)}
    await post_form(client, "/commission/institutions/add", form)
    filing = await Filing.get(institution__name="巴州并发医院")
    await as_user(client, office.username)
    token = await csrf_of(client, "/office/filings/institutions")
    posts = [
        client.post(
            f"/office/filings/{filing.id}/review",
            data={"decision": d, "reason": "并发", "csrf_token": token},
        )
        for d in ("approve", "reject")
    ]
    responses = await asyncio.gather(*posts)
    assert all(r.status_code == 303 for r in responses)
    decided = await AuditLog.filter(
        object_type="filing", object_id=filing.id, action__in=["filing_approved", "filing_rejected"]
    ).count()
    assert decided == 1
    filing = await Filing.get(id=filing.id)
    org = await Organisation.get(id=filing.institution_id)
    accounts = await Account.filter(organisation_id=org.id).count()
    if filing.status == ReviewStatus.APPROVED:
        assert org.status == OrgStatus.ACTIVE and accounts == 1
    else:
        assert org.status == OrgStatus.DELETED and accounts == 0


async def test_delete_institution(client: httpx.AsyncClient, app: Starlette, db: None) -> None:
    _commission, acct, assessor = await commission_of("650400")
    staffed = await factories.organisation(OrgKind.INSTITUTION, "650400", name="吐鲁番有医师医院")
    await factories.physician(staffed)
    empty, empty_acct = await factories.org_with_account(
        OrgKind.INSTITUTION, "650400", name="吐鲁番空医院", assessor=assessor
    )
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    await as_user(client, acct.username)
    page = await client.get("/commission/institutions/delete", params={"q": "吐鲁番"})
    assert "吐鲁番有医师医院" in page.text and "吐鲁番空医院" in page.text

    token = await csrf_of(client, "/commission/institutions/delete")
    both = await client.post(
        "/commission/institutions/delete",
        data={"institution": [str(staffed.id), str(empty.id)], "csrf_token": token},
    )
    assert (
        both.status_code == 400 and STILL_STAFFED in both.text and "吐鲁番有医师医院" in both.text
    )
    assert (await Organisation.get(id=empty.id)).status == OrgStatus.ACTIVE
    assert not await Filing.exists(institution_id__in=[staffed.id, empty.id])
    none = await post_form(client, "/commission/institutions/delete", {})
    assert none.status_code == 400 and "请勾选需要删除的执业机构" in none.text

    done = await post_form(
        client, "/commission/institutions/delete", {"institution": str(empty.id)}
    )
    assert done.status_code == 303
    assert REPORTED in (await client.get("/commission/institutions/delete")).text
    assert (await Organisation.get(id=empty.id)).status == OrgStatus.PENDING_DELETE
    records = table_rows((await client.get("/commission/filings")).text)
    assert any("删除：吐鲁番空医院（" in row and assessor.name in row for row in records), records
    again = await post_form(
        client, "/commission/institutions/delete", {"institution": str(empty.id)}
    )
    assert again.status_code == 400 and "删除待备案" in again.text
    listed = table_rows((await client.get("/commission/institutions")).text)
    assert any("吐鲁番空医院" in row and "删除待备案" in row for row in listed)
    filing = await Filing.get(institution_id=empty.id, kind=FilingKind.INSTITUTION_DELETE)

    # The institution is logged in somewhere when the deletion takes effect.
    transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 50001))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        await login(other, empty_acct.username)
        assert (await other.get("/")).status_code == 200

        # A physician joins meanwhile: the office cannot approve until they are gone.
        newcomer = await factories.physician(empty)
        await as_user(client, office.username)
        refused = await decide(client, filing, "approve")
        assert refused.status_code == 400 and STILL_STAFFED in refused.text
        assert (await Filing.get(id=filing.id)).status == ReviewStatus.PENDING
        await Physician.filter(id=newcomer.id).update(institution_id=staffed.id)
        # A move into the institution is still waiting: it can never be approved now.
        waiting = await Transfer.create(
            physician=newcomer, from_institution=staffed, to_institution=empty, requested_by=acct
        )

        assert (await decide(client, filing, "approve")).status_code == 303
        assert (await Organisation.get(id=empty.id)).status == OrgStatus.DELETED
        assert not (await Account.get(id=empty_acct.id)).is_active
        assert (await other.get("/")).status_code == 303  # its session was ended
    waiting = await Transfer.get(id=waiting.id)
    assert waiting.status == ReviewStatus.REJECTED and waiting.reason == "调入机构已删除"
    assert await AuditLog.exists(object_type="transfer", object_id=waiting.id)
    blocked = await login(client, empty_acct.username)
    assert blocked.status_code == 403 and "已停用" in blocked.text

    # A rejected deletion puts the institution back.
    spare = await factories.organisation(OrgKind.INSTITUTION, "650400", name="吐鲁番备用医院")
    await as_user(client, acct.username)
    await post_form(client, "/commission/institutions/delete", {"institution": str(spare.id)})
    filing = await Filing.get(institution_id=spare.id)
    await as_user(client, office.username)
    await decide(client, filing, "reject", "该机构仍在执业")
    assert (await Organisation.get(id=spare.id)).status == OrgStatus.ACTIVE
    assert await actions(filing) == ["filing_requested", "filing_rejected"]


async def test_edit_institution(client: httpx.AsyncClient, db: None) -> None:
    _commission, acct, assessor = await commission_of("650500")
    second = await factories.organisation(OrgKind.ASSESSOR, "650500", name="哈密第二考核机构")
    foreign = await factories.organisation(OrgKind.ASSESSOR, "653200")
    org, org_acct = await factories.org_with_account(
        OrgKind.INSTITUTION, "650500", name="哈密旧名医院", assessor=assessor
    )
    await factories.organisation(OrgKind.INSTITUTION, "650500", name="哈密另一医院")
    for n in range(22):
        await factories.organisation(OrgKind.INSTITUTION, "650500", name=f"哈密社区卫生服务站{n}")
    await as_user(client, acct.username)
    first = await client.get("/commission/institutions", params={"q": "哈密社区"})
    assert "第 1 / 2 页，共 22 条" in first.text
    assert len(table_rows(first.text)) == 20
    second_page = await client.get(
        "/commission/institutions",
        params={"q": "哈密社区", "page": "2"},
        headers={"HX-Request": "true"},
    )
    assert len(table_rows(second_page.text)) == 2 and "<html" not in second_page.text
    found = await client.get("/commission/institutions", params={"q": "旧名"})
    rows = table_rows(found.text)
    assert len(rows) == 1 and assessor.name in rows[0] and "正常" in rows[0]

    path = f"/commission/institutions/{org.id}"
    taken = await post_form(client, path, {"name": "哈密另一医院", "assessor": str(assessor.id)})
    assert taken.status_code == 400 and "已有同名的执业机构" in taken.text
    wrong = await post_form(client, path, {"name": "哈密新名医院", "assessor": str(foreign.id)})
    assert wrong.status_code == 400 and "请选择本地（州、市）的考核机构" in wrong.text
    assert (await Organisation.get(id=org.id)).name == "哈密旧名医院"

    saved = await post_form(client, path, {"name": "哈密新名医院", "assessor": str(second.id)})
    assert saved.status_code == 303
    org = await Organisation.get(id=org.id)
    assert org.name == "哈密新名医院" and org.assessor_id == second.id
    assert (await Account.get(id=org_acct.id)).display_name == "哈密新名医院"
    entry = await AuditLog.get(object_type="organisation", object_id=org.id)
    assert entry.action == "institution_updated"
    assert entry.detail["before"]["name"] == "哈密旧名医院"
    assert entry.detail["after"]["assessor"] == second.id


async def test_staging_in(client: httpx.AsyncClient, db: None) -> None:
    _commission, acct, _assessor = await commission_of("652900")
    inst = await factories.organisation(OrgKind.INSTITUTION, "652900", name="阿克苏第一医院")
    doc = await factories.physician(inst, name="买买提·艾力")
    outsider = await factories.physician(
        await factories.organisation(OrgKind.INSTITUTION, "653000")
    )
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    await as_user(client, acct.username)
    page = await client.get("/commission/staging/in")
    assert "添加" in page.text and "退休（不再执业）" in page.text
    shown = await client.get(
        "/commission/staging/lookup",
        params={"id_number": doc.id_number},
        headers={"HX-Request": "true"},
    )
    assert (
        "买买提·艾力" in shown.text and "阿克苏第一医院" in shown.text and "<html" not in shown.text
    )
    hidden = await client.get(
        "/commission/staging/lookup",
        params={"id_number": outsider.id_number},
        headers={"HX-Request": "true"},
    )
    assert "没有该身份证号的医师" in hidden.text and outsider.name not in hidden.text

    unknown = make_id_number("650102", date(1970, 5, 6), 999)
    for number in (outsider.id_number, unknown, "653121198403091350"):
        bad = await post_form(
            client, "/commission/staging/in", {"id_number": number, "reason": "death"}
        )
        assert bad.status_code == 400
    no_reason = await post_form(client, "/commission/staging/in", {"id_number": doc.id_number})
    assert no_reason.status_code == 400 and "请选择调入暂存区的原因" in no_reason.text
    odd = await post_form(
        client, "/commission/staging/in", {"id_number": doc.id_number, "reason": "rejected"}
    )
    assert odd.status_code == 400
    assert not await Filing.exists(physician_id__in=[doc.id, outsider.id])

    saved = await post_form(
        client, "/commission/staging/in", {"id_number": doc.id_number, "reason": "retired"}
    )
    assert saved.status_code == 303
    twice = await post_form(
        client, "/commission/staging/in", {"id_number": doc.id_number, "reason": "death"}
    )
    assert twice.status_code == 400 and "已有待备案的暂存区申请" in twice.text
    filing = await Filing.get(physician_id=doc.id)
    assert filing.kind == FilingKind.STAGING_IN and filing.institution_id == inst.id
    rows = table_rows((await client.get("/commission/staging/in")).text)
    assert any("买买提·艾力" in r and "退休（不再执业）" in r and "待审核" in r for r in rows)

    await as_user(client, office.username)
    queue = await client.get("/office/filings/staging", params={"kind": "staging_in"})
    assert "买买提·艾力" in queue.text
    await decide(client, filing, "approve")
    doc = await Physician.get(id=doc.id)
    assert doc.institution_id is None and doc.staging_reason == StagingReason.RETIRED
    assert doc.previous_institution_id == inst.id
    assert await actions(filing) == ["filing_requested", "filing_approved"]
    done = await client.get("/office/filings/staging", params={"status": "approved"})
    assert "买买提·艾力" in done.text and "已通过" in done.text


async def test_staging_out(client: httpx.AsyncClient, db: None) -> None:
    commission, acct, _assessor = await commission_of("654200")
    counties = await County.filter(prefecture_id=commission.prefecture_id).order_by("code")
    target = await factories.organisation(
        OrgKind.INSTITUTION, "654200", name="塔城地区人民医院", county_id=counties[1].id
    )
    pending = await factories.organisation(
        OrgKind.INSTITUTION, "654200", name="塔城待备案医院", status=OrgStatus.PENDING_ADD
    )
    elsewhere = await factories.organisation(OrgKind.INSTITUTION, "654300")
    staged = await factories.physician(None, name="古丽娜·阿不都")
    await Physician.filter(id=staged.id).update(
        prefecture_id=commission.prefecture_id,
        county_id=counties[0].id,
        staging_reason=StagingReason.LEFT,
    )
    working = await factories.physician(target, name="塔城在岗医师")
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    await as_user(client, acct.username)

    found = await client.get("/commission/staging/out", params={"q": "古丽娜"})
    assert "古丽娜·阿不都" in found.text and "离职（不再执业）" in found.text
    assert "塔城地区人民医院" in found.text and "塔城待备案医院" not in found.text
    by_id = await client.get("/commission/staging/out", params={"q": staged.id_number})
    assert "古丽娜·阿不都" in by_id.text
    not_staged = await client.get("/commission/staging/out", params={"q": working.id_number})
    assert "该医师不在暂存区，请核实该医师是否已调入暂存区" in not_staged.text
    nobody = await client.get("/commission/staging/out", params={"q": "查无此人"})
    assert "未查询到结果，请核实该医师是否已调入暂存区" in nobody.text

    path = "/commission/staging/out"
    for bad_target in (elsewhere.id, pending.id, 0):
        bad = await post_form(
            client, path, {"physician": str(staged.id), "target": str(bad_target)}
        )
        assert bad.status_code == 400 and "请选择本地（州、市）内的执业机构" in bad.text
    busy = await post_form(client, path, {"physician": str(working.id), "target": str(target.id)})
    assert busy.status_code == 400 and "该医师不在暂存区" in busy.text
    assert not await Filing.exists(physician_id__in=[staged.id, working.id])

    saved = await post_form(client, path, {"physician": str(staged.id), "target": str(target.id)})
    assert saved.status_code == 303
    filing = await Filing.get(physician_id=staged.id)
    assert filing.kind == FilingKind.STAGING_OUT and filing.institution_id == target.id
    assert filing.payload == {"target_institution_id": target.id}
    again = await post_form(client, path, {"physician": str(staged.id), "target": str(target.id)})
    assert again.status_code == 400 and "已有待备案的暂存区申请" in again.text

    await as_user(client, office.username)
    await decide(client, filing, "approve")
    staged = await Physician.get(id=staged.id)
    assert staged.institution_id == target.id and staged.county_id == counties[1].id
    assert staged.staging_reason is None
    assert await actions(filing) == ["filing_requested", "filing_approved"]


async def test_jurisdiction_and_roles(client: httpx.AsyncClient, db: None) -> None:
    commission_a, acct_a, assessor_a = await commission_of("653200")
    _, acct_b, _ = await commission_of("654000")
    inst_a, inst_acct = await factories.org_with_account(
        OrgKind.INSTITUTION, "653200", assessor=assessor_a
    )
    staged = await factories.physician(None)
    await Physician.filter(id=staged.id).update(prefecture_id=commission_a.prefecture_id)
    await as_user(client, acct_a.username)
    await post_form(client, "/commission/institutions/delete", {"institution": str(inst_a.id)})
    filing = await Filing.get(institution_id=inst_a.id)
    _, assessor_acct = await factories.org_with_account(OrgKind.ASSESSOR, "653200")

    await as_user(client, acct_b.username)
    assert (await client.get(f"/commission/institutions/{inst_a.id}")).status_code == 404
    edit = await post_form(
        client, f"/commission/institutions/{inst_a.id}", {"name": "改名", "assessor": "1"}
    )
    assert edit.status_code == 404
    assert (await client.get(f"/commission/filings/{filing.id}")).status_code == 404
    delete = await post_form(
        client, "/commission/institutions/delete", {"institution": str(inst_a.id)}
    )
    assert delete.status_code == 404
    out = await post_form(
        client, "/commission/staging/out", {"physician": str(staged.id), "target": "1"}
    )
    assert out.status_code == 404
    assert inst_a.name not in (await client.get("/commission/institutions")).text
    assert staged.name not in (await client.get("/commission/staging/out")).text
    assert inst_a.name not in (await client.get("/commission/filings")).text
    assert (await Organisation.get(id=inst_a.id)).name == inst_a.name

    for username in (inst_acct.username, assessor_acct.username, acct_a.username):
        await as_user(client, username)
        for path in ("/office/filings/institutions", "/office/filings/staging"):
            assert (await client.get(path)).status_code == 403
    for username in (inst_acct.username, assessor_acct.username):
        await as_user(client, username)
        for path in (
            "/commission/institutions",
            "/commission/institutions/add",
            "/commission/institutions/delete",
            "/commission/staging/in",
            "/commission/staging/out",
            f"/commission/filings/{filing.id}",
        ):
            assert (await client.get(path)).status_code == 403, path
    await as_user(client, acct_a.username)
    assert (await client.get(f"/commission/filings/{filing.id}")).status_code == 200


async def test_rejected_registration_goes_to_its_new_institution(
    client: httpx.AsyncClient, db: None
) -> None:
    commission, acct, _ = await commission_of("652300")
    target = await factories.organisation(OrgKind.INSTITUTION, "652300", name="昌吉州人民医院")
    target_acct = await factories.account(Role.INSTITUTION, target)
    wrong = await factories.physician(None, RegistrationStatus.REJECTED, name="报错机构医师")
    await Physician.filter(id=wrong.id).update(
        prefecture_id=commission.prefecture_id, staging_reason=StagingReason.REJECTED
    )
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    await as_user(client, acct.username)
    path = "/commission/staging/out"
    saved = await post_form(client, path, {"physician": str(wrong.id), "target": str(target.id)})
    assert saved.status_code == 303
    await as_user(client, office.username)
    await decide(client, await Filing.get(physician_id=wrong.id), "approve")
    moved = await Physician.get(id=wrong.id)
    assert moved.institution_id == target.id
    assert moved.registration_status == RegistrationStatus.PENDING
    await as_user(client, target_acct.username)
    assert "报错机构医师" in (await client.get("/institution/registrations")).text
