"""Excel downloads: one sheet of a header row and data rows, built off the event loop."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

EXPORT_LIMIT = 50_000  # rows per download
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(sheet_name: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(sheet_name)
    sheet.append(list(headers))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def download(name: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> Response:
    """``name``_YYYYMMDD.xlsx as an attachment (the workbook is CPU work, done in a thread)."""
    data = await asyncio.to_thread(workbook, name, headers, rows)
    filename = f"{name}_{datetime.now(UTC):%Y%m%d}.xlsx"
    return Response(
        data,
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
    )
