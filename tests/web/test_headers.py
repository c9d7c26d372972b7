"""Security headers (issue 16): CSP with a per-request nonce, no framing, nosniff, a referrer
policy, HSTS in production, no-store on everything with personal data, no ``Server: uvicorn``;
and the trusted proxies of FORWARDED_ALLOW_IPS, through a real uvicorn."""

from __future__ import annotations

import dataclasses
import re

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from core.settings import Settings
from models.enums import OrgKind
from tests import factories
from tests.browser import serve
from tests.helpers import CSRF, login
from web.headers import SecurityHeadersMiddleware

NONCE = re.compile(r"script-src 'self' 'nonce-([\w-]+)'")


async def test_every_page_sends_the_security_headers(client: httpx.AsyncClient) -> None:
    seen = set()
    for path in ("/login", "/register", "/no/such/page"):
        response = await client.get(path)
        headers = response.headers
        policy = headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["cache-control"] == "no-store"
        assert "strict-transport-security" not in headers  # not in development
        found = NONCE.search(policy)
        assert found
        seen.add(found.group(1))
        # Every inline script of the page carries this response's nonce, and no other runs.
        scripts = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", response.text)
        for attributes in scripts:
            assert f'nonce="{found.group(1)}"' in attributes or "application/json" in attributes
        assert not re.search(r"\son[a-z]+=", response.text), path  # no inline handlers
        assert "hx-on" not in response.text and "style=" not in response.text
    assert len(seen) == 3  # a new nonce for every response


async def test_only_the_lesson_editor_may_use_style_attributes(
    client: httpx.AsyncClient, db: None
) -> None:
    from models.training import Course

    course = await Course.create(title="样式属性课程", category="public_required", class_hours=1)
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    await login(client, office.username)
    editor = await client.get(f"/office/courses/{course.id}/lessons/new")
    assert editor.status_code == 200
    assert "style-src-attr 'unsafe-inline'" in editor.headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in editor.headers["content-security-policy"]
    for path in (f"/office/courses/{course.id}", "/office/courses"):
        policy = (await client.get(path)).headers["content-security-policy"]
        assert "style-src-attr 'none'" in policy, path


async def test_static_files_may_be_cached_but_nothing_else(
    client: httpx.AsyncClient, db: None
) -> None:
    static = await client.get("/static/css/site.css")
    assert static.status_code == 200 and static.headers.get("cache-control") != "no-store"
    assert static.headers["x-content-type-options"] == "nosniff"
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    await login(client, office.username)
    for path in ("/", "/physicians", "/physicians/export.xlsx", "/office/audit"):
        response = await client.get(path)
        assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    fragment = await client.get("/physicians", headers={"HX-Request": "true"})
    assert fragment.headers["cache-control"] == "no-store"


async def test_a_physician_photo_is_not_kept_by_caches(
    client: httpx.AsyncClient, settings: Settings, db: None
) -> None:
    inst, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    (settings.media_path / "photos").mkdir(parents=True, exist_ok=True)
    (settings.media_path / "photos" / f"h{doc.id}.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    doc.photo = f"photos/h{doc.id}.jpg"
    await doc.save(update_fields=["photo"])
    await login(client, acct.username)
    photo = await client.get(f"/physicians/{doc.id}/photo")
    assert photo.status_code == 200 and photo.headers["cache-control"] == "no-store"


async def test_hsts_in_production_only() -> None:
    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("你好")

    for production, expected in ((True, "max-age=31536000; includeSubDomains"), (False, None)):
        app = SecurityHeadersMiddleware(Starlette(routes=[Route("/", hello)]), production)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://x") as c:
            assert (await c.get("/")).headers.get("strict-transport-security") == expected


async def test_real_uvicorn_sends_no_server_header(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as c:
        page = await c.get("/login")
    assert page.status_code == 200
    assert "server" not in page.headers
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def failed_logins(base: str, forwarded: list[str]) -> list[int]:
    """One failed log-in per forwarded address, each for another account name."""
    statuses = []
    async with httpx.AsyncClient(base_url=base) as c:
        token = CSRF.search((await c.get("/login")).text)
        assert token
        for n, address in enumerate(forwarded):
            sent = await c.post(
                "/login",
                data={"username": f"nobody{n}", "password": "x", "csrf_token": token.group(1)},
                headers={"X-Forwarded-For": address},
            )
            statuses.append(sent.status_code)
    return statuses


async def test_forwarded_addresses_count_only_from_trusted_proxies(
    app: Starlette, settings: Settings
) -> None:
    redis = app.state.redis
    addresses = [f"198.51.100.{n}" for n in range(settings.login_max_failures_address + 2)]
    # Default: no proxy is trusted, so a client on the host cannot pick a new address for
    # each try: the per-address throttle holds it.
    await redis.delete("login:fail:addr:127.0.0.1")
    async with serve(app) as base:
        statuses = await failed_logins(base, addresses)
    assert statuses[-1] == 429 and 429 in statuses[: settings.login_max_failures_address + 1]
    assert not await redis.exists("login:fail:addr:198.51.100.1")

    # Behind a trusted proxy the forwarded address is the client's.
    await redis.delete("login:fail:addr:127.0.0.1")
    trusting = dataclasses.replace(settings, forwarded_allow_ips="127.0.0.1")
    async with serve(app, trusting) as base:
        statuses = await failed_logins(base, addresses)
    assert 429 not in statuses
    assert await redis.get("login:fail:addr:198.51.100.1") == "1"
    assert not await redis.exists("login:fail:addr:127.0.0.1")


async def test_the_500_page_sends_them_too(app: Starlette) -> None:
    """Starlette answers an unhandled error outside every middleware: the error page sets
    the headers itself, with the nonce its page was rendered with."""

    async def broken(request: object) -> PlainTextResponse:
        raise RuntimeError("a bug")

    app.router.routes.append(Route("/test-only/broken", broken))
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get("/test-only/broken")
    finally:
        app.router.routes.pop()
    assert response.status_code == 500 and "系统繁忙" in response.text
    policy = response.headers["content-security-policy"]
    found = NONCE.search(policy)
    assert found and "frame-ancestors 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert all(n == found.group(1) for n in re.findall(r'nonce="([\w-]+)"', response.text))
