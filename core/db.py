"""Database configuration, start-up and migrations (Tortoise's own migration system)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from tortoise.context import TortoiseContext
from tortoise.migrations.api import migrate as tortoise_migrate

from core.settings import Settings

APP_LABEL = "models"
MODEL_MODULES = [
    "models.exam",
    "models.ops",
    "models.org",
    "models.period",
    "models.physician",
    "models.training",
]


def tortoise_config(db_url: str) -> dict[str, Any]:
    if db_url.startswith("sqlite://"):
        path = db_url.removeprefix("sqlite://")
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return {
        "connections": {"default": db_url},
        "apps": {
            APP_LABEL: {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "models.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",  # store UTC; pages show Asia/Shanghai (see templates filter)
    }


# For the `tortoise` CLI (makemigrations); see [tool.tortoise] in pyproject.toml.
TORTOISE_ORM = tortoise_config(os.environ.get("DATABASE_URL") or Settings().db_url)


async def migrate(db_url: str) -> None:
    """Apply every committed migration to the database at ``db_url``."""
    async with TortoiseContext():  # its own context: nothing leaks into the caller's
        await tortoise_migrate(config=tortoise_config(db_url))


@asynccontextmanager
async def database(db_url: str, *, process_wide: bool = True) -> AsyncIterator[TortoiseContext]:
    """Open the ORM. ``process_wide``: tasks other than this one (the requests of an app
    whose lifespan opened it) see it too, through Tortoise's global fallback."""
    async with TortoiseContext() as ctx:
        await ctx.init(config=tortoise_config(db_url), _enable_global_fallback=process_wide)
        yield ctx


def placeholders(sql: str, dialect: str) -> str:
    """``?`` placeholders for SQLite, ``$1, $2, …`` for PostgreSQL (asyncpg)."""
    if dialect == "sqlite":
        return sql
    parts = sql.split("?")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], start=1)) + parts[-1]


async def fetch(sql: str, *params: Any) -> list[dict[str, Any]]:
    """Rows of a hand-written query (``?`` placeholders), as dicts, no model objects: for the
    few hot reads where building the query and the objects costs more than the database.
    Values come as the driver gives them: SQLite's datetimes are text (``as_datetime``)."""
    from tortoise.connection import get_connection

    connection = get_connection("default")
    query = placeholders(sql, connection.capabilities.dialect)
    return list(await connection.execute_query_dict(query, list(params)))


async def execute_many(sql: str, rows: list[list[Any]]) -> None:
    """One statement (``?`` placeholders) for every row, in a transaction of its own: all or
    nothing. Tortoise's SQLite client leaves that transaction open when the COMMIT itself
    fails (a deferred constraint, a full disk, an I/O error); then every later statement of
    the process would run inside it and never be committed. Here it is rolled back first."""
    from tortoise.connection import get_connection

    connection = get_connection("default")
    dialect = connection.capabilities.dialect
    try:
        await connection.execute_many(placeholders(sql, dialect), rows)
    except Exception:
        raw = getattr(connection, "_connection", None)
        if dialect == "sqlite" and raw is not None and raw.in_transaction:
            with suppress(Exception):
                await raw.rollback()
        raise


def as_datetime(value: Any) -> Any:
    """A datetime column's value from ``fetch`` (SQLite gives ISO text)."""
    if isinstance(value, str):
        from datetime import datetime

        return datetime.fromisoformat(value)
    return value


def as_json(value: Any) -> Any:
    """A JSON column's value from ``fetch`` (text on SQLite, and for jsonb on asyncpg)."""
    if isinstance(value, str | bytes):
        import json

        return json.loads(value)
    return value
