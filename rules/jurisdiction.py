"""Who may see what: one mechanism that every query of an organisation's pages goes through.

institution = its own physicians; assessor = physicians of the institutions assigned to it;
commission = its prefecture; office = everything; physician = itself. Anything outside
answers NotFound (404), never 403, so ids of other organisations' objects reveal nothing.
What the load-test tool makes (``rehearsal``) is in no organisation's jurisdiction: it never
shows in a list, a figure or an export, whether or not its rows have been removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tortoise.queryset import QuerySet

from core.errors import NotFound
from models.enums import OrgKind, Role
from models.org import Organisation
from models.physician import Physician


class Someone(Protocol):
    """Whoever acts: a logged-in user of the web front ends, or any object with these."""

    @property
    def role(self) -> Role: ...
    @property
    def organisation_id(self) -> int | None: ...
    @property
    def prefecture_id(self) -> int | None: ...
    @property
    def physician_id(self) -> int | None: ...


@dataclass(frozen=True)
class Jurisdiction:
    role: Role
    organisation_id: int | None = None
    prefecture_id: int | None = None
    physician_id: int | None = None

    @classmethod
    def of(cls, who: Someone) -> Jurisdiction:
        """The rows ``who`` may see (``web.endpoint.user(request)``, for a page)."""
        return cls(
            role=who.role,
            organisation_id=who.organisation_id,
            prefecture_id=who.prefecture_id,
            physician_id=who.physician_id,
        )

    def physicians(self) -> QuerySet[Physician]:
        """The physicians in this jurisdiction (never the load-test tool's, ``rehearsal``)."""
        qs = Physician.filter(rehearsal=False)
        match self.role:
            case Role.OFFICE:
                return qs
            case Role.COMMISSION:
                return qs.filter(prefecture_id=self.prefecture_id)
            case Role.ASSESSOR:
                return qs.filter(institution__assessor_id=self.organisation_id)
            case Role.INSTITUTION:
                return qs.filter(institution_id=self.organisation_id)
            case Role.PHYSICIAN:
                return Physician.filter(id=self.physician_id)
        return qs.filter(id=-1)

    def institutions(self) -> QuerySet[Organisation]:
        qs = Organisation.filter(kind=OrgKind.INSTITUTION, rehearsal=False)
        match self.role:
            case Role.OFFICE:
                return qs
            case Role.COMMISSION:
                return qs.filter(prefecture_id=self.prefecture_id)
            case Role.ASSESSOR:
                return qs.filter(assessor_id=self.organisation_id)
            case Role.INSTITUTION:
                return qs.filter(id=self.organisation_id)
        return qs.filter(id=-1)

    def organisations(self) -> QuerySet[Organisation]:
        """Organisations whose accounts this one manages (password resets and the like)."""
        match self.role:
            case Role.OFFICE:
                return Organisation.filter(kind=OrgKind.COMMISSION)
            case Role.COMMISSION:
                return Organisation.filter(
                    prefecture_id=self.prefecture_id,
                    kind__in=[OrgKind.INSTITUTION, OrgKind.ASSESSOR],
                    rehearsal=False,
                )
        return Organisation.filter(id=-1)

    @property
    def full_id_numbers(self) -> bool:
        """Whether ID numbers are shown whole in exports (lists show them masked to all).
        The institution sees its own staff's (it files transfers by ID number and checks a
        registration against the ID card) and the office the region's (it keeps the official
        record of results); the assessment body and the commission work by name and
        institution and see ``650102********1234``."""
        return self.role in (Role.INSTITUTION, Role.OFFICE)

    def id_number(self, physician: Physician) -> str:
        return physician.id_number if self.full_id_numbers else physician.masked_id_number

    async def physician(self, physician_id: int) -> Physician:
        found = await self.physicians().get_or_none(id=physician_id)
        if found is None:
            raise NotFound()
        return found

    async def institution(self, organisation_id: int) -> Organisation:
        found = await self.institutions().get_or_none(id=organisation_id)
        if found is None:
            raise NotFound()
        return found
