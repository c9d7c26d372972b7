"""The proctors' decisions on an attempt: approving a failed face check by hand, ending the
attempt, a message to the physician, and the review of a flagged or ended attempt.

Each decision is one ``transition()`` with its audit row, and one decision wins: a second
proctor acting on the same check or attempt finds it already handled. A proctor acts only
inside its jurisdiction (the office everywhere, a commission its prefecture, an assessment
body the institutions assigned to it). What reaches the physician's socket afterwards (the
page continues, the attempt ends) is the exam hall's part (``examhall/monitor.py``).
"""

from __future__ import annotations

from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from core.errors import Conflict, DomainError, Forbidden, NotFound
from models.enums import AttemptStatus, FaceStage, Role
from models.exam import Attempt, FaceCheck
from models.period import Period
from rules import audit, exam
from rules.actor import Actor
from rules.transition import transition

PROCTORS = (Role.OFFICE, Role.COMMISSION, Role.ASSESSOR)
RUNNING = (AttemptStatus.WAITING, AttemptStatus.IN_PROGRESS)
FINISHED = (AttemptStatus.SUBMITTED, AttemptStatus.ENDED)
REVIEW_DECISIONS = {"accept": "认可成绩", "void": "作废本次测评"}


def _mine(proctor: Actor) -> Subquery:
    if proctor.role not in PROCTORS:
        raise Forbidden()
    return Subquery(proctor.jurisdiction.physicians().values("id"))


async def attempt_of(proctor: Actor, attempt_id: int) -> Attempt:
    """An attempt inside the proctor's jurisdiction, with its paper and physician, else 404."""
    found = (
        await Attempt.filter(id=attempt_id, paper__physician_id__in=_mine(proctor))
        .select_related("paper", "paper__physician", "paper__physician__institution")
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def awaiting_review(proctor: Actor, period: Period) -> QuerySet[Attempt]:
    """异常复核: the period's flagged attempts in the proctor's jurisdiction not decided yet,
    oldest first."""
    return (
        Attempt.filter(
            paper__period_id=period.id,
            paper__physician_id__in=_mine(proctor),
            flagged=True,
            review_decision="",
        )
        .select_related("paper__physician", "paper__physician__institution")
        .order_by("id")
    )


async def approve_check(
    proctor: Actor, attempt: Attempt, stage: FaceStage | None, reason: str
) -> FaceCheck:
    """Pass by hand the attempt's latest failed check (of ``stage``, the one the physician's
    page is waiting on, when known)."""
    reason = audit.clean_reason(reason, required="请填写人工通过的理由")
    failed = FaceCheck.filter(attempt_id=attempt.id, passed=False, approved_by_id__isnull=True)
    if stage is not None:
        failed = failed.filter(stage=stage)
    check = await failed.order_by("-id").first()
    if check is None:
        raise Conflict("该考生当前没有待人工处理的人脸识别")
    return await transition(
        proctor,
        check,
        action="face_check_approved",
        state_field=None,  # a failed check is approved once it has an approver
        from_states=["failed"],
        to_state="approved",
        where={"approved_by_id__isnull": True},
        values={"approved_by_id": proctor.account_id, "approval_reason": reason},
        reason=reason,
        detail={"attempt": attempt.id},
    )


async def end_attempt(proctor: Actor, attempt: Attempt, reason: str) -> Attempt:
    """End a running attempt. It then waits in 异常复核 like a flagged one: its end is looked
    at again before the result counts. Its flag reasons are written over the ones read
    (compare and set, as ``exam.flag``): a flag the hall adds meanwhile is kept."""
    reason = audit.clean_reason(reason, required="请填写终止考试的理由")
    while True:
        current = await Attempt.get_or_none(id=attempt.id)
        if current is None or current.status not in RUNNING:
            raise Conflict("该考试已结束或已被其他监考人员终止")
        try:
            return await transition(
                proctor,
                current,
                action="attempt_ended",
                from_states=RUNNING,
                to_state=AttemptStatus.ENDED,
                where={"flag_reason": current.flag_reason},
                values={
                    "ended_reason": reason,
                    "flagged": True,
                    "flag_reason": exam.with_reason(
                        current.flag_reason, f"监考人员终止考试：{reason}"
                    ),
                },
                reason=reason,
            )
        except Conflict:
            continue  # ended by another proctor (seen above), or flagged meanwhile: again


async def message(proctor: Actor, attempt: Attempt, text: str) -> str:
    """A message to the physician, audited (it changes no state). Returns the text to send."""
    if not text.strip():
        raise DomainError("请填写要发送的消息", field="text")
    text = audit.clean_reason(text)
    await audit.record(proctor, "proctor_message", obj=attempt, reason=text)
    return text


async def review_attempt(proctor: Actor, attempt: Attempt, decision: str, reason: str) -> Attempt:
    """After the window: accept the flagged (or ended) attempt's result, or void it."""
    if decision not in REVIEW_DECISIONS:
        raise DomainError("请选择复核结论", field="decision")
    reason = audit.clean_reason(reason, required="作废时请填写理由" if decision == "void" else "")
    if not attempt.flagged:
        raise DomainError("该考试没有异常标记，无需复核")
    if attempt.review_decision:
        raise Conflict("该考试已复核")
    if attempt.status not in FINISHED:
        raise DomainError("该考试尚未结束，结束后再复核")
    void = decision == "void"
    return await transition(
        proctor,
        attempt,
        action=f"attempt_review_{decision}",
        # Accepting keeps the state the attempt has; voiding leaves either finished state.
        from_states=FINISHED if void else [attempt.status],
        to_state=AttemptStatus.VOIDED if void else attempt.status,
        where={"review_decision": ""},  # one decision wins
        values={
            "review_decision": decision,
            "review_reason": reason,
            "reviewed_by_id": proctor.account_id,
        },
        reason=reason,
    )
