"""The audit log: every review decision and security event, with who, when, from, to and why."""

from __future__ import annotations

from typing import Any

from models.ops import AuditLog
from models.org import Account


async def record(
    actor: Account | None,
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
    return await AuditLog.create(
        actor=actor,
        actor_label=label or (actor.username if actor else ""),
        action=action,
        object_type=type(obj).__name__.lower() if obj is not None else "",
        object_id=getattr(obj, "id", None),
        from_state=str(from_state),
        to_state=str(to_state),
        reason=reason[:500],
        detail=detail,
        ip=ip,
    )
