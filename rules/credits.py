"""申请学分: the period's 自治区级I类学分, once the required 课时 are credited.

Once the current period's required 课时 and category minimums are credited, the physician
applies once for the period's credits. The record carries a random verification code printed
on the certificate, which anyone can check on a public page.
"""

from __future__ import annotations

import secrets

from tortoise.exceptions import IntegrityError

from core.errors import Conflict, DomainError, Forbidden
from models.period import Period
from models.physician import Physician
from models.training import CreditApplication
from rules import training
from rules.actor import Actor
from rules.transition import create

# No 0/O or 1/I: a code read from paper is typed back without guessing. 16 characters of 32
# symbols are 80 random bits.
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 16
APPLIED = "您已申请本期学分，不能重复申请"


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


async def apply(physician_actor: Actor, physician: Physician, period: Period) -> CreditApplication:
    """申请学分 for the period: once, and only with training complete; only by the physician."""
    if physician_actor.physician_id != physician.id:
        raise Forbidden()
    if await CreditApplication.exists(physician_id=physician.id, period_id=period.id):
        raise Conflict(APPLIED)
    tally = await training.tally(physician.id, period)
    if not tally.complete:
        raise DomainError(f"尚未完成培训（{'；'.join(tally.shortfalls)}），完成后方可申请学分")
    try:
        return await create(
            physician_actor,
            CreditApplication,
            action="credits_applied",
            values={
                "physician_id": physician.id,
                "period_id": period.id,
                "hours": tally.hours,
                "credits": period.credit_points,
                "verification_code": new_code(),
            },
            to_state="issued",
            detail={"period": period.id, "hours": tally.hours, "credits": period.credit_points},
        )
    except IntegrityError as exc:  # applied from another tab at the same moment
        raise Conflict(APPLIED) from exc
