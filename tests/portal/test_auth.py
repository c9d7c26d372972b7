"""Log-in, throttling, log-out, inactivity expiry, forged sessions and role menus."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from core.settings import Settings
from models.enums import OrgKind
from models.ops import AuditLog
from portal.menus import MENUS
from tests import factories
from tests.helpers import TEST_PASSWORD, csrf_of, login
from web.sessions import COOKIE


async def test_login_page_is_chinese_and_has_a_csrf_token(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    assert page.status_code == 200
    assert "进入医师考核" in page.text
    assert 'name="csrf_token"' in page.text


async def test_anonymous_home_redirects_to_login(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


async def test_each_role_logs_in_and_sees_its_menu(client: httpx.AsyncClient, db: None) -> None:
    logins = await factories.one_account_per_role()
    for role, username in logins.items():
        client.cookies.clear()
        response = await login(client, username)
        assert response.status_code == 303, response.text
        home = await client.get("/")
        assert home.status_code == 200
        assert role.label in home.text
        for section in MENUS[role]:
            assert section.label in home.text
            for entry in section.entries:
                assert entry.label in home.text


async def test_physician_logs_in_with_lowercase_x(client: httpx.AsyncClient, db: None) -> None:
    institution = await factories.organisation(OrgKind.INSTITUTION)
    physician = await factories.physician(institution)
    response = await login(client, physician.id_number.lower())
    assert response.status_code == 303


async def test_wrong_password_and_unknown_account_say_the_same(
    client: httpx.AsyncClient, db: None
) -> None:
    _, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    wrong = await login(client, acct.username, "Wrong12345")
    unknown = await login(client, "nobody-here", "Wrong12345")
    assert wrong.status_code == unknown.status_code == 400
    assert "账号或密码错误" in wrong.text and "账号或密码错误" in unknown.text
    assert "还可尝试 4 次" in wrong.text
    assert (await client.get("/")).status_code == 303  # still not logged in


async def test_disabled_account_is_refused(client: httpx.AsyncClient, db: None) -> None:
    _, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    acct.is_active = False
    await acct.save()
    response = await login(client, acct.username)
    assert response.status_code == 403
    assert "已停用" in response.text
    assert (await client.get("/")).status_code == 303


async def test_too_long_fields_are_refused_cleanly(client: httpx.AsyncClient) -> None:
    response = await login(client, "a" * 500, "b" * 500)
    assert response.status_code == 400
    assert "账号或密码错误" in response.text


async def test_throttling_per_account_holds_even_the_right_password(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    _, acct = await factories.org_with_account(OrgKind.ASSESSOR)
    for _ in range(4):
        assert (await login(client, acct.username, "Wrong12345")).status_code == 400
    locked = await login(client, acct.username, "Wrong12345")
    assert locked.status_code == 429
    assert "登录失败次数过多，请 15 分钟后再试" in locked.text
    held = await login(client, acct.username, TEST_PASSWORD)
    assert held.status_code == 429
    assert await AuditLog.filter(action="login_locked", actor_id=acct.id).exists()
    await app.state.redis.delete("login:fail:addr:203.0.113.7")


async def test_throttling_per_address(settings: Settings, app: Starlette) -> None:
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        for n in range(settings.login_max_failures_address):
            await login(c, f"guess{n}", "Wrong12345")
        _, acct = await factories.org_with_account(OrgKind.ASSESSOR)
        response = await login(c, acct.username)
        assert response.status_code == 429
        assert "分钟后再试" in response.text


async def test_logout_really_ends_the_session(client: httpx.AsyncClient, db: None) -> None:
    _, acct = await factories.org_with_account(OrgKind.COMMISSION)
    await login(client, acct.username)
    old_cookie = client.cookies[COOKIE]
    token = await csrf_of(client, "/")
    response = await client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert "您已安全退出" in (await client.get("/login")).text
    client.cookies.clear()
    client.cookies[COOKIE] = old_cookie  # replaying the old cookie does not log back in
    assert (await client.get("/")).status_code == 303


async def test_session_id_rotates_at_login(client: httpx.AsyncClient, db: None) -> None:
    _, acct = await factories.org_with_account(OrgKind.COMMISSION)
    await client.get("/login")
    before = client.cookies[COOKIE]
    await login(client, acct.username)
    assert client.cookies[COOKIE] != before


async def test_forged_session_id_is_anonymous(client: httpx.AsyncClient) -> None:
    client.cookies[COOKIE] = "A" * 43
    response = await client.get("/")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    client.cookies[COOKIE] = "<script>"
    assert (await client.get("/")).status_code == 303


async def test_role_guard_and_unknown_pages(client: httpx.AsyncClient, db: None) -> None:
    institution = await factories.organisation(OrgKind.INSTITUTION)
    physician = await factories.physician(institution)
    await login(client, physician.id_number)
    forbidden = await client.get("/institution/registrations")
    assert forbidden.status_code == 403
    assert "无权" in forbidden.text
    missing = await client.get("/no/such/page")
    assert missing.status_code == 404
    assert "页面不存在" in missing.text


async def test_next_parameter_is_kept_but_never_offsite(
    client: httpx.AsyncClient, db: None
) -> None:
    _, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    token = await csrf_of(client)
    data = {"username": acct.username, "password": TEST_PASSWORD, "csrf_token": token}
    response = await client.post("/login", data={**data, "next": "//evil.example/"})
    assert response.headers["location"] == "/"
    client.cookies.clear()
    token = await csrf_of(client)
    data["csrf_token"] = token
    response = await client.post("/login", data={**data, "next": "/physicians"})
    assert response.headers["location"] == "/physicians"
