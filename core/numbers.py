"""Numbers typed by people or sent by browsers, bounded in one place.

Every page reads its numeric parameters (ids, page numbers, counts, form fields) through
``as_int``, and ``{x:int}`` path parameters are bounded the same way (``web/params.py``): a
value that is not a plain number of at most nine digits, inside the caller's range, counts as
absent. So nothing hands the database a number it cannot hold (OverflowError in SQLite,
DataError in PostgreSQL) and ``int()`` never meets "²" or "1e309". Full-width digits (typed
with a Chinese input method) are numbers too.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_DIGITS = 9
MAX_ID = 10**MAX_DIGITS - 1  # fits every 32-bit integer column (2,147,483,647)


def as_int(raw: object, low: int = 0, high: int = MAX_ID) -> int | None:
    """``raw`` as an integer in ``low``..``high``, else None (not a string, not a number,
    more than nine digits, out of range)."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    digits = text[1:] if text.startswith("-") else text
    if not 0 < len(digits) <= MAX_DIGITS or not digits.isdecimal():
        return None
    value = int(text)
    return value if low <= value <= high else None


def as_ints(values: Iterable[object], limit: int = 200) -> list[int]:
    """The ids among ``values`` (a form's ticked boxes), at most ``limit`` of them."""
    found = [n for n in (as_int(v) for v in values) if n is not None]
    return found[:limit]
