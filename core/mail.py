"""Mail goes through the outbox table: the request only writes a row, the mail worker sends."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import redis.asyncio as aioredis
from jinja2 import Environment

from core.settings import Settings
from models.ops import OutboxMail

WAKE_KEY = "mail:wake"


async def enqueue(
    env: Environment,
    to: str,
    template: str,
    redis: aioredis.Redis | None = None,
    **context: object,
) -> OutboxMail:
    """Render ``templates/mail/<template>.txt`` (first line: the subject) into the outbox."""
    text = env.get_template(f"mail/{template}.txt").render(**context)
    subject, _, body = text.partition("\n")
    mail = await OutboxMail.create(
        to=to, subject=subject.strip(), body=body.strip() + "\n", next_attempt_at=datetime.now(UTC)
    )
    if redis is not None:
        await redis.lpush(WAKE_KEY, str(mail.id))
    return mail


async def enqueue_many(
    env: Environment,
    template: str,
    letters: Iterable[tuple[str, dict[str, object]]],
    redis: aioredis.Redis | None = None,
    batch: int = 500,
    **common: object,
) -> int:
    """One ``template`` mail per (address, context), written in batches (a period's results
    reach every physician at once). Returns how many were queued."""
    compiled = env.get_template(f"mail/{template}.txt")
    now = datetime.now(UTC)
    count = 0
    pending: list[OutboxMail] = []
    for to, context in letters:
        subject, _, body = compiled.render(**common, **context).partition("\n")
        pending.append(
            OutboxMail(
                to=to, subject=subject.strip(), body=body.strip() + "\n", next_attempt_at=now
            )
        )
        if len(pending) >= batch:
            await OutboxMail.bulk_create(pending)
            count += len(pending)
            pending = []
    if pending:
        await OutboxMail.bulk_create(pending)
        count += len(pending)
    if redis is not None and count:
        await redis.lpush(WAKE_KEY, "batch")
    return count


def build_message(settings: Settings, mail: OutboxMail) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = mail.to
    msg["Subject"] = mail.subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(idstring=f"outbox{mail.id}", domain="xjdk.local")
    msg.set_content(mail.body)
    return msg
