"""Who acts in a page's request, for the rules: the one helper that builds a ``rules.actor.Actor``
from the session's user and the client's address (the CLI and tests build one directly)."""

from __future__ import annotations

from starlette.requests import Request

from rules.actor import Actor
from web.endpoint import client_ip, current_user


def actor(request: Request) -> Actor:
    """The logged-in user, or an anonymous visitor, with the client's address."""
    return Actor.signed_in(current_user(request), client_ip(request))
