"""Every state change of the domain: the conditional update, its audit row and its mail, in
ONE database transaction.

``transition`` moves one row from one of the states it may leave to the next:
``UPDATE … WHERE id = ? AND <state> IN (…)``. When no row changed, somebody decided first:
``Conflict`` (one message everywhere, ``core.errors.CONFLICT``). The update, what follows from
it (``then``: the physician moves, accounts are disabled, …), the audit row and the outbox rows
commit together or not at all; the mail sender is woken only after the commit.
``create`` is the same for a row that comes into being in its first state (a filing, a
transfer request, an enrollment), and ``event`` for what changes no state but is audited and
mailed all the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TypeVar

from tortoise.models import Model
from tortoise.transactions import in_transaction

from core.errors import Conflict
from core.mail import Letter, Mailer
from rules import audit
from rules.actor import Actor

M = TypeVar("M", bound=Model)


@dataclass
class Effects:
    """What the work done inside the transaction (``then``) adds: facts for the audit row's
    detail, and letters to mail."""

    detail: dict[str, Any] = field(default_factory=dict)
    letters: list[Letter] = field(default_factory=list)


Then = Callable[[M], Awaitable[Effects | None]]


def _value(state: Enum | str) -> str:
    return str(state.value) if isinstance(state, Enum) else str(state)


async def transition(
    actor: Actor,
    obj: M,
    *,
    action: str,
    from_states: Collection[Enum | str],
    to_state: Enum | str,
    state_field: str | None = "status",
    values: Mapping[str, Any] | None = None,
    where: Mapping[str, Any] | None = None,
    reason: str = "",
    then: Then[M] | None = None,
    letters: Iterable[Letter] = (),
    mailer: Mailer | None = None,
    detail: Mapping[str, Any] | None = None,
    audit_states: bool = True,
) -> M:
    """Move ``obj`` from one of ``from_states`` to ``to_state`` (``state_field``), setting
    ``values`` too, provided the row still matches ``where``. Raises ``Conflict`` when it no
    longer does (nothing written), and rolls everything back when ``then`` raises.

    ``then(obj)`` runs inside the transaction after the update, with ``obj`` read again; it
    may write more rows and return ``Effects``. ``reason`` is checked against the one cap
    (``audit.REASON_MAX``). ``audit_states=False`` leaves the states out of the audit row: an
    edit that requires a state and keeps it (renaming an active institution). Returns ``obj``
    as it is after the commit.

    ``state_field=None`` is for a row whose state is not one column (a period's results are
    published once it has a publication time; a failed face check is approved once it has an
    approver): ``where`` is then the whole condition, and ``from_states``/``to_state`` only name
    the states in the audit row."""
    reason = audit.clean_reason(reason)
    states = [_value(s) for s in from_states]
    before = _value(getattr(obj, state_field)) if state_field else states[0]
    condition = {f"{state_field}__in": states} if state_field else {}
    update = {state_field: to_state} if state_field else {}
    model = type(obj)
    async with _unit(letters, mailer) as mail:
        changed = await model.filter(id=obj.pk, **condition, **(where or {})).update(
            **update, **(values or {})
        )
        if not changed:
            raise Conflict()
        await obj.refresh_from_db()
        effects = (await then(obj) if then is not None else None) or Effects()
        mail += effects.letters
        await audit.record(
            actor,
            action,
            obj=obj,
            # The state the row left: the one read before, when the update's condition agrees.
            from_state=(before if before in states else states[0]) if audit_states else "",
            to_state=_value(to_state) if audit_states else "",
            reason=reason,
            **{**(detail or {}), **effects.detail},
        )
    return obj


async def create(
    actor: Actor,
    model: type[M],
    *,
    action: str,
    values: Mapping[str, Any],
    to_state: Enum | str = "",
    then: Then[M] | None = None,
    letters: Iterable[Letter] = (),
    mailer: Mailer | None = None,
    detail: Mapping[str, Any] | None = None,
) -> M:
    """A new row of ``model`` in its first state, with its audit row (and mail), in one
    transaction. ``then(obj)`` runs inside it after the insert, as for ``transition``."""
    async with _unit(letters, mailer) as mail:
        obj = await model.create(**values)
        effects = (await then(obj) if then is not None else None) or Effects()
        mail += effects.letters
        await audit.record(
            actor,
            action,
            obj=obj,
            to_state=_value(to_state),
            **{**(detail or {}), **effects.detail},
        )
    return obj


async def event(
    actor: Actor,
    action: str,
    *,
    obj: Model | None = None,
    then: Callable[[], Awaitable[Effects | None]] | None = None,
    to_state: str = "",
    letters: Iterable[Letter] = (),
    mailer: Mailer | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """An audited event that moves no state column, with its mail, in one transaction:
    ``then()`` runs inside it first (an edit, a deletion, a new password) and may add to
    the audit row's detail and the letters; when it raises, nothing is written. ``to_state``
    names what the object became, for the audit row, when it is not one column's value."""
    async with _unit(letters, mailer) as mail:
        effects = (await then() if then is not None else None) or Effects()
        mail += effects.letters
        await audit.record(
            actor, action, obj=obj, to_state=to_state, **{**(detail or {}), **effects.detail}
        )


@asynccontextmanager
async def _unit(letters: Iterable[Letter], mailer: Mailer | None) -> AsyncIterator[list[Letter]]:
    """One transaction; the letters (those given, and what the body adds to the list it gets)
    are written to the outbox inside it, and the sender is woken only after the commit."""
    mail = list(letters)
    async with in_transaction():
        yield mail
        if mail:
            if mailer is None:  # a rule that mails must be given the means to
                raise ValueError("letters to send but no mailer")
            await mailer.write(mail)
    if mail and mailer is not None:
        await mailer.wake()
