"""What the rules' tests ask of the database after a rule ran: its audit rows and its mail."""

from __future__ import annotations

from starlette.applications import Starlette
from tortoise.models import Model

from core.mail import Mailer
from models.ops import AuditLog, OutboxMail
from models.org import Account, Organisation
from models.physician import Physician
from rules.actor import Actor


async def trail(obj: Model) -> list[tuple[str, str, str]]:
    """(action, from, to) of every audit row of ``obj``, oldest first."""
    rows = await AuditLog.filter(object_type=type(obj).__name__.lower(), object_id=obj.pk)
    return [(r.action, r.from_state, r.to_state) for r in sorted(rows, key=lambda r: r.id)]


async def mail_to(address: str) -> list[OutboxMail]:
    return await OutboxMail.filter(to=address).order_by("id")


async def actor_of(org: Organisation, address: str = "192.0.2.10") -> Actor:
    """The actor of ``org``'s (first) account."""
    account = await Account.filter(organisation_id=org.id).order_by("id").first()
    assert account is not None
    return await Actor.of(account, address)


async def physician_actor(physician: Physician) -> Actor:
    return await Actor.of(await Account.get(id=physician.account_id), "192.0.2.20")


def mailer_of(app: Starlette) -> Mailer:
    """A mailer of its own templates, waking the app's real Redis: built the way the CLI
    builds one (no request). A helper, not a fixture: a conftest.py here would shadow the
    suite's own for the processes tests spawn (they import ``conftest`` by name)."""
    return Mailer.for_settings(app.state.settings, app.state.redis)
