"""The htmx portal: pages for every role, and the web plumbing they share."""

from starlette.convertors import register_url_convertor

from portal.params import RowId

# Before any route is built: routes compile their paths when they are made.
register_url_convertor("int", RowId())
