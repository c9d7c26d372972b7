"""rules.accounts, called directly: a password changes with the epoch, its audit row and its
mail in one transaction; the sessions Redis holds go after the commit."""

from __future__ import annotations

import secrets

import pytest
from jinja2 import DictLoader, Environment
from starlette.applications import Starlette

from core.errors import NotFound
from core.mail import Mailer
from core.settings import Settings
from models.enums import OrgKind, Role
from models.ops import OutboxMail
from models.org import Account
from rules import accounts
from rules.accounts import Means
from tests import factories
from tests.helpers import TEST_PASSWORD
from tests.rules.rule_checks import actor_of, mail_to, mailer_of, physician_actor, trail
from web.sessions import Session

NEW = "Neues2026pass"


def means_of(app: Starlette, mailer: Mailer | None = None) -> Means:
    return Means(app.state.hasher, app.state.sessions, mailer or mailer_of(app))


async def logged_in(app: Starlette, account: Account) -> Session:
    """A session of ``account`` in Redis, as a log-in leaves it."""
    session = Session(secrets.token_urlsafe(32), {}, is_new=True)
    session.login({"account_id": account.id, "epoch": account.session_epoch})
    await app.state.sessions.save(session)
    return session


async def test_the_holder_changes_it_and_keeps_only_this_session(app: Starlette) -> None:
    doc = await factories.physician(None)
    account = await Account.get(id=doc.account_id)
    mine, other = await logged_in(app, account), await logged_in(app, account)
    actor = await physician_actor(doc)

    with pytest.raises(accounts.PasswordRefused) as refused:
        await accounts.change_own_password(actor, "wrong", NEW, "different", means_of(app))
    assert refused.value.errors == {
        "old_password": accounts.WRONG_OLD,
        "confirm_password": accounts.MISMATCH,
    }
    with pytest.raises(accounts.PasswordRefused, match="常见"):
        await accounts.change_own_password(
            actor, TEST_PASSWORD, "password1", "password1", means_of(app)
        )
    assert (await Account.get(id=account.id)).session_epoch == account.session_epoch
    assert not await trail(account)

    await accounts.change_own_password(actor, TEST_PASSWORD, NEW, NEW, means_of(app), keep=mine)
    after = await Account.get(id=account.id)
    assert after.session_epoch == account.session_epoch + 1 and not after.must_change_password
    assert await app.state.hasher.verify(after.password_hash, NEW)
    assert await app.state.sessions.load(other.id) is None  # ended
    assert (
        await app.state.sessions.load(mine.id) is not None and mine["epoch"] == after.session_epoch
    )
    assert await trail(account) == [("password_changed", "", "")]


async def test_a_manager_gives_a_temporary_password_within_its_jurisdiction(
    app: Starlette,
) -> None:
    commission, _ = await factories.org_with_account(OrgKind.COMMISSION, "650100")
    hospital, hospital_account = await factories.org_with_account(OrgKind.INSTITUTION, "650100")
    _, elsewhere_account = await factories.org_with_account(OrgKind.INSTITUTION, "653100")
    manager = await actor_of(commission)
    await logged_in(app, hospital_account)

    with pytest.raises(NotFound):  # another prefecture's institution: as if it did not exist
        await accounts.reset_organisation_password(manager, elsewhere_account.id, means_of(app))
    assert (
        await Account.get(id=elsewhere_account.id)
    ).password_hash == elsewhere_account.password_hash

    account, password = await accounts.reset_organisation_password(
        manager, hospital_account.id, means_of(app)
    )
    stored = await Account.get(id=account.id)
    assert stored.must_change_password and await app.state.hasher.verify(
        stored.password_hash, password
    )
    assert await app.state.sessions.count(account.id) == 0
    assert await trail(account) == [("org_password_reset", "", "")]
    (mail,) = await mail_to(hospital_account.email)
    assert password not in mail.body and hospital.name in mail.body
    assert not await mail_to(elsewhere_account.email)


async def test_an_institution_resets_its_physician_only(app: Starlette) -> None:
    mine, _ = await factories.org_with_account(OrgKind.INSTITUTION, "650100")
    theirs, _ = await factories.org_with_account(OrgKind.INSTITUTION, "650100")
    doc, stranger = await factories.physician(mine), await factories.physician(theirs)
    actor = await actor_of(mine)
    with pytest.raises(NotFound):
        await accounts.reset_physician_password(actor, stranger.id, means_of(app))
    physician, password = await accounts.reset_physician_password(actor, doc.id, means_of(app))
    stored = await Account.get(id=doc.account_id)
    assert physician.id == doc.id and stored.must_change_password
    assert await trail(doc) == [("physician_password_reset", "", "")]
    (mail,) = await mail_to(doc.email)
    assert password not in mail.body


async def test_a_failed_mail_leaves_the_old_password(app: Starlette, settings: Settings) -> None:
    """The outbox insert fails after the new hash and the epoch were written: all rolled back,
    no session ended."""
    office, _ = await factories.org_with_account(OrgKind.OFFICE, "650100")
    _, commission_account = await factories.org_with_account(OrgKind.COMMISSION)
    session = await logged_in(app, commission_account)
    broken = Mailer(Environment(loader=DictLoader({})), settings.public_url, app.state.redis)
    mails = await OutboxMail.all().count()
    with pytest.raises(Exception, match="org_password_reset"):
        await accounts.reset_organisation_password(
            await actor_of(office), commission_account.id, means_of(app, broken)
        )
    stored = await Account.get(id=commission_account.id)
    assert stored.password_hash == commission_account.password_hash
    assert stored.session_epoch == commission_account.session_epoch
    assert not stored.must_change_password and not await trail(commission_account)
    assert await OutboxMail.all().count() == mails
    assert await app.state.sessions.load(session.id) is not None


async def test_a_reset_by_link_is_the_holders_act(app: Starlette) -> None:
    account = await factories.account(Role.OFFICE)
    await accounts.reset_with_link(account, NEW, means_of(app), address="203.0.113.9")
    stored = await Account.get(id=account.id)
    assert await app.state.hasher.verify(stored.password_hash, NEW)
    assert stored.session_epoch == account.session_epoch + 1
    assert await trail(account) == [("password_reset", "", "")]
    assert accounts.new_password_errors(account.username, NEW, NEW + "x") == {
        "confirm_password": accounts.MISMATCH
    }


async def test_log_in_refuses_in_the_pages_words_and_audits_success(app: Starlette) -> None:
    account = await factories.account(Role.INSTITUTION)
    state = app.state

    async def attempt(username: str, password: str, address: str = "192.0.2.50") -> Account:
        return await accounts.log_in(
            username,
            password,
            hasher=state.hasher,
            throttle=state.throttle,
            address=address,
            lockout_minutes=state.settings.login_lockout_minutes,
        )

    with pytest.raises(accounts.LogInRefused, match="账号或密码错误，还可尝试") as wrong:
        await attempt(account.username, "wrong-password1")
    assert (wrong.value.status_code, wrong.value.outcome) == (400, "failed")
    with pytest.raises(accounts.LogInRefused, match="账号或密码错误") as nobody:
        await attempt("no-such-user", TEST_PASSWORD)  # the same words for nobody
    assert nobody.value.outcome == "failed"
    assert not await trail(account)

    done = await attempt(account.username, TEST_PASSWORD)
    assert done.id == account.id and done.last_login_at is not None
    assert await trail(account) == [("login", "", "")]

    await Account.filter(id=account.id).update(is_active=False)
    with pytest.raises(accounts.LogInRefused, match="已停用") as disabled:
        await attempt(account.username, TEST_PASSWORD)
    assert (disabled.value.status_code, disabled.value.outcome) == (403, "disabled")

    for _ in range(state.settings.login_max_failures_account):
        with pytest.raises(accounts.LogInRefused):
            await attempt(account.username, "wrong-password1", "192.0.2.51")
    with pytest.raises(accounts.LogInRefused, match="分钟后再试") as held:
        await attempt(account.username, TEST_PASSWORD, "192.0.2.52")
    assert (held.value.status_code, held.value.outcome) == (429, "held")
    assert [row[0] for row in await trail(account)] == ["login", "login_locked"]
    assert accounts.login_name(" 65010219800101001x ") == "65010219800101001X"
