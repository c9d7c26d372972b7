"""账号管理 and 机构账号管理: the level above resets an organisation's password (temporary,
shown once, sessions ended, notice mailed, audited); nobody else can."""

from __future__ import annotations

import re

import httpx
from starlette.applications import Starlette

from models.enums import OrgKind, OrgStatus
from models.ops import AuditLog, OutboxMail
from tests import factories
from tests.helpers import TEST_PASSWORD, csrf_of, login, post_form, table_rows

TEMPORARY = re.compile(r"临时密码：([A-Za-z0-9]+)")


async def reset(client: httpx.AsyncClient, base: str, account_id: int) -> httpx.Response:
    token = await csrf_of(client, base)
    return await client.post(f"{base}/{account_id}/password", data={"csrf_token": token})


async def test_office_resets_a_commission_password(
    client: httpx.AsyncClient, app: Starlette, db: None
) -> None:
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    commission, target = await factories.org_with_account(
        OrgKind.COMMISSION, "653100", name="喀什地区卫生健康委员会"
    )
    # The commission is logged in elsewhere: that session must end.
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        await login(other, target.username)
        assert (await other.get("/commission/account/info")).status_code == 200

        await login(client, office.username)
        listed = await client.get("/office/accounts", params={"q": "喀什"})
        assert "账号管理" in listed.text
        rows = table_rows(listed.text)
        assert len(rows) == 1 and target.username in rows[0] and "重置密码" in rows[0]
        assert "data-confirm=" in listed.text

        done = await reset(client, "/office/accounts", target.id)
        assert done.status_code == 303
        shown = await client.get("/office/accounts")
        found = TEMPORARY.search(shown.text)
        assert found and target.username in shown.text
        temporary = found.group(1)
        assert TEMPORARY.search((await client.get("/office/accounts")).text) is None  # once

        gone = await other.get("/commission/account/info")
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login")

    client.cookies.clear()
    refused = await login(client, target.username, TEST_PASSWORD)
    assert refused.status_code == 400 and "账号或密码错误" in refused.text
    client.cookies.clear()
    accepted = await login(client, target.username, temporary)
    assert accepted.status_code == 303 and accepted.headers["location"] == "/account/password"
    held = await client.get("/commission/account/info")  # nothing else before a new password
    assert held.status_code == 303 and held.headers["location"] == "/account/password"
    assert "临时密码" in (await client.get("/account/password")).text
    new = {
        "old_password": temporary,
        "new_password": "Kashi2026go",
        "confirm_password": "Kashi2026go",
    }
    assert (await post_form(client, "/account/password", new)).status_code == 303
    assert (await client.get("/commission/account/info")).status_code == 200

    entry = await AuditLog.get(action="org_password_reset", object_id=target.id)
    assert entry.actor_id == office.id and entry.detail["organisation"] == commission.id
    assert entry.detail["sessions_ended"] >= 1
    mail = await OutboxMail.get(to=target.email, subject__contains="登录密码已重置")
    assert target.username in mail.body and temporary not in mail.body


async def test_commission_resets_its_own_institutions_only(
    client: httpx.AsyncClient, db: None
) -> None:
    _, commission = await factories.org_with_account(OrgKind.COMMISSION, "650100")
    assessor, assessor_acct = await factories.org_with_account(OrgKind.ASSESSOR, "650100")
    _, mine = await factories.org_with_account(
        OrgKind.INSTITUTION, "650100", assessor=assessor, name="乌鲁木齐市测试医院"
    )
    _, theirs = await factories.org_with_account(OrgKind.INSTITUTION, "653100")
    _, other_commission = await factories.org_with_account(OrgKind.COMMISSION, "650100")
    gone, gone_acct = await factories.org_with_account(OrgKind.INSTITUTION, "650100")
    gone.status = OrgStatus.DELETED
    await gone.save(update_fields=["status"])

    await login(client, commission.username)
    page = await client.get("/commission/accounts")
    assert page.status_code == 200 and "机构账号管理" in page.text
    text = "\n".join(table_rows(page.text))
    assert mine.username in text and assessor_acct.username in text
    for outsider in (theirs, other_commission, gone_acct, commission):
        assert outsider.username not in text
    only = await client.get(
        "/commission/accounts", params={"kind": "assessor"}, headers={"HX-Request": "true"}
    )
    assert "<html" not in only.text
    assert [assessor_acct.username in r for r in table_rows(only.text)] == [True]

    for outsider in (theirs, other_commission, gone_acct):
        assert (await reset(client, "/commission/accounts", outsider.id)).status_code == 404
    assert not await AuditLog.filter(
        action="org_password_reset", object_id__in=[theirs.id, other_commission.id]
    ).exists()
    assert (await reset(client, "/commission/accounts", mine.id)).status_code == 303
    assert await AuditLog.exists(action="org_password_reset", object_id=mine.id)
    # The office manages commissions, not institutions.
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    client.cookies.clear()
    await login(client, office.username)
    assert (await reset(client, "/office/accounts", theirs.id)).status_code == 404
    assert theirs.username not in (await client.get("/office/accounts")).text


async def test_other_roles_are_refused(client: httpx.AsyncClient, db: None) -> None:
    _, institution = await factories.org_with_account(OrgKind.INSTITUTION)
    _, commission = await factories.org_with_account(OrgKind.COMMISSION)
    await login(client, institution.username)
    assert (await client.get("/office/accounts")).status_code == 403
    assert (await client.get("/commission/accounts")).status_code == 403
    token = await csrf_of(client, "/institution/account/info")
    response = await client.post(
        f"/commission/accounts/{commission.id}/password", data={"csrf_token": token}
    )
    assert response.status_code == 403
    client.cookies.clear()
    await login(client, commission.username)
    assert (await client.get("/office/accounts")).status_code == 403
