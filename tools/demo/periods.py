"""The demo's assessment periods: a past one, published, and the current one with its six
phase windows around today; a dozen enrollments at every step of the simplified review, and
a few 医师定期考核表 rated by the institutions (one with an ethics veto), two of them
confirmed by the assessment body."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from models.enums import (
    EnrollmentStatus,
    EvaluationStatus,
    Phase,
    Procedure,
    Rating,
    RegistrationStatus,
    Role,
)
from models.org import Account
from models.period import Enrollment, Evaluation, Period, PhaseWindow
from models.physician import Physician
from tools.demo import data as demo_data
from tools.demo.ids import ids_by
from tools.demo.people import TZ, DemoInstitution, People

VETO_COMMENT = "经科室核实，该医师本周期内收受患者红包一次，已退还并通报批评。"
# Phase windows as (phase, first day, end day exclusive), in days from the period's base date
# (today for the current period).
PHASE_WINDOWS: tuple[tuple[Phase, int, int], ...] = (
    (Phase.REGISTRATION, -30, 31),
    (Phase.TRAINING, -30, 44),
    (Phase.SIMPLIFIED_REVIEW, -25, 41),
    (Phase.TEST, 45, 52),
    (Phase.EVALUATION, -20, 76),  # institutions rate during the period
    (Phase.RESULTS, 80, 200),
)


async def periods(people: People) -> Period:
    """The current period (its windows around today) and a past one, published."""
    year = people.today.year
    past_base = date(year - 3, 6, 1)  # every window of the past period ends before today
    past = await Period.create(
        name=f"{year - 3}年度医师定期考核",
        is_current=False,
        results_published_at=_at(past_base, 80),
    )
    current = await Period.create(name=f"{year}年度医师定期考核", is_current=True)
    await PhaseWindow.bulk_create(
        PhaseWindow(
            period_id=period.id,
            phase=phase,
            starts_at=_at(base, start),
            ends_at=_at(base, end),
        )
        for period, base in ((past, past_base), (current, people.today))
        for phase, start, end in PHASE_WINDOWS
    )
    return current


def _at(base: date, days: int) -> datetime:
    return datetime.combine(base + timedelta(days=days), time(0, 0), TZ)


async def enrollments(people: People, period: Period, institutions: list[DemoInstitution]) -> None:
    """A dozen enrollments; the log-in institution's come first so its queue is not empty."""
    rng = people.rng
    by_id = {i.id: i for i in institutions}
    login = institutions[0]
    rows = (
        await Physician.filter(
            registration_status=RegistrationStatus.APPROVED, institution_id__isnull=False
        )
        .order_by("id")
        .values("id", "institution_id", "title", "practice_scope")
    )
    at_login = [r for r in rows if r["institution_id"] == login.id][1:5]  # keep the first
    others = [r for r in rows if r["institution_id"] != login.id]
    chosen = at_login + rng.sample(others, k=min(len(others), 12 - len(at_login)))
    assessor_accounts = await ids_by(Account, "organisation_id", role=Role.ASSESSOR)

    plan = (
        (Procedure.SIMPLIFIED, EnrollmentStatus.SUBMITTED),
        (Procedure.GENERAL, EnrollmentStatus.SUBMITTED),
        (Procedure.SIMPLIFIED, EnrollmentStatus.INSTITUTION_APPROVED),
        (Procedure.SIMPLIFIED, EnrollmentStatus.ASSESSOR_APPROVED),
        (Procedure.GENERAL, EnrollmentStatus.SUBMITTED),
        (Procedure.SIMPLIFIED, EnrollmentStatus.INSTITUTION_REJECTED),
        (Procedure.SIMPLIFIED, EnrollmentStatus.INSTITUTION_APPROVED),
        (Procedure.GENERAL, EnrollmentStatus.SUBMITTED),
        (Procedure.SIMPLIFIED, EnrollmentStatus.ASSESSOR_REJECTED),
        (Procedure.SIMPLIFIED, EnrollmentStatus.SUBMITTED),
        (Procedure.SIMPLIFIED, EnrollmentStatus.ASSESSOR_APPROVED),
        (Procedure.GENERAL, EnrollmentStatus.SUBMITTED),
    )
    reviewed_by_institution = {
        EnrollmentStatus.INSTITUTION_APPROVED,
        EnrollmentStatus.INSTITUTION_REJECTED,
        EnrollmentStatus.ASSESSOR_APPROVED,
        EnrollmentStatus.ASSESSOR_REJECTED,
    }
    enrollments: list[Enrollment] = []
    for row, (procedure, status) in zip(chosen, plan, strict=False):
        inst = by_id[row["institution_id"]]
        application: dict[str, Any] = {}
        if procedure is Procedure.SIMPLIFIED:
            # What the physician's 简易程序申请 form asks (portal.enrollment.application_of).
            application = {
                "years_in_practice": rng.randint(6, 28),
                "no_bad_record": True,
                "report": rng.choice(demo_data.SIMPLIFIED_REPORTS),
            }
        review: dict[str, Any] = {}
        if status in reviewed_by_institution:
            review["institution_reviewer_id"] = inst.account_id
            review["institution_reviewed_at"] = people.ago(3, 12)
        if status is EnrollmentStatus.INSTITUTION_REJECTED:
            review["institution_reason"] = "考核周期内有不良执业行为记录，不符合简易程序条件"
        if status in (EnrollmentStatus.ASSESSOR_APPROVED, EnrollmentStatus.ASSESSOR_REJECTED):
            review["assessor_reviewer_id"] = assessor_accounts.get(inst.assessor_id)
            review["assessor_reviewed_at"] = people.ago(1, 2)
        if status is EnrollmentStatus.ASSESSOR_REJECTED:
            review["assessor_reason"] = "执业经历不满5年，不符合简易程序条件，请按一般程序报名"
        enrollment = Enrollment(
            period_id=period.id,
            physician_id=row["id"],
            institution_id=inst.id,
            procedure=procedure,
            status=status,
            application=application,
            **review,
        )
        enrollments.append(enrollment)
    await Enrollment.bulk_create(enrollments)


async def evaluations(people: People, period: Period, institutions: list[DemoInstitution]) -> None:
    """A few 医师定期考核表: rated by the institution, one with an ethics veto, two
    confirmed by the assessment body; the rest wait for the institutions."""
    by_id = {i.id: i for i in institutions}
    assessor_accounts = await ids_by(Account, "organisation_id", role=Role.ASSESSOR)
    standing = (
        await Enrollment.filter(period_id=period.id, is_active=True)
        .exclude(
            status__in=(
                EnrollmentStatus.INSTITUTION_REJECTED,
                EnrollmentStatus.ASSESSOR_REJECTED,
            )
        )
        .order_by("id")
        .values("physician_id", "institution_id")
    )
    evaluations = []
    for n, row in enumerate(standing[:6]):
        inst = by_id[row["institution_id"]]
        vetoed = n == 2
        values: dict[str, Any] = {
            "status": EvaluationStatus.INSTITUTION_RATED,
            "work_performance": Rating.PASS,
            "ethics": Rating.FAIL if vetoed else Rating.PASS,
            "ethics_vetoes": ["red_envelope"] if vetoed else [],
            "institution_comment": VETO_COMMENT if vetoed else "",
            "rated_by_id": inst.account_id,
            "rated_at": people.ago(2, 10),
        }
        if n in (4, 5):
            values.update(
                status=EvaluationStatus.ASSESSOR_CONFIRMED,
                assessor_work_performance=Rating.PASS,
                assessor_ethics=Rating.PASS,
                confirmed_by_id=assessor_accounts.get(inst.assessor_id),
                confirmed_at=people.ago(0, 1),
            )
        evaluations.append(
            Evaluation(period_id=period.id, physician_id=row["physician_id"], **values)
        )
    await Evaluation.bulk_create(evaluations)
