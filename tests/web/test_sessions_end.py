"""Ending sessions (issue 16): a password change, a reset or a disabled account ends every
session of the account whatever its age, checked on every request; a temporary password must
be changed before anything else. This module's app forgets idle sessions after 2 s, so a
session kept alive by reading pages outlives the account's session index (2 x idle)."""

from __future__ import annotations

import asyncio
import dataclasses
import re

import httpx
import pytest
import websockets
from starlette.applications import Starlette

from core.settings import Settings
from examhall.protocol import PATH
from models.enums import OrgKind
from models.org import Account
from tests import factories
from tests.helpers import TEST_PASSWORD, csrf_of, login, post_form
from web.sessions import COOKIE

NEW = "Tianshan2026"


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, session_idle_seconds=2)


def second_client(app: Starlette) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("198.51.100.20", 1))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_password_change_ends_a_session_older_than_the_index(
    client: httpx.AsyncClient, app: Starlette, db: None
) -> None:
    _, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    await login(client, acct.username)
    for _ in range(5):  # 5 s of reading pages: the session lives, its index (4 s) does not
        await asyncio.sleep(1)
        assert (await client.get("/")).status_code == 200
    assert not await app.state.redis.exists(f"sess:account:{acct.id}")

    async with second_client(app) as other:
        await login(other, acct.username)
        change = {"old_password": TEST_PASSWORD, "new_password": NEW, "confirm_password": NEW}
        assert (await post_form(other, "/account/password", change)).status_code == 303
        assert (await other.get("/")).status_code == 200  # the changer's own session stays
    ended = await client.get("/")
    assert ended.status_code == 303 and ended.headers["location"].startswith("/login")
    assert "登录已失效" in (await client.get(ended.headers["location"])).text


async def test_a_disabled_account_is_logged_out_at_its_next_request(
    client: httpx.AsyncClient, db: None
) -> None:
    _, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    await login(client, acct.username)
    assert (await client.get("/physicians")).status_code == 200
    await Account.filter(id=acct.id).update(is_active=False)  # e.g. its institution deleted
    gone = await client.get("/physicians")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
    htmx = await client.get("/physicians", headers={"HX-Request": "true"})
    assert htmx.headers.get("HX-Redirect", "").startswith("/login")


async def test_a_temporary_password_must_be_changed_first(
    client: httpx.AsyncClient, app: Starlette, db: None
) -> None:
    inst, inst_acct = await factories.org_with_account(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    await login(client, inst_acct.username)
    token = await csrf_of(client, f"/physicians/{doc.id}")
    await client.post(f"/physicians/{doc.id}/password", data={"csrf_token": token})
    found = re.search(
        r"临时密码：([A-Za-z0-9]{10})", (await client.get(f"/physicians/{doc.id}")).text
    )
    assert found
    temporary = found.group(1)

    client.cookies.clear()
    first = await login(client, doc.id_number, temporary)
    assert first.status_code == 303 and first.headers["location"] == "/account/password"
    for path in ("/", "/physician/profile", "/physician/test", f"/physicians/{doc.id}/photo"):
        held = await client.get(path)
        assert held.status_code == 303 and held.headers["location"] == "/account/password", path
    htmx = await client.get("/physician/training", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == "/account/password"
    page = await client.get("/account/password")
    assert page.status_code == 200 and "临时密码" in page.text
    same = {"old_password": temporary, "new_password": "password1", "confirm_password": "password1"}
    assert (await post_form(client, "/account/password", same)).status_code == 400
    change = {"old_password": temporary, "new_password": NEW, "confirm_password": NEW}
    assert (await post_form(client, "/account/password", change)).status_code == 303
    assert (await client.get("/physician/profile")).status_code == 200
    assert not (await Account.get(id=doc.account_id)).must_change_password
    client.cookies.clear()
    again = await login(client, doc.id_number, NEW)
    assert again.headers["location"] == "/"


async def test_the_exam_hall_checks_the_account_too(
    client: httpx.AsyncClient, base_url: str, db: None
) -> None:
    """The hall's handshake goes through the same check: a session of a disabled account,
    or one that must still change a temporary password, does not enter."""
    url = base_url.replace("http", "ws") + PATH
    doc = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    await login(client, doc.id_number)
    cookie = f"{COOKIE}={client.cookies[COOKIE]}"
    async with websockets.connect(url, additional_headers={"Cookie": cookie}):
        pass  # a session in good standing enters
    for change in ({"must_change_password": True}, {"is_active": False}):
        doc = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
        client.cookies.clear()
        await login(client, doc.id_number)
        await Account.filter(id=doc.account_id).update(**change)
        cookie = f"{COOKIE}={client.cookies[COOKIE]}"
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(url, additional_headers={"Cookie": cookie})
        assert refused.value.response.status_code == 403, change
