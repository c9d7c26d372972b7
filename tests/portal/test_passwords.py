"""Password change and the e-mailed one-time reset link, through a real SMTP server."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message

import httpx
import pytest
from aiosmtpd.controller import Controller
from starlette.applications import Starlette

from models.enums import MailStatus, OrgKind
from models.ops import AuditLog, OutboxMail
from models.org import Account
from tests import factories
from tests.helpers import TEST_PASSWORD, csrf_of, login, post_form
from workers.mail import send_due


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[attr-defined]
        return "250 OK"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture(scope="module")
def settings(settings, smtp):  # type: ignore[no-untyped-def]
    import dataclasses

    return dataclasses.replace(
        settings, smtp_host="127.0.0.1", smtp_port=smtp[1], smtp_starttls=False
    )


def body_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(message.get_content_charset() or "utf-8")


async def test_change_password(client: httpx.AsyncClient, app: Starlette, db: None) -> None:
    _, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    other_transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=other_transport, base_url="http://testserver") as other:
        await login(other, acct.username)  # a second session, e.g. another browser
        await login(client, acct.username)

        wrong = await post_form(
            client,
            "/account/password",
            {"old_password": "nope", "new_password": "abc", "confirm_password": "abc"},
        )
        assert wrong.status_code == 400
        assert "原密码不正确" in wrong.text and "密码长度须为8–128位" in wrong.text

        mismatch = await post_form(
            client,
            "/account/password",
            {"old_password": TEST_PASSWORD, "new_password": "Better2026", "confirm_password": "x"},
        )
        assert "两次输入的新密码不一致" in mismatch.text

        ok = await post_form(
            client,
            "/account/password",
            {
                "old_password": TEST_PASSWORD,
                "new_password": "Better2026",
                "confirm_password": "Better2026",
            },
        )
        assert ok.status_code == 303
        assert "密码已修改" in (await client.get("/")).text
        assert (await other.get("/")).status_code == 303  # the other session was ended
    client.cookies.clear()
    assert (await login(client, acct.username)).status_code == 400
    assert (await login(client, acct.username, "Better2026")).status_code == 303
    assert await AuditLog.filter(action="password_changed", actor_id=acct.id).exists()


async def test_reset_by_mail_through_real_smtp(
    client: httpx.AsyncClient, settings: object, smtp: tuple[Inbox, int], db: None
) -> None:
    inbox, _ = smtp
    await send_due(settings)  # type: ignore[arg-type]  # what the module's other tests queued
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst, email="doctor@example.com")

    page = await post_form(
        client, "/password/forgot", {"username": doc.id_number, "email": "DOCTOR@example.com"}
    )
    assert page.status_code == 200 and "请查收邮件" in page.text
    stats = await send_due(settings)  # type: ignore[arg-type]
    assert stats.sent == 1
    mail = inbox.messages[-1]
    assert mail["To"] == "doctor@example.com"
    assert mail["Subject"] == "【新疆医师定期考核平台】重置密码"
    link = re.search(r"http://testserver(/password/reset/\S+)", body_of(mail))
    assert link
    path = link.group(1)

    weak = await post_form(client, path, {"new_password": "short", "confirm_password": "short"})
    assert weak.status_code == 400 and "密码长度" in weak.text
    done = await post_form(
        client, path, {"new_password": "Fresh2026x", "confirm_password": "Fresh2026x"}
    )
    assert done.status_code == 303
    assert "密码已重置" in (await client.get("/login")).text
    assert (await login(client, doc.id_number, "Fresh2026x")).status_code == 303

    client.cookies.clear()
    again = await client.get(path)  # one use only
    assert again.status_code == 400 and "链接已失效" in again.text
    assert await OutboxMail.filter(status=MailStatus.SENT, to="doctor@example.com").count() == 1


async def test_reset_for_wrong_email_sends_nothing_and_says_the_same(
    client: httpx.AsyncClient, db: None
) -> None:
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst, email="real@example.com")
    before = await OutboxMail.all().count()
    page = await post_form(
        client, "/password/forgot", {"username": doc.id_number, "email": "other@example.com"}
    )
    unknown = await post_form(
        client, "/password/forgot", {"username": "nobody", "email": "other@example.com"}
    )
    assert "请查收邮件" in page.text and "请查收邮件" in unknown.text
    assert await OutboxMail.all().count() == before


async def test_forged_reset_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/password/reset/not-a-token")
    assert response.status_code == 400 and "链接已失效" in response.text
    token = await csrf_of(client, "/login")
    posted = await client.post(
        "/password/reset/not-a-token",
        data={"new_password": "Fresh2026x", "confirm_password": "Fresh2026x", "csrf_token": token},
    )
    assert posted.status_code == 400


async def reset_link(client: httpx.AsyncClient, username: str, email: str) -> str:
    """Ask for a reset link and read it from the queued mail."""
    await post_form(client, "/password/forgot", {"username": username, "email": email})
    mail = await OutboxMail.filter(to=email).order_by("-id").first()
    assert mail is not None
    found = re.search(r"http://testserver(/password/reset/\S+)", mail.body)
    assert found
    return found.group(1)


async def test_any_reset_or_change_voids_every_outstanding_link(
    client: httpx.AsyncClient, db: None
) -> None:
    inst, inst_acct = await factories.org_with_account(OrgKind.INSTITUTION)
    doc = await factories.physician(inst, email="twice@example.com")
    older = await reset_link(client, doc.id_number, doc.email)
    newer = await reset_link(client, doc.id_number, doc.email)
    assert older != newer
    fresh = {"new_password": "Fresh2026x", "confirm_password": "Fresh2026x"}
    assert (await post_form(client, newer, fresh)).status_code == 303
    stale = await client.get(older)  # sent before the reset: void
    assert stale.status_code == 400 and "链接已失效" in stale.text
    token = await csrf_of(client, "/login")
    posted = await client.post(older, data={**fresh, "csrf_token": token})
    assert posted.status_code == 400

    pending = await reset_link(client, doc.id_number, doc.email)
    client.cookies.clear()
    await login(client, doc.id_number, "Fresh2026x")
    change = {"old_password": "Fresh2026x", "new_password": "Other2026x"}
    await post_form(client, "/account/password", {**change, "confirm_password": "Other2026x"})
    client.cookies.clear()
    assert (await client.get(pending)).status_code == 400  # a password change voids it too

    pending = await reset_link(client, doc.id_number, doc.email)
    await login(client, inst_acct.username)
    token = await csrf_of(client, f"/physicians/{doc.id}")
    reset = await client.post(f"/physicians/{doc.id}/password", data={"csrf_token": token})
    assert reset.status_code == 303
    client.cookies.clear()
    assert (await client.get(pending)).status_code == 400  # and so does 重置密码


@pytest.mark.parametrize("common", ["password1", "abc12345", "qwerty123", "Qwerty123"])
async def test_common_passwords_are_refused(
    client: httpx.AsyncClient, db: None, common: str
) -> None:
    _, acct = await factories.org_with_account(OrgKind.ASSESSOR)
    await login(client, acct.username)
    change = {"old_password": TEST_PASSWORD, "new_password": common, "confirm_password": common}
    refused = await post_form(client, "/account/password", change)
    assert refused.status_code == 400 and "过于常见" in refused.text


async def test_long_passphrases_are_welcome(client: httpx.AsyncClient, db: None) -> None:
    _, acct = await factories.org_with_account(OrgKind.ASSESSOR)
    await login(client, acct.username)
    for length in (45, 64, 128):
        phrase = ("天山雪莲2026 tianshan " * 10)[:length]
        change = {"old_password": TEST_PASSWORD, "new_password": phrase, "confirm_password": phrase}
        assert (await post_form(client, "/account/password", change)).status_code == 303, length
        client.cookies.clear()
        assert (await login(client, acct.username, phrase)).status_code == 303, length
        await post_form(  # back to the test password for the next length
            client,
            "/account/password",
            {
                "old_password": phrase,
                "new_password": TEST_PASSWORD,
                "confirm_password": TEST_PASSWORD,
            },
        )
    too_long = "a1" * 65
    change = {"old_password": TEST_PASSWORD, "new_password": too_long, "confirm_password": too_long}
    assert (await post_form(client, "/account/password", change)).status_code == 400


async def test_an_older_hash_is_made_again_at_log_in(
    client: httpx.AsyncClient, app: Starlette, db: None
) -> None:
    """A hash of older parameters (the platform used 64 MiB and 3 iterations before) is
    replaced with one of today's at the next log-in, without ending the account's sessions."""
    from argon2 import PasswordHasher

    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    old = PasswordHasher(time_cost=1, memory_cost=16384, parallelism=4).hash(TEST_PASSWORD)
    await Account.filter(id=doc.account_id).update(password_hash=old)
    epoch = (await Account.get(id=doc.account_id)).session_epoch
    hasher = app.state.hasher
    assert hasher.needs_rehash(old)
    assert (await login(client, doc.id_number)).status_code == 303
    account = await Account.get(id=doc.account_id)
    assert account.password_hash != old and not hasher.needs_rehash(account.password_hash)
    assert account.session_epoch == epoch  # not a password change: nothing else ends
    client.cookies.clear()
    assert (await login(client, doc.id_number)).status_code == 303  # the same password


async def test_hashing_threads_yield_to_the_event_loop(app: Starlette) -> None:
    """The pool's threads run HASH_NICE below the process, so a log-in storm takes the CPU
    the hall leaves (Linux schedules each thread by its own priority)."""
    import asyncio
    import os
    import threading

    def priority() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    hasher = app.state.hasher
    loop = asyncio.get_running_loop()
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    theirs = await loop.run_in_executor(hasher._pool, priority)
    assert theirs == min(19, mine + app.state.settings.hash_nice)
    assert await hasher.verify(await hasher.hash(TEST_PASSWORD), TEST_PASSWORD)
