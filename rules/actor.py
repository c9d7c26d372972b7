"""Who acts: the account, its role and organisation, the label the audit log gives it, and
the address the request came from.

Rules take an ``Actor`` instead of a request. The front ends build it from the session's user
(``signed_in``: ``portal.acting.actor`` for the pages, the proctors' pages of the exam hall);
the CLI and tests build it directly, or from an account (``of``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from models.enums import Role
from models.org import Account
from models.physician import Physician
from rules.jurisdiction import Jurisdiction, Someone

ANONYMOUS = "匿名访客"


class SignedIn(Someone, Protocol):
    """What a front end knows of its logged-in user (``web.endpoint.CurrentUser``): whom the
    jurisdiction reads (``Someone``), and who it is."""

    @property
    def account_id(self) -> int: ...
    @property
    def username(self) -> str: ...
    @property
    def display_name(self) -> str: ...


@dataclass(frozen=True)
class Actor:
    account_id: int | None
    role: Role | None
    label: str  # how the audit log names the actor: the user name, or 匿名访客
    display_name: str = ""  # how others read it: the organisation's or the physician's name
    organisation_id: int | None = None
    prefecture_id: int | None = None
    physician_id: int | None = None
    address: str = ""  # the client's address, kept in the audit log

    @property
    def jurisdiction(self) -> Jurisdiction:
        if self.role is None:  # an anonymous visitor sees nobody's rows
            return Jurisdiction(role=Role.PHYSICIAN, physician_id=-1)
        return Jurisdiction.of(self)  # type: ignore[arg-type]  # role is set from here on

    @classmethod
    def signed_in(cls, user: SignedIn | None, address: str = "") -> Actor:
        """The logged-in user of a request (None: an anonymous visitor), from ``address``."""
        if user is None:
            return cls.anonymous(address)
        return cls(
            account_id=user.account_id,
            role=user.role,
            label=user.username,
            display_name=user.display_name,
            organisation_id=user.organisation_id,
            prefecture_id=user.prefecture_id,
            physician_id=user.physician_id,
            address=address,
        )

    @classmethod
    def anonymous(cls, address: str = "") -> Actor:
        """A visitor who has not logged in (registration, a forgotten password)."""
        return cls(account_id=None, role=None, label=ANONYMOUS, address=address)

    @classmethod
    async def of(cls, account: Account, address: str = "") -> Actor:
        """The actor an account is, read from the database (the CLI, tests)."""
        await account.fetch_related("organisation")
        org = account.organisation
        physician = await Physician.get_or_none(account_id=account.id)
        if physician is not None:
            return cls(
                account_id=account.id,
                role=account.role,
                label=account.username,
                display_name=physician.name,
                organisation_id=physician.institution_id,
                prefecture_id=physician.prefecture_id,
                physician_id=physician.id,
                address=address,
            )
        return cls(
            account_id=account.id,
            role=account.role,
            label=account.username,
            display_name=account.display_name or account.username,
            organisation_id=org.id if org else None,
            prefecture_id=org.prefecture_id if org else None,
            address=address,
        )
