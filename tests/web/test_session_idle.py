"""Inactivity really ends a session: this module's app forgets a session after 3 idle seconds."""

from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest

from core.settings import Settings
from models.enums import OrgKind
from tests import factories
from tests.helpers import login


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, session_idle_seconds=3)


async def test_activity_keeps_the_session_and_idleness_ends_it(
    client: httpx.AsyncClient, db: None
) -> None:
    _, acct = await factories.org_with_account(OrgKind.OFFICE)
    await login(client, acct.username)
    for _ in range(3):  # requests keep renewing it past the idle limit (4.5 s > 3 s)
        await asyncio.sleep(1.5)
        assert (await client.get("/")).status_code == 200
    await asyncio.sleep(4)
    expired = await client.get("/")
    assert expired.status_code == 303
    assert "登录已失效" in (await client.get(expired.headers["location"])).text
