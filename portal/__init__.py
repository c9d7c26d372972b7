"""The htmx portal: pages for every role, and the web plumbing they share."""

from starlette.convertors import IntegerConvertor, register_url_convertor


class RowId(IntegerConvertor):
    """``{x:int}`` path parameters are row ids: at most nine digits, so an absurd number is a
    plain 404 instead of an integer overflow in PostgreSQL. Registered here, before any
    route is built (routes compile their paths when they are made)."""

    regex = "[0-9]{1,9}"


register_url_convertor("int", RowId())
