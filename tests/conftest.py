"""Fixtures: a real embedded Redis, a real database (SQLite, or PostgreSQL when
TEST_DATABASE_URL is set), and the real app per test module, driven through httpx."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from asgi import create_app
from core.bootstrap import load_geography
from core.db import migrate
from core.redis import EmbeddedRedis
from core.settings import Settings

TEST_PASSWORD = "Passw0rd2026"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield server.start()
    server.stop()


async def _postgres_database(base: str) -> str:
    import asyncpg  # type: ignore[import-untyped]

    name = f"xjdk_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(base.replace("postgres://", "postgresql://", 1))
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return base.rsplit("/", 1)[0] + "/" + name


async def _drop_postgres_database(base: str, url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(base.replace("postgres://", "postgresql://", 1))
    await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    await conn.close()


@pytest_asyncio.fixture(scope="module")
async def db_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A fresh, migrated database for each test module."""
    import os

    base = os.environ.get("TEST_DATABASE_URL", "")
    if base:
        url = await _postgres_database(base)
    else:
        url = f"sqlite://{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    await migrate(url)
    yield url
    if base:
        await _drop_postgres_database(base, url)


def make_settings(data_dir: Path, db_url: str, redis_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": db_url,
        "redis_url": redis_url,
        "secret_key": "test-secret-" + uuid.uuid4().hex,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8192,
        "public_url": "http://testserver",
        # The clip of ../shared/faces shows head turns but no open mouth (face/samples.py);
        # a test's burst is sent at once rather than filmed for seconds (test_liveness.py
        # films them: a burst that comes too soon is refused).
        "face_actions": "turn_left,turn_right",
        "face_burst_seconds": 0.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, db_url: str, redis_url: str) -> Settings:
    return make_settings(tmp_path_factory.mktemp("data"), db_url, redis_url)


@pytest_asyncio.fixture(scope="module")
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        await application.state.redis.flushdb()
        await load_geography()
        yield application


@pytest.fixture(scope="module")
def worker(app: Starlette, settings: Settings, redis_url: str) -> Iterator[Any]:
    """One face worker process for the module's tests."""
    from face.worker import start_workers

    proc = start_workers(settings, redis_url, 1)[0]
    yield proc
    proc.terminate()
    proc.join(timeout=10)


@pytest_asyncio.fixture(scope="module")
async def base_url(app: Starlette) -> AsyncIterator[str]:
    """The module's app behind a real uvicorn (WebSockets, server-sent events, browsers)."""
    from browser import serve

    async with serve(app) as url:
        yield url


@pytest_asyncio.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def db(app: Starlette) -> None:
    """Marks a test that uses the ORM directly; the app fixture has it open."""


CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


async def csrf_of(client: httpx.AsyncClient, path: str = "/login") -> str:
    page = await client.get(path)
    found = CSRF.search(page.text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


async def login(
    client: httpx.AsyncClient, username: str, password: str = TEST_PASSWORD
) -> httpx.Response:
    token = await csrf_of(client)
    return await client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


async def post_form(client: httpx.AsyncClient, path: str, data: dict[str, str]) -> httpx.Response:
    """Post a form the way the browser does: with the token from the page it came from."""
    token = await csrf_of(client, path)
    return await client.post(path, data={**data, "csrf_token": token})


def table_rows(html: str) -> list[str]:
    """The text of each body row of the page's table."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    return [row.get_text(" ", strip=True) for row in soup.select("table tbody tr")]
