"""The mail sender: retries with backoff, gives up after the limit, or writes .eml files."""

from __future__ import annotations

import dataclasses
import socket
from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette

from core.mail import enqueue
from core.settings import Settings
from models.enums import MailStatus
from models.ops import OutboxMail
from workers.mail import backoff, send_due


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_without_smtp_mail_goes_to_eml_files(app: Starlette, settings: Settings) -> None:
    env = app.state.templates.env
    mail = await enqueue(env, "a@example.com", "password_reset", name="张三", link="L", minutes=30)
    stats = await send_due(settings)
    assert stats.sent == 1
    eml = (settings.mail_dir / f"{mail.id:08d}.eml").read_bytes()
    assert b"a@example.com" in eml
    assert (await OutboxMail.get(id=mail.id)).status == MailStatus.SENT


async def test_unreachable_server_is_retried_with_backoff_then_failed(
    app: Starlette, settings: Settings
) -> None:
    down = dataclasses.replace(
        settings, smtp_host="127.0.0.1", smtp_port=closed_port(), mail_max_attempts=3
    )
    mail = await enqueue(
        app.state.templates.env,
        "b@example.com",
        "password_reset",
        name="李四",
        link="L",
        minutes=30,
    )
    now = datetime.now(UTC)
    first = await send_due(down, now=now)
    assert first.retried == 1 and first.sent == 0
    row = await OutboxMail.get(id=mail.id)
    assert row.attempts == 1 and row.status == MailStatus.PENDING and row.last_error
    assert row.next_attempt_at >= now + backoff(1) - timedelta(seconds=1)
    assert (await send_due(down, now=now)).retried == 0  # not due yet
    later = now + timedelta(hours=1)
    await send_due(down, now=later)
    final = await send_due(down, now=later + timedelta(hours=1))
    assert final.failed == 1
    row = await OutboxMail.get(id=mail.id)
    assert row.status == MailStatus.FAILED and row.attempts == 3


def test_backoff_doubles() -> None:
    assert backoff(1) == timedelta(seconds=30)
    assert backoff(3) == timedelta(seconds=120)
