"""The committed migrations build the whole schema on an empty database (SQLite here, and
PostgreSQL when CI sets TEST_DATABASE_URL), and applying them again changes nothing."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

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
            "0005_rehearsal",
        ]


async def indexes(conn: Any, table: str, sqlite: bool) -> list[tuple[bool, set[str]]]:
    """(unique, columns) of every index of ``table``."""
    if sqlite:
        found = []
        for row in await conn.execute_query_dict(f'PRAGMA index_list("{table}")'):
            cols = await conn.execute_query_dict(f'PRAGMA index_info("{row["name"]}")')
            found.append((bool(row["unique"]), {c["name"] for c in cols}))
        return found
    rows = await conn.execute_query_dict(
        "SELECT ix.indisunique AS u, array_agg(a.attname) AS cols FROM pg_class t "
        "JOIN pg_index ix ON t.oid = ix.indrelid "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(ix.indkey) "
        "WHERE t.relname = $1 GROUP BY ix.indexrelid, ix.indisunique",
        [table],
    )
    return [(bool(r["u"]), set(r["cols"])) for r in rows]


async def test_every_unique_together_and_index_is_in_the_database(db_url: str) -> None:
    """What the models declare (unique_together, db_index) exists in the migrated schema: a
    migration that rebuilds a SQLite table must not lose its constraints."""
    async with database(db_url, process_wide=False) as ctx:
        conn = ctx.db()
        sqlite = db_url.startswith("sqlite")
        missing = []
        for name in MODEL_MODULES:
            for _, cls in inspect.getmembers(importlib.import_module(name), inspect.isclass):
                if not issubclass(cls, Model) or cls is Model or cls._meta.abstract:
                    continue
                meta = cls._meta
                found = await indexes(conn, meta.db_table, sqlite)
                for together in meta.unique_together:
                    cols = {meta.fields_map[f].source_field or f for f in together}
                    if not any(u and c == cols for u, c in found):
                        missing.append(f"{meta.db_table} unique {sorted(cols)}")
                for field in meta.fields_map.values():
                    column = getattr(field, "source_field", None) or field.model_field_name
                    indexed = field.index and not field.pk and not field.unique
                    if indexed and not any(column in c for _, c in found):
                        missing.append(f"{meta.db_table} index {column}")
        assert not missing, missing
