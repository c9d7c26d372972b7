"""CSRF on every unsafe request: forms, htmx headers, origins and body size."""

from __future__ import annotations

import httpx

from models.enums import OrgKind
from models.org import Account
from tests import factories
from tests.helpers import TEST_PASSWORD, csrf_of, login


async def test_post_without_token_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, db: None
) -> None:
    _, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    await client.get("/login")
    response = await client.post(
        "/login", data={"username": acct.username, "password": TEST_PASSWORD}
    )
    assert response.status_code == 403
    assert "页面已过期" in response.text
    assert (await client.get("/")).status_code == 303


async def test_wrong_token_is_refused(client: httpx.AsyncClient, db: None) -> None:
    _, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    await client.get("/login")
    data = {"username": acct.username, "password": TEST_PASSWORD, "csrf_token": "0" * 64}
    assert (await client.post("/login", data=data)).status_code == 403


async def test_token_of_another_session_is_refused(app: object, db: None) -> None:
    _, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as a,
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as b,
    ):
        token_a = await csrf_of(a)
        await b.get("/login")
        data = {"username": acct.username, "password": TEST_PASSWORD, "csrf_token": token_a}
        assert (await b.post("/login", data=data)).status_code == 403


async def test_password_change_needs_the_token(client: httpx.AsyncClient, db: None) -> None:
    _, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    await login(client, acct.username)
    data = {
        "old_password": TEST_PASSWORD,
        "new_password": "Newpass2026",
        "confirm_password": "Newpass2026",
    }
    response = await client.post("/account/password", data=data)
    assert response.status_code == 403
    fresh = await Account.get(id=acct.id)
    assert fresh.password_hash == acct.password_hash


async def test_htmx_header_token_is_accepted(client: httpx.AsyncClient, db: None) -> None:
    _, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    await login(client, acct.username)
    token = await csrf_of(client, "/")
    body = (await client.get("/")).text
    assert f'"X-CSRF-Token": "{token}"' in body  # hx-headers on <body>
    response = await client.post("/logout", headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/login"


async def test_foreign_origin_is_refused(client: httpx.AsyncClient) -> None:
    token = await csrf_of(client)
    response = await client.post(
        "/login",
        data={"username": "x", "password": "y", "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert "来源" in response.text


async def test_oversized_body_is_refused(client: httpx.AsyncClient) -> None:
    token = await csrf_of(client)
    response = await client.post(
        "/login", data={"csrf_token": token, "username": "x" * (13 * 1024 * 1024)}
    )
    assert response.status_code == 413
    assert "过大" in response.text


async def test_multipart_forms_carry_the_token(client: httpx.AsyncClient, db: None) -> None:
    _, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    token = await csrf_of(client)
    response = await client.post(
        "/login",
        data={"username": acct.username, "password": TEST_PASSWORD, "csrf_token": token},
        files={"attachment": ("a.txt", b"hello", "text/plain")},
    )
    assert response.status_code == 303
