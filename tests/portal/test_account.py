"""【账户管理】: 机构信息 and 联系人信息 must be complete before the other modules open."""

from __future__ import annotations

import httpx

from models.enums import OrgKind, Role
from models.ops import AuditLog
from models.org import Account, Organisation
from rules.organisation_info import valid_credit_code
from tests import factories
from tests.helpers import csrf_of, login

INCOMPLETE = {
    "address": "",
    "phone": "",
    "contact_name": "",
    "contact_phone": "",
    "contact_email": "",
}


async def save(client: httpx.AsyncClient, path: str, data: dict[str, str]) -> httpx.Response:
    token = await csrf_of(client, path)
    return await client.post(path, data={**data, "csrf_token": token})


def test_credit_code_check_character() -> None:
    assert valid_credit_code("91350100M000100Y43")
    assert not valid_credit_code("91350100M000100Y44")
    assert not valid_credit_code("12345")


async def test_modules_open_once_info_is_complete(client: httpx.AsyncClient, db: None) -> None:
    org = await factories.organisation(OrgKind.INSTITUTION, **INCOMPLETE)
    acct = await factories.account(Role.INSTITUTION, org)
    await login(client, acct.username)
    home = await client.get("/")
    assert "温馨提示" in home.text and "/institution/account/info" in home.text
    gated = await client.get("/institution/registrations")
    assert gated.status_code == 303 and gated.headers["location"] == "/institution/account/info"
    assert "请先在【账户管理】中完善" in (await client.get("/institution/account/info")).text

    bad = await save(client, "/institution/account/info", {"address": "", "phone": "123"})
    assert bad.status_code == 400 and "请填写机构地址" in bad.text and "固定电话" in bad.text
    ok = await save(
        client,
        "/institution/account/info",
        {"address": "喀什市人民东路1号", "phone": "0998-2822222"},
    )
    assert ok.status_code == 303
    assert (await client.get("/institution/registrations")).headers["location"].endswith("contact")

    bad = await save(
        client,
        "/institution/account/contact",
        {"contact_name": "李华", "contact_phone": "13912345678", "contact_email": "no"},
    )
    assert bad.status_code == 400 and "有效的电子邮箱" in bad.text
    await save(
        client,
        "/institution/account/contact",
        {"contact_name": "李华", "contact_phone": "13912345678", "contact_email": "lh@example.com"},
    )
    assert (await client.get("/institution/registrations")).status_code == 200
    assert (await Organisation.get(id=org.id)).info_complete
    assert (await Account.get(id=acct.id)).email == "lh@example.com"
    assert await AuditLog.filter(action="org_contact_updated", object_id=org.id).exists()


async def test_each_organisation_edits_only_its_own(client: httpx.AsyncClient, db: None) -> None:
    mine, acct = await factories.org_with_account(OrgKind.ASSESSOR)
    other = await factories.organisation(OrgKind.ASSESSOR)
    await login(client, acct.username)
    await save(
        client, "/assessor/account/info", {"address": "乌鲁木齐市新华南路", "phone": "0991-2222222"}
    )
    assert (await Organisation.get(id=mine.id)).address == "乌鲁木齐市新华南路"
    assert (await Organisation.get(id=other.id)).address != "乌鲁木齐市新华南路"
    wrong_prefix = await client.get("/institution/account/info")
    assert wrong_prefix.status_code == 403
