"""The security headers of every response, in one middleware.

- ``Content-Security-Policy``: scripts, styles, images and connections from this site only;
  an inline ``<script>`` runs only with the request's nonce (``csp_nonce`` in templates), and
  no inline event handler or ``eval`` runs at all (``static/js/portal.js`` binds the pages'
  ``data-confirm`` and the like). htmx is configured not to need either: ``allowEval`` off, and
  ``includeIndicatorStyles`` off, because the ``<style>`` element htmx would inject for
  ``.htmx-indicator`` is inline and has no nonce (no page uses the class; one that does puts
  the rule in ``static/css/site.css``). No style attribute is allowed either. The exam hall's
  JSON ``<script type="application/json">`` is data, never run, so it needs no nonce. The
  office's lesson editor alone may use style attributes (``RICH_EDITOR``).
  ``frame-ancestors 'none'`` (and ``X-Frame-Options: DENY`` for older browsers): no page can
  be framed by another site.
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin`` (a reset link's token
  never leaves in a Referer), ``Permissions-Policy`` (the camera for this site only, for the
  exam hall's face checks).
- ``Strict-Transport-Security`` when PRODUCTION=1 (production is served over HTTPS).
- ``Cache-Control: no-store`` on everything but ``/static/``: pages, fragments, exports and
  photos carry personal data, and no browser or proxy cache may keep them.

uvicorn's own ``Server`` header is switched off where uvicorn is configured (``cli.py``).
"""

from __future__ import annotations

import re
import secrets

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NONCE_KEY = "csp_nonce"
STATIC = "/static/"
# The office's lesson editor (Jodit) positions its toolbar and pop-ups with style attributes:
# allowed on its two pages alone (office-only; a style attribute runs no script).
RICH_EDITOR = re.compile(r"^/office/courses/(\d+/lessons/new|lessons/\d+)$")


def content_security_policy(nonce: str, style_attributes: bool = False) -> str:
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            f"style-src 'self' 'nonce-{nonce}'",
            "style-src-attr 'unsafe-inline'" if style_attributes else "style-src-attr 'none'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob:",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, production: bool) -> None:
        self.app = app
        self.production = production

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[NONCE_KEY] = secrets.token_urlsafe(18)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                secure(MutableHeaders(scope=message), scope, self.production)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def secure(headers: MutableHeaders, scope: Scope, production: bool) -> None:
    """Every response's security headers (the middleware's, and the 500 page's: Starlette
    answers an unhandled error outside every middleware)."""
    path = str(scope.get("path", ""))
    nonce = str(scope.get(NONCE_KEY) or secrets.token_urlsafe(18))
    headers["Content-Security-Policy"] = content_security_policy(
        nonce, bool(RICH_EDITOR.match(path))
    )
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(self), microphone=(), geolocation=()"
    if production:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if not path.startswith(STATIC):
        headers["Cache-Control"] = "no-store"


def nonce_of(scope: Scope) -> str:
    return str(scope.get(NONCE_KEY, ""))
