"""Who acts in a page's request, for the rules: the one helper that builds a ``rules.actor.Actor``
from the session's user and the client's address (the CLI and tests build one directly)."""

from __future__ import annotations

from starlette.requests import Request

from rules.actor import Actor
from web.endpoint import client_ip, current_user


def actor(request: Request) -> Actor:
    """The logged-in user, or an anonymous visitor, with the client's address."""
    found = current_user(request)
    if found is None:
        return Actor.anonymous(client_ip(request))
    return Actor(
        account_id=found.account_id,
        role=found.role,
        label=found.username,
        display_name=found.display_name,
        organisation_id=found.organisation_id,
        prefecture_id=found.prefecture_id,
        physician_id=found.physician_id,
        address=client_ip(request),
    )
