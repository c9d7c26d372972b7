"""Portal pages as users see them, in real headless Chromium at a 375-px phone and a 1280-px
desktop: the one profile form that resubmits the edits, the folded menu and cards that hold
their text on phones, the ethics veto on the rating form, and lists that fit the desktop."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from starlette.applications import Starlette

import factories
from browser import Page, chromium, serve
from conftest import login
from models.enums import OrgKind, RegistrationStatus, StagingReason
from models.physician import Physician
from portal.sessions import COOKIE

WIDTHS = [375, 1280]


async def wait_for(page: Page, expression: str, what: str, seconds: float = 10) -> None:
    for _ in range(int(seconds * 10)):
        if await page.evaluate(expression):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {expression}")


async def choose(page: Page, select_id: str, value: object) -> None:
    """Pick an option the way a user does: the select changes and tells its listeners."""
    await wait_for(
        page,
        f"!!document.querySelector('#{select_id} option[value=\"{value}\"]')",
        f"option {value} of #{select_id}",
    )
    await page.evaluate(
        f"(function (s) {{ s.value = {json.dumps(str(value))};"
        " s.dispatchEvent(new Event('change', {bubbles: true})); })"
        f"(document.getElementById({select_id!r}))"
    )
    await asyncio.sleep(0.1)  # htmx sends what the change asks for, then the page settles
    await wait_for(page, "!document.querySelector('.htmx-request')", "htmx to settle")


async def browse_as(page: Page, base: str, client: httpx.AsyncClient, username: str) -> None:
    client.cookies.clear()
    assert (await login(client, username)).status_code == 303
    await page.call("Network.setCookie", name=COOKIE, value=client.cookies[COOKIE], url=base)


@pytest.mark.parametrize("width", WIDTHS)
async def test_one_profile_form_resubmits_the_edits(
    app: Starlette, client: httpx.AsyncClient, width: int
) -> None:
    """Item 5: a rejected physician corrects the scope and the institution in one form."""
    wrong = await factories.organisation(OrgKind.INSTITUTION)
    right = await factories.organisation(OrgKind.INSTITUTION, name=f"正确的执业机构{width}")
    doc = await factories.physician(wrong, RegistrationStatus.PENDING)
    await Physician.filter(id=doc.id).update(
        registration_status=RegistrationStatus.REJECTED,
        institution_id=None,
        previous_institution_id=wrong.id,
        staging_reason=StagingReason.REJECTED,
        rejection_reason="执业机构选择错误",
        practice_scope="眼耳鼻咽喉科专业",
    )
    async with serve(app) as base, chromium(width) as page:
        await browse_as(page, base, client, doc.id_number)
        await page.goto(base + "/physician/profile")
        assert await page.evaluate("document.querySelectorAll('main form[method=post]').length") == 1
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await choose(page, "f-category", "临床")
        await choose(page, "f-scope", "外科专业")
        await choose(page, "f-prefecture", right.prefecture_id)
        await choose(page, "f-county", right.county_id)
        await choose(page, "f-institution", right.id)
        await page.evaluate(
            "Array.from(document.querySelectorAll('main button[type=submit]'))"
            ".find(function (b) { return b.textContent.trim() === '重新提交注册'; }).click()"
        )
        await wait_for(page, "location.pathname === '/'", "the home page after resubmitting")
    doc = await Physician.get(id=doc.id)
    assert doc.registration_status == RegistrationStatus.PENDING
    assert (doc.institution_id, doc.practice_scope) == (right.id, "外科专业")
