"""``xjdk demo-exam-now``: the demo's current period opens its test window now, so that a
newcomer can sit the test right after ``make run`` as the enrolled physician of the log-in
table.

The demo is seeded in its registration phase (enrollment, training and practice open, the
test 45 days away). Opening the test moves the registration window's end to now (practice
and enrollment close when the test opens, as they would in a real period) and pushes the
evaluation and results windows after the test when they would overlap it; the windows stay
in the order 考核周期管理 requires. Papers missing for the period are drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.errors import DomainError
from models.enums import EnrollmentStatus, OrgKind, Phase, Procedure, RegistrationStatus
from models.org import Organisation
from models.period import Enrollment, Period, PhaseWindow
from models.physician import Physician

LOGIN_PREFECTURE = "650100"  # the prefecture of the demo log-ins (tools.demo.seed)
EXAM_HOURS = 72


@dataclass(frozen=True)
class OpenedExam:
    period: Period
    starts_at: datetime
    ends_at: datetime
    papers: int
    physician: Physician | None


async def exam_physician() -> Physician | None:
    """The demo physician who sits the test: enrolled in the general procedure at the first
    complete institution of the log-in prefecture, with a registration photo."""
    period = await Period.filter(is_current=True).first()
    if period is None:
        return None
    institutions = await Organisation.filter(
        kind=OrgKind.INSTITUTION, prefecture__code=LOGIN_PREFECTURE
    ).order_by("id")
    here = next((o for o in institutions if o.info_complete), None)
    enrolled = Enrollment.filter(
        period_id=period.id,
        is_active=True,
        procedure=Procedure.GENERAL,
        status=EnrollmentStatus.SUBMITTED,
        physician__registration_status=RegistrationStatus.APPROVED,
    ).order_by("id")
    for qs in (enrolled.filter(institution_id=here.id) if here else None, enrolled):
        if qs is None:
            continue
        for enrollment in await qs.select_related("physician"):
            if enrollment.physician.photo:
                return enrollment.physician
    return None


async def open_test_now(now: datetime, hours: int = EXAM_HOURS) -> OpenedExam:
    """Open the current period's test window from now for ``hours``."""
    from rules.papers import generate_for_period

    period = await Period.filter(is_current=True).prefetch_related("windows").first()
    if period is None:
        raise DomainError("没有当前考核周期，请先运行 xjdk seed-demo 或在【考核周期管理】中设置")
    windows = {w.phase: w for w in period.windows}
    starts, ends = now - timedelta(minutes=1), now + timedelta(hours=hours)

    async def put(phase: Phase, begin: datetime, end: datetime) -> None:
        await PhaseWindow.update_or_create(
            {"starts_at": begin, "ends_at": end}, period_id=period.id, phase=phase
        )

    await put(Phase.TEST, starts, ends)
    registration = windows.get(Phase.REGISTRATION)
    if registration and registration.ends_at > starts:  # the test follows the registration
        await put(
            Phase.REGISTRATION, min(registration.starts_at, starts - timedelta(days=1)), starts
        )
    training = windows.get(Phase.TRAINING)
    if training and training.starts_at > starts:
        await put(Phase.TRAINING, starts - timedelta(days=1), max(training.ends_at, starts))
    results = windows.get(Phase.RESULTS)
    evaluation = windows.get(Phase.EVALUATION)
    if results and results.starts_at < ends:  # results come after the test and the ratings
        length = results.ends_at - results.starts_at
        await put(Phase.RESULTS, ends, ends + length)
        if evaluation and evaluation.ends_at > ends:
            await put(Phase.EVALUATION, evaluation.starts_at, ends)
    papers = await generate_for_period(period)
    return OpenedExam(period, starts, ends, papers, await exam_physician())
