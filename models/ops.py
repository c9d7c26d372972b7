"""The mail outbox and the audit log."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from models.enums import MailStatus
from models.org import Account


class OutboxMail(Model):
    """A mail waiting to be sent by the mail worker. Rows are kept as the sending record."""

    id = fields.IntField(primary_key=True)
    to = fields.CharField(max_length=200)
    subject = fields.CharField(max_length=200)
    body = fields.TextField()
    status = fields.CharEnumField(MailStatus, default=MailStatus.PENDING, db_index=True)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(db_index=True)
    last_error = fields.CharField(max_length=500, default="")
    sent_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "outbox_mail"
        ordering = ["id"]


class AuditLog(Model):
    """Who did what to which object, when, from which state to which, and why."""

    id = fields.IntField(primary_key=True)
    actor: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="audit_entries", null=True, on_delete=fields.SET_NULL
    )
    actor_id: int | None
    actor_label = fields.CharField(max_length=100, default="")
    action = fields.CharField(max_length=60, db_index=True)
    object_type = fields.CharField(max_length=40, default="")
    object_id = fields.IntField(null=True)
    from_state = fields.CharField(max_length=40, default="")
    to_state = fields.CharField(max_length=40, default="")
    reason = fields.CharField(max_length=500, default="")
    detail = fields.JSONField[dict[str, Any]](default=dict)
    ip = fields.CharField(max_length=45, default="")
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "audit_log"
        ordering = ["-id"]
