"""Fixtures: a real embedded Redis, a real database (SQLite, or PostgreSQL when
TEST_DATABASE_URL is set), and the real app per test module, driven through httpx."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from asgi import create_app
from core.bootstrap import load_geography
from core.db import migrate
from core.redis import EmbeddedRedis
from core.settings import Settings
from tests.helpers import make_settings

pytest_plugins = ["tests.alone"]  # pytest --alone

T = TypeVar("T")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield server.start()
    server.stop()


def _postgres(url: str) -> str:
    """asyncpg's spelling of a Tortoise database URL."""
    return url.replace("postgres://", "postgresql://", 1)


def _sibling(url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``url``."""
    return url.rsplit("/", 1)[0] + "/" + name


async def _create_postgres_database(base: str, template: str | None = None) -> str:
    import asyncpg  # type: ignore[import-untyped]

    name = f"xjdk_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_postgres(base))
    try:
        copy = f' TEMPLATE "{template.rsplit("/", 1)[1]}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await conn.close()
    return _sibling(base, name)


async def _drop_postgres_database(base: str, url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_postgres(base))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


def _in_own_loop(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` to completion on a loop of its own thread: a session-wide step that must
    not share the per-module loops of pytest-asyncio (nor replace the thread's loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work).result()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One database migrated once per session; every ``db_url`` starts as a copy of it
    (migrating took most of the suite's time when each module migrated its own)."""
    base = os.environ.get("TEST_DATABASE_URL", "")
    if base:
        url = _in_own_loop(_create_postgres_database(base))
    else:
        url = f"sqlite://{tmp_path_factory.mktemp('template') / 'migrated.sqlite3'}"
    _in_own_loop(migrate(url))
    yield url
    if base:
        _in_own_loop(_drop_postgres_database(base, url))


def _copy_sqlite(source: str, target: Path) -> None:
    """A consistent copy of a closed SQLite database (the backup API, whatever its journal)."""
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


@pytest_asyncio.fixture(scope="module")
async def db_url(
    tmp_path_factory: pytest.TempPathFactory, database_template: str
) -> AsyncIterator[str]:
    """A fresh, migrated database for each test module: a copy of the session's template
    (a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL)."""
    base = os.environ.get("TEST_DATABASE_URL", "")
    if base:
        url = await _create_postgres_database(base, database_template)
    else:
        path = tmp_path_factory.mktemp("db") / "test.sqlite3"
        _copy_sqlite(database_template.removeprefix("sqlite://"), path)
        url = f"sqlite://{path}"
    yield url
    if base:
        await _drop_postgres_database(base, url)


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
    from tests.browser import serve

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
