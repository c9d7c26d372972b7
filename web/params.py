"""Numbers of the path and the query string, bounded by ``core.numbers`` like every other."""

from __future__ import annotations

from starlette.convertors import IntegerConvertor
from starlette.requests import Request

from core.numbers import MAX_DIGITS, as_int


class RowId(IntegerConvertor):
    """``{x:int}`` path parameters are row ids: at most nine digits, so an absurd number is
    a plain 404 (registered in ``portal/__init__``, before any route is built)."""

    regex = f"[0-9]{{1,{MAX_DIGITS}}}"


def query_int(request: Request, name: str) -> int | None:
    return as_int(request.query_params.get(name))


def page_number(request: Request) -> int:
    """``?page=``: 1 when absent or absurd (a page past the end is clamped by the caller)."""
    return max(1, query_int(request, "page") or 1)
