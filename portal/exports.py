"""Exports of data: every .xlsx that holds anybody's data is audited as 导出数据 (who, from
where, which export, the filters, the row count) before it is built (``web.xlsx``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from models.org import Account
from rules import audit
from web.endpoint import client_ip, user
from web.xlsx import attachment, workbook


async def audited_export(
    request: Request,
    name: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    filters: dict[str, str],
    title: str | None = None,
) -> Response:
    """An export of data: audited as 导出数据 (who, what, the filters, the row count), then
    built in a thread (CPU work) and sent as an attachment."""
    actor = await Account.get(id=user(request).account_id)
    await audit.record(
        actor,
        "data_exported",
        ip=client_ip(request),
        export=name,
        path=request.url.path,
        filters={k: v for k, v in filters.items() if v},
        rows=len(rows),
    )
    data = await asyncio.to_thread(workbook, name, headers, rows, title)
    return attachment(data, name)
