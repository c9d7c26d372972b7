"""Mail goes through the outbox table: the request only writes a row, the mail worker sends."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import redis.asyncio as aioredis
from jinja2 import Environment, FileSystemLoader, select_autoescape

from core.settings import Settings
from models.ops import OutboxMail

WAKE_KEY = "mail:wake"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True)
class Letter:
    """One mail to queue: to whom, ``templates/mail/<template>.txt``, and what it says."""

    to: str
    template: str
    context: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Mailer:
    """Writes letters into the outbox (inside the caller's transaction) and wakes the sender
    once they are committed. ``site`` (the public address) is available to every template."""

    env: Environment
    site: str
    redis: aioredis.Redis | None = None

    @classmethod
    def for_settings(cls, settings: Settings, redis: aioredis.Redis | None = None) -> Mailer:
        """A mailer outside the web app (the CLI, tests): its own template environment."""
        env = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"])
        )
        return cls(env, settings.public_url, redis)

    def compose(self, letter: Letter) -> OutboxMail:
        """The outbox row of ``letter``, not saved yet."""
        text = self.env.get_template(f"mail/{letter.template}.txt").render(
            site=self.site, **letter.context
        )
        subject, _, body = text.partition("\n")
        return OutboxMail(
            to=letter.to,
            subject=subject.strip(),
            body=body.strip() + "\n",
            next_attempt_at=datetime.now(UTC),
        )

    async def write(self, letters: Iterable[Letter]) -> int:
        """Save the letters to the outbox; returns how many. The sender is not woken: call
        ``wake`` once the transaction that wrote them has committed."""
        rows = [self.compose(letter) for letter in letters]
        for row in rows:  # one by one: each row gets its id on every database
            await row.save()
        return len(rows)

    async def wake(self) -> None:
        if self.redis is not None:
            await self.redis.lpush(WAKE_KEY, "batch")


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
