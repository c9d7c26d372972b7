"""Who acts in a page's request, for the rules: the one helper that builds a ``rules.actor.Actor``
from the session's user and the client's address (the CLI and tests build one directly), and
the app's means the password rules take (``rules.accounts.Means``)."""

from __future__ import annotations

from starlette.requests import Request

from rules.accounts import Means
from rules.actor import Actor
from web.endpoint import client_ip, current_user, mailer


def actor(request: Request) -> Actor:
    """The logged-in user, or an anonymous visitor, with the client's address."""
    return Actor.signed_in(current_user(request), client_ip(request))


def means(request: Request) -> Means:
    """What the password rules need of the app: its hasher, session store and mailer."""
    state = request.app.state
    return Means(hasher=state.hasher, sessions=state.sessions, mailer=mailer(request))
