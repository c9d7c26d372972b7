"""Excel downloads: one sheet of an optional title row, a header row and data rows, built off
the event loop, its columns as wide as their contents and the header row frozen.

Every cell is a value, never a formula: text is written as an explicit string, and text that
a spreadsheet would read as a formula (= + - @, a tab or a carriage return first) also carries
Excel's quote prefix, so an institution named ``=HYPERLINK(...)`` stays that text even when
the cell is edited. Caches may not keep a download. File names carry the date in Beijing
time, like everything the users read. Every export of data goes through the portal's
``portal.exports.audited_export``, which audits it first.
"""

from __future__ import annotations

import asyncio
import io
import re
import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from web.endpoint import local_time

EXPORT_LIMIT = 50_000  # rows per download
WIDTH_SAMPLE = 1000  # rows read to size the columns
MAX_WIDTH = 60
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NOT_IN_TITLE = re.compile(r"[\[\]:*?/\\\x00-\x1f]")  # Excel refuses these in a sheet title


def sheet_title(name: str) -> str:
    """``name`` as a valid sheet title: no []:*?/\\, no quote at either end, 31 characters."""
    return NOT_IN_TITLE.sub("_", name).strip("'")[:31].strip("'") or "Sheet1"


def dated_filename(name: str, now: datetime | None = None) -> str:
    """``name``_YYYYMMDD.xlsx (the Beijing date), with no character a file system or a
    header would trip on."""
    safe = re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", name)[:100]
    return f"{safe}_{local_time(now or datetime.now(UTC), '%Y%m%d')}.xlsx"


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


def workbook(
    sheet_name: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    title: str | None = None,
) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(sheet_title(sheet_name))
    for i, width in enumerate(column_widths(headers, rows), start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A3" if title is not None else "A2"

    def cell(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        made = WriteOnlyCell(sheet, value=value)
        made.data_type = "s"  # openpyxl reads a leading "=" as a formula; this is text
        if value.startswith(FORMULA_START):
            made.quotePrefix = True
        return made

    if title is not None:
        sheet.append([cell(title)])
    for row in (headers, *rows):
        sheet.append([cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def attachment(data: bytes, name: str) -> Response:
    return Response(
        data,
        media_type=MEDIA_TYPE,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(dated_filename(name))}",
            "Cache-Control": "no-store",
        },
    )


async def download(name: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> Response:
    """A workbook that holds no data of anybody (the import template)."""
    return attachment(await asyncio.to_thread(workbook, name, headers, rows), name)
