"""注册 and 注册审核: the rules of a physician's registration.

``draft → pending → approved``; ``pending → rejected`` puts the physician in the staging area
(暂存区) and the physician may pick the right institution and resubmit (``update_profile``).
Each review result is mailed. Registering an ID number that holds an account already creates
nothing: its holder is mailed at the address on record, and the visitor learns nothing
(``register`` answers None).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core.errors import Forbidden
from core.mail import Letter, Mailer
from models.enums import RegistrationStatus, Role, Sex, StagingReason
from models.org import Account, County, Organisation, Prefecture
from models.physician import Physician
from rules import audit
from rules.actor import Actor
from rules.transition import create, event, transition


@dataclass
class Registration:
    """A registration form once every field has been checked."""

    name: str
    id_number: str
    sex: Sex
    birth_date: date
    prefecture: Prefecture
    county: County
    institution: Organisation
    practice_category: str
    practice_scope: str
    title: str
    licence_number: str
    email: str
    mobile: str
    password: str
    photo: bytes


class _RegisteredAlready(Exception):
    """The ID number holds an account already."""


async def register(
    visitor: Actor, reg: Registration, password_hash: str, *, mailer: Mailer
) -> Physician | None:
    """Create the account and the pending registration (the photo is checked and kept by the
    caller). An ID number that holds an account already: nothing is created, its holder is
    mailed, and the answer is None."""
    try:
        async with in_transaction():
            if await Account.exists(username=reg.id_number):
                raise _RegisteredAlready
            account = await Account.create(
                username=reg.id_number,
                role=Role.PHYSICIAN,
                password_hash=password_hash,
                display_name=reg.name,
                email=reg.email,
            )
            # The new account files its own registration.
            applicant = Actor(
                account_id=account.id,
                role=Role.PHYSICIAN,
                label=account.username,
                display_name=reg.name,
                address=visitor.address,
            )
            return await create(
                applicant,
                Physician,
                action="registration_submitted",
                values={
                    "account": account,
                    "name": reg.name,
                    "id_number": reg.id_number,
                    "sex": reg.sex,
                    "birth_date": reg.birth_date,
                    "prefecture": reg.prefecture,
                    "county": reg.county,
                    "institution": reg.institution,
                    "practice_category": reg.practice_category,
                    "practice_scope": reg.practice_scope,
                    "title": reg.title,
                    "licence_number": reg.licence_number,
                    "email": reg.email,
                    "mobile": reg.mobile,
                    "registration_status": RegistrationStatus.PENDING,
                    "submitted_at": datetime.now(UTC),
                },
                to_state=RegistrationStatus.PENDING,
                detail={"institution": reg.institution.id},
            )
    except (_RegisteredAlready, IntegrityError):  # before, or by a request racing this one
        holder = await Account.get_or_none(username=reg.id_number)
        if holder is None:
            raise  # another constraint: not ours to hide
        await registered_already(visitor, holder, mailer=mailer)
        return None


async def registered_already(visitor: Actor, holder: Account, *, mailer: Mailer) -> None:
    """Someone registered an ID number that holds an account: tell its holder, at the address
    on record (never the one typed in the form), and keep a trace."""
    letters = []
    if holder.email:
        context = {"name": holder.display_name or "医师"}
        letters.append(Letter(holder.email, "registration_duplicate", context))
    await event(visitor, "registration_duplicate", obj=holder, letters=letters, mailer=mailer)


async def review(
    reviewer: Actor, physician_id: int, approve: bool, reason: str, *, mailer: Mailer
) -> Physician:
    """The institution decides one pending registration filed with it. Two reviewers at
    once: exactly one wins."""
    reason = audit.clean_reason(
        reason, required="" if approve else "请填写不通过的原因，医师将看到该原因"
    )
    physician = await reviewer.jurisdiction.physician(physician_id)
    now = datetime.now(UTC)
    if approve:
        values = {"reviewed_at": now, "rejection_reason": ""}
    else:
        values = {
            "reviewed_at": now,
            "rejection_reason": reason,
            "previous_institution_id": reviewer.organisation_id,
            "institution_id": None,
            "staging_reason": StagingReason.REJECTED,
        }
    return await transition(
        reviewer,
        physician,
        action="registration_approved" if approve else "registration_rejected",
        state_field="registration_status",
        from_states=[RegistrationStatus.PENDING],
        to_state=RegistrationStatus.APPROVED if approve else RegistrationStatus.REJECTED,
        where={"institution_id": reviewer.organisation_id},
        values=values,
        reason=reason,
        letters=[
            Letter(
                physician.email,
                "registration_result",
                {
                    "name": physician.name,
                    "approved": approve,
                    "institution": reviewer.display_name,
                    "reason": reason,
                },
            )
        ],
        mailer=mailer,
    )


@dataclass
class ProfileEdit:
    """What a physician's 个人资料 form says, once checked. The place (prefecture, county,
    institution) is given only while the registration is pending or rejected."""

    title: str
    licence_number: str
    email: str
    mobile: str
    practice_category: str
    practice_scope: str
    institution: Organisation | None = None


async def update_profile(
    physician_actor: Actor, physician: Physician, edit: ProfileEdit, *, photo_replaced: bool
) -> str:
    """Save the profile; after a rejection, saving resubmits the registration to the chosen
    institution. Written only if the registration's status read with ``physician`` still
    holds (a review in between wins: Conflict). Returns the audit action: what happened."""
    status = physician.registration_status
    resubmitted = status == RegistrationStatus.REJECTED
    institution = edit.institution
    moved = institution is not None and institution.id != physician.institution_id
    values: dict[str, Any] = {
        "title": edit.title,
        "licence_number": edit.licence_number,
        "email": edit.email,
        "mobile": edit.mobile,
        "practice_category": edit.practice_category,
        "practice_scope": edit.practice_scope,
    }
    detail: dict[str, Any] = {}
    if institution is not None:
        values |= {
            "prefecture_id": institution.prefecture_id,
            "county_id": institution.county_id,
            "institution_id": institution.id,
        }
        if resubmitted or moved:
            detail["institution"] = institution.id
    if resubmitted:
        values |= {
            "staging_reason": None,
            "rejection_reason": "",
            "submitted_at": datetime.now(UTC),
        }
    before = {"title": physician.title, "email": physician.email, "mobile": physician.mobile}
    if status != RegistrationStatus.APPROVED:
        before |= {"practice_scope": f"{physician.practice_category}/{physician.practice_scope}"}
    action = "profile_updated"
    if resubmitted:
        action = "registration_resubmitted"
    elif moved:
        action = "registration_institution_changed"

    async def same_address(done: Physician) -> None:
        await Account.filter(id=done.account_id).update(email=edit.email)

    await transition(
        physician_actor,
        physician,
        action=action,
        state_field="registration_status",
        from_states=[status],
        to_state=RegistrationStatus.PENDING if resubmitted else status,
        values=values,
        then=same_address,
        detail={"before": before, "photo_replaced": photo_replaced, **detail},
        audit_states=resubmitted,
    )
    return action


async def replace_photo(
    actor: Actor, physician: Physician, keep: Callable[[Physician], Awaitable[None]]
) -> None:
    """更换照片 by the physician's institution: ``keep`` stores the photo the face service
    checked (its file, encoding and hash), audited in the same transaction."""
    if actor.role != Role.INSTITUTION:
        raise Forbidden()
    await actor.jurisdiction.physician(physician.id)  # NotFound outside it

    async def store() -> None:
        await keep(physician)

    await event(actor, "physician_photo_replaced", obj=physician, then=store)
