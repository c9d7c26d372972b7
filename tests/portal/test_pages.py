"""Every menu entry of every role answers, errors are Chinese pages, htmx gets fragments."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import factories
from conftest import login
from portal.menus import MENUS


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
                if entry.soon:
                    assert "功能正在建设中" in page.text


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
