"""Log-in and passwords: who may log in (``log_in``), the holder's change (修改密码), a reset
by e-mailed link, and the temporary passwords a manager gives (an institution to its
physicians, a commission to its institutions and assessment bodies, the office to the
commissions: 重置密码).

A new password is hashed first (off the event loop, ``core.passwords.Hasher``); then, in ONE
transaction, it is stored with the account's session epoch raised in the same UPDATE (every
session made before ends at its next request on every node, every reset link sent before is
void), with its audit row and its mail. After the commit, the sessions Redis still holds are
deleted (``Sessions.ended``), the caller's own (``keep``) carried over: that is tidying, the
epoch has already ended them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from core.clock import minutes
from core.errors import DomainError, NotFound
from core.mail import Letter, Mailer
from core.passwords import Hasher, password_problem, temporary_password
from models.enums import OrgStatus
from models.org import Account
from models.physician import Physician
from rules import audit
from rules.actor import Actor
from rules.transition import Effects, event

WRONG_OLD = "原密码不正确"
MISMATCH = "两次输入的新密码不一致"


class Throttle(Protocol):
    """Failed log-ins counted per account and per address (``web.throttle.Throttle``)."""

    async def wait_seconds(self, username: str, address: str) -> int: ...
    async def failed(self, username: str, address: str) -> int: ...
    async def succeeded(self, username: str) -> None: ...


class Sessions(Protocol):
    """The session store of the front ends (``web.sessions.SessionStore``)."""

    async def count(self, account_id: int) -> int: ...
    async def ended(self, account_id: int, epoch: int, keep: Any = None) -> int: ...


@dataclass(frozen=True)
class Means:
    """What changing a password needs besides the database: the hasher, the session store
    and the mailer of the process (the app's, or the CLI's and the tests' own)."""

    hasher: Hasher
    sessions: Sessions
    mailer: Mailer | None = None


class PasswordRefused(DomainError):
    """The form's reasons by field (``old_password``, ``new_password``, ``confirm_password``)."""

    def __init__(self, errors: dict[str, str]) -> None:
        field, message = next(iter(errors.items()))
        super().__init__(message, field=field)
        self.errors = errors


class LogInRefused(DomainError):
    """Why a log-in is refused, as the page says it; ``outcome`` names it for the metrics
    (held, failed, locked, disabled)."""

    def __init__(self, message: str, status_code: int, outcome: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.outcome = outcome


def login_name(raw: str) -> str:
    """The user name as stored: an ID number's check letter is upper case."""
    name = raw.strip()
    return name.upper() if name[:-1].isdigit() else name


async def log_in(
    username: str,
    password: str,
    *,
    hasher: Hasher,
    throttle: Throttle,
    address: str,
    lockout_minutes: int,
) -> Account:
    """The account ``username`` logs in to with ``password``, or ``LogInRefused``: held after
    too many failures (per account and per address), a wrong password (the same words and the
    same argon2 work whether or not the account exists), a disabled account. A hash of older
    parameters is made again now that the password is at hand (not a password change: no
    session ends); the log-in time and its audit row are written together."""
    wait = await throttle.wait_seconds(username, address)
    if wait:
        raise LogInRefused(f"登录失败次数过多，请 {minutes(wait)} 分钟后再试。", 429, "held")
    account = await Account.get_or_none(username=username)
    ok = await hasher.verify(account.password_hash if account else None, password)
    if not ok or account is None:
        left = await throttle.failed(username, address)
        if left == 0:
            await audit.record(account, "login_locked", obj=account, ip=address, label=username)
            lock = minutes(lockout_minutes * 60)
            raise LogInRefused(f"登录失败次数过多，请 {lock} 分钟后再试。", 429, "locked")
        raise LogInRefused(f"账号或密码错误，还可尝试 {left} 次。", 400, "failed")
    if not account.is_active:
        raise LogInRefused("该账号已停用，请联系上级管理部门。", 403, "disabled")
    await throttle.succeeded(username)
    values: dict[str, Any] = {"last_login_at": datetime.now(UTC)}
    if hasher.needs_rehash(account.password_hash):
        values["password_hash"] = await hasher.hash(password)

    async def record() -> None:
        await Account.filter(id=account.id).update(**values)

    who = Actor(account_id=account.id, role=account.role, label=account.username, address=address)
    await event(who, "login", obj=account, then=record)
    for key, value in values.items():
        setattr(account, key, value)
    return account


def new_password_errors(username: str, new: str, confirm: str) -> dict[str, str]:
    """Why a new password (typed twice) is refused, by field; empty when it is acceptable."""
    problem = password_problem(new, username)
    if problem:
        return {"new_password": problem}
    if new != confirm:
        return {"confirm_password": MISMATCH}
    return {}


async def set_password(
    actor: Actor,
    account: Account,
    password: str,
    means: Means,
    *,
    action: str,
    obj: Any = None,
    temporary: bool = False,
    keep: Any = None,
    letters: list[Letter] | None = None,
    detail: dict[str, Any] | None = None,
) -> int:
    """The one way a password changes (the module's docstring). ``temporary``: it must be
    changed at the next log-in. ``keep``: the caller's own session, which stays. The audit
    row (``action`` on ``obj``, the account by default) notes how many sessions Redis held
    for the account. Returns the new epoch."""
    password_hash = await means.hasher.hash(password)
    live = await means.sessions.count(account.id)
    epoch = 0

    async def store() -> Effects:
        nonlocal epoch
        epoch = await Account.raise_epoch(
            account.id,
            password_hash=password_hash,
            password_changed_at=datetime.now(UTC),
            must_change_password=temporary,
        )
        return Effects(detail={"sessions_ended": live})

    await event(
        actor,
        action,
        obj=obj if obj is not None else account,
        then=store,
        letters=letters or (),
        mailer=means.mailer,
        detail=detail,
    )
    await means.sessions.ended(account.id, epoch, keep)
    return epoch


async def change_own_password(
    actor: Actor, old: str, new: str, confirm: str, means: Means, *, keep: Any = None
) -> None:
    """修改密码: the holder, who knows the old one; ``keep`` (their session) stays logged in.
    Raises ``PasswordRefused`` and changes nothing when a field is wrong."""
    account = await Account.get(id=actor.account_id)
    errors: dict[str, str] = {}
    if not await means.hasher.verify(account.password_hash, old):
        errors["old_password"] = WRONG_OLD
    errors |= new_password_errors(account.username, new, confirm)
    if errors:
        raise PasswordRefused(errors)
    await set_password(actor, account, new, means, action="password_changed", keep=keep)


async def reset_with_link(account: Account, new: str, means: Means, *, address: str = "") -> None:
    """A reset by e-mailed link (the page checked the link and used it up)."""
    actor = await Actor.of(account, address)
    await set_password(actor, account, new, means, action="password_reset")


def managed_accounts(actor: Actor) -> QuerySet[Account]:
    """The log-ins of the organisations ``actor`` looks after (deleted ones left out)."""
    organisations = actor.jurisdiction.organisations().exclude(status=OrgStatus.DELETED)
    return Account.filter(organisation_id__in=Subquery(organisations.values("id")))


async def give_temporary_password(
    actor: Actor,
    account: Account,
    means: Means,
    *,
    action: str,
    notice: Letter,
    obj: Any = None,
    detail: dict[str, Any] | None = None,
) -> str:
    """A manager's 重置密码: a temporary password, to be changed at the next log-in, and
    ``notice`` mailed (never the password) when it has an address. Returns the password, to
    be shown once."""
    password = temporary_password()
    letters = [notice] if notice.to else []
    await set_password(
        actor,
        account,
        password,
        means,
        action=action,
        obj=obj,
        temporary=True,
        letters=letters,
        detail=detail,
    )
    return password


async def reset_organisation_password(
    actor: Actor, account_id: int, means: Means
) -> tuple[Account, str]:
    """重置密码 of an account the actor manages (else ``NotFound``); the organisation is
    mailed a notice."""
    account = (
        await managed_accounts(actor).select_related("organisation").get_or_none(id=account_id)
    )
    if account is None:
        raise NotFound()
    organisation = account.organisation
    assert organisation is not None  # managed accounts belong to an organisation
    notice = {
        "organisation": organisation.name,
        "username": account.username,
        "manager": actor.display_name,
    }
    address = account.email or organisation.contact_email
    password = await give_temporary_password(
        actor,
        account,
        means,
        action="org_password_reset",
        notice=Letter(address, "org_password_reset", notice),
        detail={"organisation": organisation.id},
    )
    return account, password


async def reset_physician_password(
    actor: Actor, physician_id: int, means: Means
) -> tuple[Physician, str]:
    """重置密码 of a physician of the actor's jurisdiction (else ``NotFound``); the physician
    is mailed a notice."""
    physician = await actor.jurisdiction.physician(physician_id)
    account = await Account.get(id=physician.account_id)
    notice = {"name": physician.name, "institution": actor.display_name}
    password = await give_temporary_password(
        actor,
        account,
        means,
        action="physician_password_reset",
        notice=Letter(physician.email, "password_reset_by_institution", notice),
        obj=physician,
    )
    return physician, password
