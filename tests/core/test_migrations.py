"""The committed migrations build the whole schema on an empty database (SQLite here, and
PostgreSQL when CI sets TEST_DATABASE_URL), and applying them again changes nothing."""

from __future__ import annotations

import models
from core.db import database, migrate


async def test_migrations_create_every_table(db_url: str) -> None:
    await migrate(db_url)  # a second run is a no-op
    async with database(db_url, process_wide=False) as ctx:
        conn = ctx.db()
        if db_url.startswith("sqlite"):
            sql = "SELECT name FROM sqlite_master WHERE type='table'"
        else:
            sql = "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"
        tables = {r["name"] for r in await conn.execute_query_dict(sql)}
        expected = {getattr(models, name)._meta.db_table for name in models.__all__}
        assert expected <= tables
        applied = await conn.execute_query_dict("SELECT name FROM tortoise_migrations")
        assert [r["name"] for r in applied] == [
            "0001_initial",
            "0002_practice",
            "0003_account_sessions",
        ]
