"""What every endpoint uses: the current user, role guards, rendering, client address."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.requests import HTTPConnection, Request
from starlette.responses import RedirectResponse, Response

from core import mail
from core.clock import LOCAL_ZONE as LOCAL_ZONE  # re-exported: pages format times
from core.clock import local_time as local_time
from core.errors import Forbidden
from models.enums import Role
from web.sessions import get_session

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class CurrentUser:
    """The logged-in account as kept in the session (no database read per request)."""

    account_id: int
    username: str
    role: Role
    display_name: str
    organisation_id: int | None
    prefecture_id: int | None
    physician_id: int | None

    def session_values(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "username": self.username,
            "role": self.role.value,
            "display_name": self.display_name,
            "organisation_id": self.organisation_id,
            "prefecture_id": self.prefecture_id,
            "physician_id": self.physician_id,
        }


def current_user(conn: HTTPConnection) -> CurrentUser | None:
    data = get_session(conn).data
    if "account_id" not in data:
        return None
    return CurrentUser(
        account_id=data["account_id"],
        username=data["username"],
        role=Role(data["role"]),
        display_name=data["display_name"],
        organisation_id=data.get("organisation_id"),
        prefecture_id=data.get("prefecture_id"),
        physician_id=data.get("physician_id"),
    )


def user(request: Request) -> CurrentUser:
    """The user of a guarded endpoint (``requires`` has checked there is one)."""
    found = current_user(request)
    assert found is not None
    return found


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def redirect(request: Request, url: str) -> Response:
    """See-other redirect, or HX-Redirect for htmx requests."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def to_login(request: Request) -> Response:
    session = get_session(request)
    if getattr(session, "had_cookie", False):
        session.flash("登录已失效或尚未登录，请登录后继续。", "warning")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if len(target) > 1000:  # the log-in would not go back to it (safe_next) anyway
        target = request.url.path[:1000]
    return redirect(request, f"/login?next={quote(target)}")


def requires(*roles: Role) -> Callable[[Endpoint], Endpoint]:
    """Log-in and role guard. Object-level checks go through ``Jurisdiction.of(user)``."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            found = current_user(request)
            if found is None:
                return to_login(request)
            if roles and found.role not in roles:
                raise Forbidden()
            return await endpoint(request)

        return guarded

    return decorate


def fragment(page: str) -> Callable[[Endpoint], Endpoint]:
    """An htmx partial of ``page`` (a named block of its template). Opened on its own, without
    ``HX-Request`` (a bookmark, a new tab), it is no page at all: send the visitor to ``page``."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def partial(request: Request) -> Response:
            if not is_htmx(request):
                return RedirectResponse(page, status_code=303)
            return await endpoint(request)

        return partial

    return decorate


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    block: str | None = None,
) -> Response:
    """A full page, or only ``block`` of it when htmx asks (Vary keeps caches honest)."""
    templates = request.app.state.templates
    kwargs: dict[str, Any] = {}
    if block and is_htmx(request):
        kwargs["block_name"] = block
    response: Response = templates.TemplateResponse(
        request, template, context or {}, status_code=status_code, **kwargs
    )
    response.headers["Vary"] = "HX-Request"
    return response


def own_prefix(request: Request) -> CurrentUser:
    """The user of a page shared by several roles under ``/<role>/``: only at its own prefix."""
    found = user(request)
    if not request.url.path.startswith(f"/{found.role.value}/"):
        raise Forbidden()
    return found


ORG_ROLES = (Role.INSTITUTION, Role.ASSESSOR, Role.COMMISSION, Role.OFFICE)


def mailer(request: Request) -> mail.Mailer:
    """The rules' mailer: the app's templates, its public address, its Redis to wake the sender."""
    state = request.app.state
    return mail.Mailer(state.templates.env, state.settings.public_url, state.redis)


async def send_mail(request: Request, to: str, template: str, **context: Any) -> None:
    """Queue ``templates/mail/<template>.txt`` for ``to`` and wake the mail sender.
    ``site`` (the public address) is available to every mail template."""
    state = request.app.state
    await mail.enqueue(
        state.templates.env,
        to,
        template,
        redis=state.redis,
        site=state.settings.public_url,
        **context,
    )


def client_ip(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else ""
