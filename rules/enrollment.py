"""考试报名 and 报名资格审核: the rules.

General procedure: enrolled at once. Simplified procedure: an application that the
institution reviews and then the assessment body re-reviews; a rejection at either level
ends it, and the physician may still enroll in the general procedure while the
registration window is open. Every decision is audited and mailed (``rules.transition``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from core.errors import Conflict, DomainError, NotFound
from core.mail import Letter, Mailer
from models.enums import EnrollmentStatus, Phase, Procedure, RegistrationStatus, Role
from models.period import Enrollment, Period
from models.physician import Physician
from rules import audit
from rules.actor import Actor
from rules.periods import window, window_text
from rules.transition import create, transition

REJECTED = (EnrollmentStatus.INSTITUTION_REJECTED, EnrollmentStatus.ASSESSOR_REJECTED)
# Who reviews at which level: the status it waits for, and its approval and rejection.
LEVELS = {
    Role.INSTITUTION: (
        EnrollmentStatus.SUBMITTED,
        EnrollmentStatus.INSTITUTION_APPROVED,
        EnrollmentStatus.INSTITUTION_REJECTED,
    ),
    Role.ASSESSOR: (
        EnrollmentStatus.INSTITUTION_APPROVED,
        EnrollmentStatus.ASSESSOR_APPROVED,
        EnrollmentStatus.ASSESSOR_REJECTED,
    ),
}


async def active_enrollment(physician_id: int, period_id: int) -> Enrollment | None:
    return (
        await Enrollment.filter(physician_id=physician_id, period_id=period_id, is_active=True)
        .order_by("-id")
        .first()
    )


async def enroll(
    actor: Actor,
    period: Period,
    procedure: Procedure,
    application: dict[str, Any] | None = None,
) -> Enrollment:
    """The physician ``actor`` enrolls in ``period`` (its windows fetched). A rejected
    simplified application is superseded by a general enrollment."""
    physician = await Physician.get(id=actor.physician_id)
    if physician.registration_status != RegistrationStatus.APPROVED or not physician.institution_id:
        raise DomainError("注册审核通过后方可报名")
    registration = window(period, Phase.REGISTRATION)
    if registration is None or not registration.is_open(datetime.now(UTC)):
        dates = window_text(registration) if registration else "未设置"
        raise DomainError(f"当前不在报名时间内。本期报名时间：{dates}")
    existing = await active_enrollment(physician.id, period.id)
    if existing is not None and existing.status not in REJECTED:
        if existing.procedure == Procedure.GENERAL:
            raise Conflict("您已报名本期一般程序考核，无需重复报名")
        raise Conflict("您的简易程序申请正在审核中，不能重复报名")
    if existing is not None and procedure == Procedure.SIMPLIFIED:
        raise Conflict("简易程序申请未通过，请在报名时间内选择一般程序报名")

    async def supersede(_: Enrollment) -> None:
        if existing is None:
            return
        retired = await Enrollment.filter(
            id=existing.id, is_active=True, status__in=REJECTED
        ).update(is_active=False)
        if not retired:
            raise Conflict()

    enrollment = await create(
        actor,
        Enrollment,
        action="enrolled",
        values={
            "period": period,
            "physician": physician,
            "institution_id": physician.institution_id,
            "procedure": procedure,
            "status": EnrollmentStatus.SUBMITTED,
            "application": application or {},
        },
        to_state=f"{procedure.value}:{EnrollmentStatus.SUBMITTED.value}",
        then=supersede,
    )
    return enrollment


def awaiting(reviewer: Actor) -> QuerySet[Enrollment]:
    """Simplified applications waiting for this reviewer, inside its jurisdiction."""
    waiting_status = LEVELS[_level(reviewer)][0]
    physicians = Subquery(reviewer.jurisdiction.physicians().values("id"))
    return Enrollment.filter(
        procedure=Procedure.SIMPLIFIED,
        status=waiting_status,
        is_active=True,
        physician_id__in=physicians,
    )


def _level(reviewer: Actor) -> Role:
    if reviewer.role not in LEVELS:
        raise NotFound()
    assert reviewer.role is not None
    return reviewer.role


async def review(
    reviewer: Actor,
    enrollment_id: int,
    approve: bool,
    reason: str,
    *,
    mailer: Mailer,
) -> Enrollment:
    """点击审核: one level of the simplified-procedure review. One decision wins."""
    reason = audit.clean_reason(reason, required="" if approve else "请填写不通过的原因")
    level = _level(reviewer)
    enrollment = await awaiting(reviewer).get_or_none(id=enrollment_id)
    if enrollment is None:
        mine = Subquery(reviewer.jurisdiction.physicians().values("id"))
        if await Enrollment.exists(id=enrollment_id, physician_id__in=mine):
            # In the jurisdiction but not this level's turn: decided already, or (the
            # assessment body) not yet reviewed by the institution.
            raise Conflict()
        raise NotFound()
    waiting_status, yes, no = LEVELS[level]
    prefix = "institution" if level == Role.INSTITUTION else "assessor"
    physician = await Physician.get(id=enrollment.physician_id)
    return await transition(
        reviewer,
        enrollment,
        action="enrollment_reviewed",
        from_states=[waiting_status],
        to_state=yes if approve else no,
        values={
            f"{prefix}_reviewer_id": reviewer.account_id,
            f"{prefix}_reviewed_at": datetime.now(UTC),
            f"{prefix}_reason": reason,
        },
        reason=reason,
        letters=[
            Letter(
                physician.email,
                "enrollment_result",
                {
                    "name": physician.name,
                    "level": level.label,
                    "organisation": reviewer.display_name,
                    "approved": approve,
                    "final": level == Role.ASSESSOR or not approve,
                    "reason": reason,
                },
            )
        ],
        mailer=mailer,
    )
