"""The mail sender: takes due rows from the outbox, sends them, retries with backoff.

Any number of senders may run: a row is claimed by moving its ``next_attempt_at`` forward
with a conditional update, so two senders never send the same mail.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiosmtplib
import redis.asyncio as aioredis

from core import metrics, presence
from core.mail import WAKE_KEY, build_message
from core.settings import Settings
from models.enums import MailStatus
from models.ops import OutboxMail

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)
BASE_BACKOFF = timedelta(seconds=30)


@dataclass
class SendStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def backoff(attempts: int) -> timedelta:
    return BASE_BACKOFF * (2 ** max(attempts - 1, 0))


async def deliver(settings: Settings, mail: OutboxMail) -> None:
    message = build_message(settings, mail)
    if not settings.smtp_host:
        settings.mail_dir.mkdir(parents=True, exist_ok=True)
        path = settings.mail_dir / f"{mail.id:08d}.eml"
        await asyncio.to_thread(path.write_bytes, message.as_bytes())
        return
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_user or None,
        password=settings.smtp_password or None,
        start_tls=settings.smtp_starttls,
        timeout=30,
    )


async def send_due(settings: Settings, now: datetime | None = None, limit: int = 50) -> SendStats:
    """Send every mail that is due; returns the counts (tests assert on them)."""
    now = now or datetime.now(UTC)
    stats = SendStats()
    due = await OutboxMail.filter(status=MailStatus.PENDING, next_attempt_at__lte=now).limit(limit)
    for mail in due:
        claimed = await OutboxMail.filter(
            id=mail.id, status=MailStatus.PENDING, next_attempt_at=mail.next_attempt_at
        ).update(next_attempt_at=now + LEASE)
        if not claimed:
            continue
        mail.attempts += 1
        try:
            await deliver(settings, mail)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            mail.last_error = f"{type(exc).__name__}: {exc}"[:500]
            if mail.attempts >= settings.mail_max_attempts:
                mail.status = MailStatus.FAILED
                stats.failed += 1
                log.error("mail %s failed for good: %s", mail.id, type(exc).__name__)
            else:
                mail.next_attempt_at = now + backoff(mail.attempts)
                stats.retried += 1
            await mail.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
            continue
        mail.status = MailStatus.SENT
        mail.sent_at = datetime.now(UTC)
        mail.last_error = ""
        await mail.save(update_fields=["attempts", "status", "sent_at", "last_error"])
        stats.sent += 1
    return stats


async def run(settings: Settings, redis: aioredis.Redis, stop: asyncio.Event) -> None:
    """Send due mail, then sleep until a new mail is queued or the next retry may be due."""
    while not stop.is_set():
        try:
            stats = await send_due(settings)
            due = await OutboxMail.filter(
                status=MailStatus.PENDING, next_attempt_at__lte=datetime.now(UTC)
            ).count()
            metrics.mail_pass(stats.sent, stats.retried, stats.failed, due)
            await presence.announce(redis, "mail")
        except Exception:  # keep the sender alive; the rows stay pending
            log.exception("mail sender pass failed")
        # BLPOP wakes at once when a request queues mail; the timeout catches retries.
        await redis.blpop([WAKE_KEY], timeout=10)
