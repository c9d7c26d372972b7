"""Every menu entry of every role answers, errors are Chinese pages, htmx gets fragments."""

from __future__ import annotations

import httpx
from bs4 import BeautifulSoup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from models.enums import OrgKind, RegistrationStatus
from models.practice import PRACTICE_SCOPES
from portal.menus import MENUS
from tests import factories
from tests.helpers import login


async def test_every_menu_entry_answers_for_its_role(client: httpx.AsyncClient, db: None) -> None:
    usernames = await factories.one_account_per_role()
    for role, username in usernames.items():
        client.cookies.clear()
        await login(client, username)
        for section in MENUS[role]:
            for entry in section.entries:
                page = await client.get(entry.url)
                assert page.status_code == 200, (role, entry.url)
                assert entry.label in page.text


async def test_anonymous_pages(client: httpx.AsyncClient) -> None:
    for path in ("/login", "/register", "/password/forgot"):
        assert (await client.get(path)).status_code == 200
    assert (await client.get("/static/css/site.css")).status_code == 200
    protected = await client.get("/physicians", headers={"HX-Request": "true"})
    assert protected.status_code == 204
    assert protected.headers["HX-Redirect"].startswith("/login?next=")


async def test_htmx_errors_are_fragments(client: httpx.AsyncClient) -> None:
    full = await client.get("/nowhere")
    fragment = await client.get("/nowhere", headers={"HX-Request": "true"})
    assert full.status_code == fragment.status_code == 404
    assert "<html" in full.text and "<html" not in fragment.text
    assert "页面不存在" in fragment.text


async def test_unexpected_error_is_a_calm_chinese_page(app: Starlette) -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("kaboom")

    app.router.routes.append(Route("/test-boom", boom))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        response = await c.get("/test-boom")
    assert response.status_code == 500
    assert "系统繁忙" in response.text and "kaboom" not in response.text


async def test_method_not_allowed(client: httpx.AsyncClient) -> None:
    response = await client.get("/logout")
    assert response.status_code == 405
    assert "请求方式不支持" in response.text


async def test_every_scope_picker_is_grouped_by_category(
    client: httpx.AsyncClient, db: None
) -> None:
    """执业范围 is offered per 执业类别 everywhere (全科医学专业 is under three of them), and
    a picker next to a category select follows it (static/js/scopes.js)."""
    inst = await factories.organisation(OrgKind.INSTITUTION)
    pending = await factories.physician(inst, RegistrationStatus.PENDING)
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    pages = {
        None: ["/register"],
        pending.id_number: ["/physician/profile"],
        office.username: [
            "/office/courses/new",
            "/office/questions",
            "/office/questions/new",
            "/physicians",
        ],
    }
    for username, paths in pages.items():
        client.cookies.clear()
        if username:
            await login(client, username)
        for path in paths:
            soup = BeautifulSoup((await client.get(path)).text, "html.parser")
            pickers = soup.select("select[name=practice_scope], select[name=scope]")
            assert len(pickers) == 1, path
            picker = pickers[0]
            groups = [g["label"] for g in picker.select("optgroup")]
            assert groups == list(PRACTICE_SCOPES), path
            loose = [o["value"] for o in picker.find_all("option", recursive=False)]
            assert set(loose) <= {"", "-"}, path
            if picker["name"] == "practice_scope":
                assert soup.find(id=picker["data-category"]) or soup.select_one(
                    f"select[name={picker['data-category']}]"
                ), path
                assert soup.select_one("script[src='/static/js/scopes.js']"), path


async def test_the_favicon_answers(client: httpx.AsyncClient) -> None:
    """Browsers fetch /favicon.ico for every page (the exam hall's too) and the icon each
    portal page links to; neither is a 404."""
    ico = await client.get("/favicon.ico")
    assert ico.status_code == 200 and ico.headers["content-type"] == "image/x-icon"
    assert ico.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    page = BeautifulSoup((await client.get("/login")).text, "html.parser")
    link = page.select_one("link[rel=icon]")
    assert link is not None
    svg = await client.get(link["href"])
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
