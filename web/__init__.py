"""The web plumbing both front ends (the portal and the exam hall) share: sessions, CSRF,
security headers, access logs, error pages, the current user and role guards, rendering,
bounded parameters, pagination, rate limits, .xlsx exports and the operations endpoints.
It imports ``core`` and ``models`` only."""

from starlette.convertors import register_url_convertor

from web.params import RowId

# Before any route is built: routes compile their paths when they are made.
register_url_convertor("int", RowId())
