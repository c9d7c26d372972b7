"""The Content-Security-Policy in real headless Chromium (issue 16): the pages, htmx, the
confirmation dialogs, the nonce'd inline scripts, the proctors' live monitor and the exam
hall all work with it, and it reports no violation."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

import httpx
from starlette.applications import Starlette

from models.enums import OrgKind
from models.ops import AuditLog
from models.org import Prefecture
from models.training import CreditApplication
from tests import factories
from tests.browser import Page, chromium, serve
from tests.helpers import login
from web.sessions import COOKIE

# Injected before any script of every page: what the CSP refused, and script errors.
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + ":" + e.lineNumber);
});
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message)); });
window.print = function () { window.__printed = true; };
"""
SHOTS = os.environ.get("XJDK_SCREENSHOTS", "")  # a folder: keep screenshots to look at


async def wait_for(page: Page, expression: str, seconds: float = 10) -> None:
    for _ in range(int(seconds * 20)):
        if await page.evaluate(expression):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never true: {expression}")


async def clean(page: Page, where: str) -> None:
    """Nothing refused by the policy, no script error, on the page shown."""
    assert await page.evaluate("window.__csp") == [], where
    assert await page.evaluate("window.__errors") == [], where


async def shoot(page: Page, name: str) -> None:
    if SHOTS:
        shot = await page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        target = Path(SHOTS, f"{name}.png")
        await asyncio.to_thread(target.write_bytes, base64.b64decode(shot["data"]))


async def cookie_of(client: httpx.AsyncClient, username: str) -> str:
    client.cookies.clear()
    assert (await login(client, username)).status_code == 303
    return client.cookies[COOKIE]


async def test_pages_work_under_the_policy(
    app: Starlette, client: httpx.AsyncClient, db: None
) -> None:
    prefecture = await Prefecture.get(code="650100")
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    _, commission = await factories.org_with_account(OrgKind.COMMISSION, name="乌鲁木齐市卫健委")
    doc = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    period = await factories.period()
    credit = await CreditApplication.create(
        physician=doc, period=period, hours=36, credits=6, verification_code=f"csp{doc.id}"
    )
    office_cookie = await cookie_of(client, office.username)
    doc_cookie = await cookie_of(client, doc.id_number)

    async with serve(app) as base, chromium(1280, 900) as page:
        await page.call("Page.enable")
        await page.call("Page.addScriptToEvaluateOnNewDocument", source=WATCH)

        await page.goto(base + "/register")
        await page.evaluate("document.getElementById('f-name').value = '买买提'")
        await page.evaluate("document.getElementById('insert-dot').click()")  # a nonce'd script
        assert await page.evaluate("document.getElementById('f-name').value") == "买买提·"
        await page.evaluate(
            f"""(function () {{
              var s = document.getElementById('f-prefecture');
              s.value = '{prefecture.id}';
              s.dispatchEvent(new Event('change', {{bubbles: true}}));
            }})()"""
        )  # htmx loads the counties and portal.js empties the institutions
        await wait_for(page, "document.querySelectorAll('#f-county option').length > 1")
        assert await page.evaluate("document.querySelectorAll('#f-institution option').length") == 1
        await clean(page, "/register")
        await shoot(page, "register-1280")

        await page.call("Network.setCookie", name=COOKIE, value=office_cookie, url=base + "/")
        await page.goto(base + "/")
        menu = "document.getElementById('menu-body').getClientRects().length > 0"
        assert await page.evaluate(menu)  # open on a wide screen, by CSS alone
        await clean(page, "/")

        await page.goto(base + "/office/accounts?q=乌鲁木齐")
        reset = "document.querySelector('form[data-confirm] button[type=submit]').click()"
        page.accept_dialogs = False  # 取消: nothing happens
        await page.evaluate(reset)
        assert len(page.dialogs) == 1 and "确认重置" in page.dialogs[0]
        await asyncio.sleep(0.3)
        assert not await AuditLog.filter(
            action="org_password_reset", object_id=commission.id
        ).exists()
        page.accept_dialogs = True  # 确定: the password is reset
        await page.evaluate(reset)
        await wait_for(page, "!!document.querySelector('.flash-success')")
        assert len(page.dialogs) == 2
        assert await AuditLog.filter(action="org_password_reset", object_id=commission.id).exists()
        await clean(page, "/office/accounts")
        await shoot(page, "accounts-1280")

        await page.goto(base + "/proctor/")  # the live monitor: its script and event stream
        await asyncio.sleep(1.5)
        await clean(page, "/proctor/")

        await page.call("Network.setCookie", name=COOKIE, value=doc_cookie, url=base + "/")
        await page.goto(base + "/examhall/")  # its script, its JSON block, its socket
        await asyncio.sleep(1.5)
        await clean(page, "/examhall/")
        await page.goto(base + f"/physician/credits/{credit.id}/certificate")
        await page.evaluate("document.querySelector('[data-print]').click()")
        assert await page.evaluate("window.__printed === true")
        await clean(page, "certificate")

    async with serve(app) as base, chromium(375, 812) as phone:
        await phone.call("Page.enable")
        await phone.call("Page.addScriptToEvaluateOnNewDocument", source=WATCH)
        await phone.call("Network.setCookie", name=COOKIE, value=office_cookie, url=base + "/")
        await phone.goto(base + "/office/accounts")
        assert not await phone.evaluate(
            "document.getElementById('menu-body').getClientRects().length > 0"
        )  # folded on a phone
        assert await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        await clean(phone, "/office/accounts at 375 px")
        await shoot(phone, "accounts-375")
        await phone.goto(base + "/register")
        await clean(phone, "/register at 375 px")
        await shoot(phone, "register-375")
