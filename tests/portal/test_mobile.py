"""The physician's pages at a 375-px-wide phone viewport, in real headless Chromium: nothing
wider than the screen, the menu folded, the forms usable."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from models.enums import OrgKind, RegistrationStatus
from tests import factories
from tests.browser import chromium, serve
from tests.helpers import login
from web.sessions import COOKIE

OVERFLOW = "document.documentElement.scrollWidth <= window.innerWidth"
MENU_FOLDED = "getComputedStyle(document.getElementById('menu-body')).display === 'none'"


async def test_pages_fit_a_375px_phone(app: Starlette, client: httpx.AsyncClient, db: None) -> None:
    await factories.period()
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst, RegistrationStatus.APPROVED, name="买买提·艾力")
    await login(client, doc.id_number)
    cookie = client.cookies[COOKIE]
    async with serve(app) as base, chromium(375) as page:
        for path in ("/login", "/register", "/password/forgot"):
            await page.goto(base + path)
            assert await page.evaluate("window.innerWidth") == 375
            assert await page.evaluate(OVERFLOW), path
        await page.goto(base + "/register")
        await page.evaluate("document.getElementById('f-name').value = '买买提'")
        await page.evaluate("document.getElementById('insert-dot').click()")
        assert await page.evaluate("document.getElementById('f-name').value") == "买买提·"

        await page.call("Network.setCookie", name=COOKIE, value=cookie, url=base + "/")
        for path in ("/", "/physician/profile", "/physician/enrollment", "/physician/help"):
            await page.goto(base + path)
            assert await page.evaluate(OVERFLOW), path
            assert await page.evaluate(MENU_FOLDED), path
        await page.goto(base + "/")
        steps = await page.evaluate("document.querySelectorAll('ol.guide li').length")
        assert steps == 7
