"""Every error becomes a page (or, for htmx, the page's message block) in one place."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from core.errors import DomainError
from web import headers
from web.endpoint import render

log = logging.getLogger(__name__)

TITLES = {
    400: "请求有误",
    403: "无权访问",
    404: "页面不存在",
    405: "请求方式不支持",
    409: "操作冲突",
    413: "提交内容过大",
    429: "操作过于频繁",
    500: "系统繁忙",
}
MESSAGES = {
    403: "您的账号无权使用此功能。",
    404: "您访问的内容不存在或不在您的管辖范围内。",
    405: "请求方式不支持。",
    500: "系统繁忙，请稍后再试。如问题持续存在，请联系自治区医师定期考核办公室。",
}


def error_page(request: Request, status: int, message: str | None = None) -> Response:
    text = message or MESSAGES.get(status) or TITLES.get(status, "请求有误")
    return render(
        request,
        "error.html",
        {"status": status, "title": TITLES.get(status, "出错了"), "message": text},
        status_code=status,
        block="content",
    )


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = exc.detail if exc.status_code not in MESSAGES else None
    return error_page(request, exc.status_code, message)


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return error_page(request, exc.status_code, exc.message)


async def server_error(request: Request, exc: Exception) -> Response:
    # The route's template, not the path: a path may carry a reset link's token.
    route = getattr(request.scope.get("route"), "path", "(unmatched)")
    log.exception("unhandled error on %s %s", request.method, route, exc_info=exc)
    page = error_page(request, 500)
    settings = getattr(request.app.state, "settings", None)
    headers.secure(page.headers, request.scope, bool(settings and settings.production))
    return page


async def reject(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    """Used by middleware that refuses a request before it reaches the router."""
    response = error_page(Request(scope, receive), status, message)
    await response(scope, receive, send)


HANDLERS = {HTTPException: http_exception, DomainError: domain_error, Exception: server_error}
