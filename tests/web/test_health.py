"""``/healthz``, ``/readyz`` and ``/metrics`` on the real app: no session, no cookie, nothing
personal; ready only with the database, Redis and every migration; metrics to the allowed
addresses alone, named by route template."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio
from starlette.applications import Starlette
from tortoise import connections

from core.redis import EmbeddedRedis
from core.redis import client as redis_client
from models.enums import OrgKind
from tests import factories
from tests.helpers import login
from web.health import committed_migrations


@pytest_asyncio.fixture
async def local(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the web process's own machine (where Prometheus scrapes from)."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_healthz_answers_without_a_session(client: httpx.AsyncClient) -> None:
    client.cookies.set("xjdk_session", "x" * 43)
    answer = await client.get("/healthz")
    assert answer.status_code == 200 and answer.text == "ok"
    assert "set-cookie" not in answer.headers
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-request-id"]


async def test_readyz_checks_database_redis_and_migrations(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    answer = await client.get("/readyz")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "ok", "migrations": "ok"},
    }
    assert "set-cookie" not in answer.headers
    assert {"0001_initial", "0004_account_sessions"} <= committed_migrations()

    db = connections.get("default")
    await db.execute_query("DELETE FROM tortoise_migrations WHERE name = '0004_account_sessions'")
    try:
        missing = await client.get("/readyz")
    finally:
        await db.execute_query(
            "INSERT INTO tortoise_migrations (app, name, applied_at) "
            "VALUES ('models', '0004_account_sessions', CURRENT_TIMESTAMP)"
        )
    assert missing.status_code == 503
    assert missing.json()["checks"] == {"database": "ok", "redis": "ok", "migrations": "error"}
    assert (await client.get("/readyz")).status_code == 200


async def test_readyz_fails_when_redis_is_gone(
    app: Starlette, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    server = EmbeddedRedis(tmp_path)
    gone = redis_client(server.start(), decode=True, socket_timeout=1)
    server.stop()  # a real server that stopped: its socket refuses connections
    kept, app.state.redis = app.state.redis, gone
    try:
        answer = await client.get("/readyz")
    finally:
        app.state.redis = kept
        await gone.aclose()
    assert answer.status_code == 503
    assert answer.json()["checks"]["redis"] == "error"
    assert "unix" not in answer.text and "Error" not in answer.text  # no detail leaks


async def test_metrics_only_for_allowed_addresses_and_by_route_template(
    client: httpx.AsyncClient, local: httpx.AsyncClient
) -> None:
    assert (await client.get("/metrics")).status_code == 404  # 203.0.113.7: not allowed
    inst, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    assert (await login(client, acct.username)).status_code == 303
    await client.get(f"/physicians/{doc.id}")
    await client.get("/physicians", params={"q": doc.id_number})
    scraped = await local.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=")
    assert "set-cookie" not in scraped.headers
    text = scraped.text
    assert 'route="/physicians/{physician_id:int}"' in text
    assert f"/physicians/{doc.id}" not in text and doc.id_number not in text
    assert 'xjdk_logins_total{outcome="ok"}' in text
    assert "xjdk_hall_sessions " in text and "process_resident_memory_bytes" in text
    assert "xjdk_mail_sent_total" not in text  # the mail sender's, not a web process's
