"""Portal pages as users see them, in real headless Chromium at a 375-px phone and a 1280-px
desktop: the one profile form that resubmits the edits, the folded menu and cards that hold
their text on phones, the ethics veto on the rating form, and lists that fit the desktop."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from starlette.applications import Starlette

from models.enums import OrgKind, Phase, Procedure, Rating, RegistrationStatus, StagingReason
from models.period import Evaluation
from models.physician import Physician
from models.training import Course, Lesson
from tests import factories
from tests.browser import Page, chromium, serve
from tests.helpers import csrf_of, login
from web.sessions import COOKIE

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
        assert (
            await page.evaluate("document.querySelectorAll('main form[method=post]').length") == 1
        )
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


# The top of the page's own content, and whether anything is wider than the screen.
CONTENT_TOP = "document.querySelector('main').getBoundingClientRect().top"
FITS = "document.documentElement.scrollWidth <= window.innerWidth"
MENU_SHOWN = "getComputedStyle(document.getElementById('menu-body')).display !== 'none'"


async def test_phones_see_content_first_and_cards_hold_their_text(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    """Item 8: at 375 px the 功能菜单 is folded on every page, even on a page first laid out
    wide (a rotated phone, a resized window); a long e-mail address stays in its card."""
    await factories.period()
    inst, inst_acct = await factories.org_with_account(OrgKind.INSTITUTION)
    doc = await factories.physician(inst, email="a.very.long.address.for.testing@mail.xjdk.example")
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    pages = {
        doc.id_number: ["/", "/physician/profile", "/physician/enrollment", "/physician/training"],
        inst_acct.username: ["/", "/institution/registrations", "/physicians"],
        office.username: ["/", "/office/periods", "/office/audit", "/proctor/"],
    }
    async with serve(app) as base, chromium(1280) as page:
        for username, paths in pages.items():
            await browse_as(page, base, client, username)
            for path in paths:
                await page.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=1280,
                    height=900,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                await page.goto(base + path)
                assert await page.evaluate(MENU_SHOWN), f"{path}: the menu is open on a desktop"
                await page.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=375,
                    height=812,
                    deviceScaleFactor=2,
                    mobile=True,
                )
                await wait_for(page, "window.innerWidth === 375", f"the phone width on {path}")
                assert not await page.evaluate(MENU_SHOWN), f"{path}: the menu unfolded on a phone"
                assert await page.evaluate(CONTENT_TOP) < 200, path
                await page.goto(base + path)
                assert not await page.evaluate(MENU_SHOWN), path
                assert await page.evaluate(CONTENT_TOP) < 200, path
                assert await page.evaluate(FITS), f"{path} is wider than a 375-px phone"
        # The menu still opens with one tap on the phone.
        await page.evaluate("document.querySelector('label[for=menu-open]').click()")
        assert await page.evaluate(MENU_SHOWN)


@pytest.mark.parametrize("width", WIDTHS)
async def test_a_ticked_veto_shows_ethics_failed(
    app: Starlette, client: httpx.AsyncClient, width: int
) -> None:
    """Item 11: ticking 红包 moves 职业道德 to 不合格 on screen, as the server records it."""
    period = await factories.period()
    await factories.open_window(period, Phase.EVALUATION)
    inst, inst_acct = await factories.org_with_account(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    await factories.enrollment(period, doc)
    ethics = "document.querySelector('input[name=ethics][value={}]')"
    async with serve(app) as base, chromium(width) as page:
        await browse_as(page, base, client, inst_acct.username)
        await page.goto(f"{base}/institution/evaluations/{doc.id}")
        await page.evaluate(ethics.format("pass") + ".click()")
        await page.evaluate("document.querySelector('input[name=work_performance]').click()")
        assert await page.evaluate(ethics.format("pass") + ".checked")
        assert await page.evaluate("document.querySelector('.veto-note').hidden")
        await page.evaluate("document.querySelector('input[value=red_envelope]').click()")
        assert await page.evaluate(ethics.format("fail") + ".checked")
        assert await page.evaluate(ethics.format("pass") + ".disabled")
        assert not await page.evaluate("document.querySelector('.veto-note').hidden")
        assert await page.evaluate(FITS)
        # Unticking it gives the choice back; ticking again and saving records 不合格.
        await page.evaluate("document.querySelector('input[value=red_envelope]').click()")
        assert not await page.evaluate(ethics.format("pass") + ".disabled")
        await page.evaluate("document.querySelector('input[value=red_envelope]').click()")
        await page.evaluate(
            "document.getElementById('f-comment').value = '经核实收受患者红包一次';"
            "window.confirm = function () { return true; };"
            "document.querySelector('form.form button[type=submit]').click()"
        )
        await wait_for(page, "!!document.querySelector('.flash')", "the saved rating")
    evaluation = await Evaluation.get(period_id=period.id, physician_id=doc.id)
    assert evaluation.ethics == Rating.FAIL and evaluation.ethics_vetoes == ["red_envelope"]


# Each table box whose content is wider than the box (it would scroll its last columns away).
CUT_OFF = """JSON.stringify(Array.from(document.querySelectorAll('.table-wrap'))
  .filter(function (box) { return box.scrollWidth > box.clientWidth + 1; })
  .map(function (box) { return box.querySelector('thead').innerText; }))"""


async def test_lists_fit_a_1280px_desktop(app: Starlette, client: httpx.AsyncClient) -> None:
    """Item 12: at 1280 px every list fits its box, the key columns (考核结果, 测评合格,
    考核合格) included, with long names, scopes, procedures and results in it."""
    period = await factories.period()
    long_name = "新疆维吾尔自治区巴音郭楞蒙古自治州第一人民医院心血管病医院分院"
    inst, inst_acct = await factories.org_with_account(OrgKind.INSTITUTION, name=long_name)
    _, commission = await factories.org_with_account(
        OrgKind.COMMISSION, email="a.rather.long.contact.address@commission.xjdk.example"
    )
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    for n in range(3):
        doc = await factories.physician(inst, name=f"阿依古丽·买买提艾力{n}")
        await Physician.filter(id=doc.id).update(practice_scope="医学影像和放射治疗专业")
        await factories.enrollment(period, doc, Procedure.SIMPLIFIED)
    await login(client, office.username)
    token = await csrf_of(client, "/office/results")
    computed = await client.post(
        f"/office/results?period={period.id}", data={"action": "compute", "csrf_token": token}
    )
    assert computed.status_code == 303
    pages = {
        office.username: [
            "/office/results",
            "/physicians",
            "/office/accounts",
            "/office/statistics",
            "/office/audit",
        ],
        commission.username: [
            "/commission/statistics",
            "/commission/institutions",
            "/commission/accounts",
            "/physicians",
        ],
        inst_acct.username: ["/physicians", "/institution/evaluations"],
    }
    async with serve(app) as base, chromium(1280) as page:
        for username, paths in pages.items():
            await browse_as(page, base, client, username)
            for path in paths:
                await page.goto(base + path)
                assert await page.evaluate("document.querySelectorAll('table').length"), path
                assert json.loads(await page.evaluate(CUT_OFF)) == [], path
                assert await page.evaluate(FITS), path


async def test_the_scope_picker_follows_the_category(app: Starlette) -> None:
    """Item 18: after 口腔 is chosen only 口腔's scopes are offered, its 全科医学专业 once."""
    offered = """JSON.stringify(Array.from(document.querySelectorAll('#f-scope optgroup'))
      .filter(function (g) { return !g.disabled && !g.hidden; })
      .map(function (g) { return [g.label, Array.from(g.children).map(function (o) {
        return o.textContent; })]; }))"""
    async with serve(app) as base, chromium(375) as page:
        await page.goto(base + "/register")
        assert len(json.loads(await page.evaluate(offered))) == 4
        await choose(page, "f-category", "口腔")
        assert json.loads(await page.evaluate(offered)) == [["口腔", ["口腔专业", "全科医学专业"]]]
        await choose(page, "f-scope", "全科医学专业")
        await choose(page, "f-category", "中医")
        assert await page.evaluate("document.getElementById('f-scope').value") == ""


async def test_the_lesson_editor_formats_and_keeps_it(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    """Item 16: the office formats a lesson with the editor's toolbar (a heading, bold) and
    the saved lesson keeps it."""
    course = await Course.create(
        title="编辑器浏览器课程", category="public_required", class_hours=1
    )
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    select_all_of = """(function (node) {
      var range = document.createRange(); range.selectNodeContents(node);
      var selection = window.getSelection(); selection.removeAllRanges();
      selection.addRange(range); })"""
    async with serve(app) as base, chromium(1280) as page:
        await page.call("Page.enable")
        await page.call(
            "Page.addScriptToEvaluateOnNewDocument",
            source="window.__csp = []; document.addEventListener('securitypolicyviolation',"
            " function (e) { window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });",
        )
        await browse_as(page, base, client, office.username)
        await page.goto(f"{base}/office/courses/{course.id}/lessons/new")
        await wait_for(page, "!!document.querySelector('.jodit-wysiwyg')", "the editor")
        editor = "Object.values(Jodit.instances)[0]"
        await page.evaluate(f"{editor}.value = '<p>第一讲</p><p>首诊医师负责制</p>'")
        # 标题 2 from the paragraph menu, for the first line.
        await page.evaluate(f"{select_all_of}(document.querySelector('.jodit-wysiwyg p'))")
        await page.evaluate(
            "document.querySelector('.jodit-toolbar-button_paragraph button').click()"
        )
        await wait_for(page, "!!document.querySelector('.jodit-popup')", "the paragraph menu")
        offered = await page.evaluate(
            "Array.from(document.querySelectorAll('.jodit-popup button'))"
            ".map(function (b) { return b.textContent.trim(); }).join('|')"
        )
        assert offered == "正文|标题 2|标题 3|标题 4|引用", offered
        await page.evaluate(
            "Array.from(document.querySelectorAll('.jodit-popup button'))"
            ".find(function (b) { return b.textContent.trim() === '标题 2'; }).click()"
        )
        # Bold for the second line.
        await page.evaluate(f"{select_all_of}(document.querySelectorAll('.jodit-wysiwyg p')[0])")
        await page.evaluate("document.querySelector('.jodit-toolbar-button_bold button').click()")
        await page.evaluate(
            "document.getElementById('f-title').value = '首诊负责';"
            "document.getElementById('f-minutes').value = '45';"
        )
        await asyncio.sleep(0.3)  # the editor writes into its textarea after a short pause
        assert await page.evaluate("window.__csp") == [], await page.evaluate(
            "JSON.stringify(window.__csp)"
        )
        await page.evaluate(
            "Array.from(document.querySelectorAll('main button[type=submit]'))"
            ".find(function (b) { return b.textContent.trim() === '保存'; }).click()"
        )
        await wait_for(page, f"location.pathname === '/office/courses/{course.id}'", "saving")
    body = (await Lesson.get(course_id=course.id)).body
    assert "<h2>第一讲</h2>" in body and "<strong>首诊医师负责制</strong>" in body, body
