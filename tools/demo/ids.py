"""Ids of rows just inserted in bulk (``bulk_create`` returns no ids on every database)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from models.enums import OrgKind
from models.org import Account, Organisation

T = TypeVar("T")

IN_CHUNK = 500  # keeps ``IN (...)`` lists well below SQLite's variable limit


async def ids_by(model: Any, key: str, **filters: Any) -> dict[Any, int]:
    """``{row.key: row.id}`` for the model's rows matching ``filters``."""
    rows = await model.filter(**filters).order_by("id").values_list(key, "id")
    return {k: pk for k, pk in rows}


async def org_ids(kinds: Sequence[OrgKind]) -> dict[tuple[OrgKind, str], int]:
    rows = await Organisation.filter(kind__in=list(kinds)).values_list("kind", "name", "id")
    return {(OrgKind(kind), name): pk for kind, name, pk in rows}


async def account_ids(usernames: list[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for chunk in chunks(usernames, IN_CHUNK):
        ids.update(await ids_by(Account, "username", username__in=chunk))
    return ids


def chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
