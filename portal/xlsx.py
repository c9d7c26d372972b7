"""Excel downloads: one sheet of a header row and data rows, built off the event loop."""

from __future__ import annotations

import asyncio
import io
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from portal.web import local_time

EXPORT_LIMIT = 50_000  # rows per download
WIDTH_SAMPLE = 1000  # rows read to size the columns
MAX_WIDTH = 60
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def display_width(value: Any) -> int:
    """Columns a value takes in a spreadsheet: CJK characters count twice."""
    text = "" if value is None else str(value)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def column_widths(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[int]:
    """Wide enough for each column's header and longest value (from the first rows)."""
    widths = [display_width(h) for h in headers]
    for row in rows[:WIDTH_SAMPLE]:
        for i, value in enumerate(row[: len(widths)]):
            widths[i] = max(widths[i], display_width(value))
    return [min(max(w + 2, 8), MAX_WIDTH) for w in widths]


def workbook(sheet_name: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(sheet_name)
    for i, width in enumerate(column_widths(headers, rows), start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A2"
    sheet.append(list(headers))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def dated_filename(name: str, now: datetime | None = None) -> str:
    """``name``_YYYYMMDD.xlsx, the date of Beijing time like everything the users read."""
    return f"{name}_{local_time(now or datetime.now(UTC), '%Y%m%d')}.xlsx"


async def download(name: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> Response:
    """``name``_YYYYMMDD.xlsx as an attachment (the workbook is CPU work, done in a thread)."""
    data = await asyncio.to_thread(workbook, name, headers, rows)
    filename = dated_filename(name)
    return Response(
        data,
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
    )
