"""core.db.execute_many: all or nothing, and a COMMIT that fails leaves no transaction open."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from tortoise.connection import get_connection

from core.db import execute_many, fetch
from models.enums import OrgKind
from models.org import Organisation
from tests import factories

RENAME = "UPDATE organisation SET name = ? WHERE id = ?"
INSERT_STAFF = (
    "INSERT INTO account (username, role, password_hash, organisation_id, display_name, email,"
    " is_active, must_change_password, session_epoch, created_at)"
    " VALUES (?, 'institution', 'x', ?, '', '', 1, 0, 0, CURRENT_TIMESTAMP)"
)


async def test_a_failed_commit_is_rolled_back(app: Starlette) -> None:
    connection = get_connection("default")
    if connection.capabilities.dialect != "sqlite":
        pytest.skip("the open transaction after a failed COMMIT is Tortoise's SQLite client's")
    org = await factories.organisation(OrgKind.INSTITUTION)
    raw = connection._connection  # type: ignore[attr-defined]
    # Foreign keys checked at COMMIT, not at each statement: the COMMIT itself fails.
    await raw.execute("PRAGMA defer_foreign_keys = ON")
    with pytest.raises(Exception, match="FOREIGN KEY"):
        await execute_many(INSERT_STAFF, [["ghost1", 999_999]])
    assert not raw.in_transaction
    assert not await fetch("SELECT id FROM account WHERE username = ?", "ghost1")

    await execute_many(RENAME, [["改名后的医院", org.id]])  # a later batch commits
    assert (await Organisation.get(id=org.id)).name == "改名后的医院"
    assert not raw.in_transaction
