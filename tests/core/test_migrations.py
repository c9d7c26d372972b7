"""The committed migrations build the whole schema on an empty database (SQLite here, and
PostgreSQL when CI sets TEST_DATABASE_URL), and applying them again changes nothing."""

from __future__ import annotations

import importlib
import inspect

from tortoise.models import Model

from core.db import MODEL_MODULES, database, migrate


def model_tables() -> set[str]:
    found = set()
    for name in MODEL_MODULES:
        for _, cls in inspect.getmembers(importlib.import_module(name), inspect.isclass):
            if issubclass(cls, Model) and cls is not Model and not cls._meta.abstract:
                found.add(cls._meta.db_table)
    return found


async def test_migrations_create_every_table(db_url: str) -> None:
    await migrate(db_url)  # a second run is a no-op
    async with database(db_url, process_wide=False) as ctx:
        conn = ctx.db()
        if db_url.startswith("sqlite"):
            sql = "SELECT name FROM sqlite_master WHERE type='table'"
        else:
            sql = "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
        tables = {r["name"] for r in await conn.execute_query_dict(sql)}
        assert model_tables() <= tables
        applied = await conn.execute_query_dict("SELECT name FROM tortoise_migrations")
        assert [r["name"] for r in applied] == [
            "0001_initial",
            "0002_practice",
            "0003_liveness",
            "0004_account_sessions",
        ]
