"""The audit log: every review decision and security event, with who, when, from, to and why."""

from __future__ import annotations

from typing import Any

from core.errors import DomainError
from models.ops import AuditLog
from models.org import Account
from rules.actor import Actor

REASON_MAX = 500  # the one cap on a reason (a rejection, a proctor's note), as stored


def clean_reason(raw: str, *, required: str = "") -> str:
    """A reason as typed, stripped and checked against ``REASON_MAX``; ``required`` is the
    message shown when it may not be empty (a rejection tells the physician why)."""
    reason = raw.strip()
    if required and not reason:
        raise DomainError(required, field="reason")
    if len(reason) > REASON_MAX:
        raise DomainError(f"原因不能超过{REASON_MAX}字", field="reason")
    return reason


async def record(
    actor: Actor | Account | None,
    action: str,
    *,
    obj: Any = None,
    from_state: str = "",
    to_state: str = "",
    reason: str = "",
    ip: str = "",
    label: str = "",
    **detail: Any,
) -> AuditLog:
    """One audit row. An ``Actor`` brings its label and address; an ``Account`` its user name."""
    if isinstance(actor, Actor):
        actor_id, label, ip = actor.account_id, label or actor.label, ip or actor.address
    else:
        actor_id, label = (actor.id if actor else None), label or (actor.username if actor else "")
    return await AuditLog.create(
        actor_id=actor_id,
        actor_label=label,
        action=action,
        object_type=type(obj).__name__.lower() if obj is not None else "",
        object_id=getattr(obj, "id", None),
        from_state=str(from_state),
        to_state=str(to_state),
        reason=reason[:REASON_MAX],
        detail=detail,
        ip=ip,
    )
