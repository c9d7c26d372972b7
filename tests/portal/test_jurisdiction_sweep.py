"""Every route that takes an object id (an int path parameter), asked by an account of
another jurisdiction, answers 403 or 404 and changes nothing. The routes are read from the
app, so a new route is swept as soon as it exists; a new kind of path parameter must be
added to ``Side.ids``."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from models.enums import (
    AttemptStatus,
    CourseCategory,
    EnrollmentStatus,
    EvaluationStatus,
    FaceReason,
    FaceStage,
    FilingKind,
    OrgKind,
    Procedure,
    QuestionCategory,
    QuestionType,
    Rating,
    Role,
    StagingReason,
)
from models.exam import Attempt, FaceCheck, Paper, Question
from models.ops import AuditLog
from models.org import Account, Organisation
from models.period import Evaluation, Period
from models.physician import Filing, Physician, Transfer
from models.training import Course, CreditApplication, Lesson, PracticeSet
from tests import factories
from tests.helpers import csrf_of, login

PARAM = re.compile(r"{(\w+):int}")
# A form that gets every decision handler past its own validation to the object lookup.
FORM = {
    "decision": "approve",
    "reason": "越权测试",
    "work_performance": "pass",
    "ethics": "pass",
    "comment": "越权测试",
    "name": "越权测试机构",
}


@dataclass
class Side:
    """One prefecture's organisations, accounts and objects."""

    accounts: dict[Role, Account]
    institution: Organisation
    physician: Physician
    ids: dict[str, int]


async def side(code: str, period: Period) -> Side:
    assessor, assessor_acct = await factories.org_with_account(OrgKind.ASSESSOR, code)
    inst = await factories.organisation(OrgKind.INSTITUTION, code, assessor=assessor)
    inst_acct = await factories.account(Role.INSTITUTION, inst)
    other_inst = await factories.organisation(OrgKind.INSTITUTION, code, assessor=assessor)
    commission, commission_acct = await factories.org_with_account(OrgKind.COMMISSION, code)
    doc = await factories.physician(inst)
    enrollment = await factories.enrollment(
        period, doc, Procedure.SIMPLIFIED, EnrollmentStatus.INSTITUTION_APPROVED
    )
    evaluation = await Evaluation.create(
        period=period,
        physician=doc,
        status=EvaluationStatus.INSTITUTION_RATED,
        work_performance=Rating.PASS,
        ethics=Rating.PASS,
    )
    transfer = await Transfer.create(
        physician=doc, from_institution=inst, to_institution=other_inst, requested_by=inst_acct
    )
    filing = await Filing.create(
        kind=FilingKind.STAGING_IN,
        commission=commission,
        institution=inst,
        physician=doc,
        staging_reason=StagingReason.RETIRED,
        requested_by=commission_acct,
    )
    paper = await Paper.create(
        period=period, physician=doc, enrollment=enrollment, duration_minutes=60, pass_mark=60
    )
    attempt = await Attempt.create(paper=paper, status=AttemptStatus.IN_PROGRESS, flagged=True)
    check = await FaceCheck.create(
        physician=doc,
        attempt=attempt,
        stage=FaceStage.START,
        passed=False,
        reason=FaceReason.MISMATCH,
        frame_paths=["face-checks/none.img"],
    )
    practice = await PracticeSet.create(physician=doc, period=period, question_count=1)
    credit = await CreditApplication.create(
        physician=doc, period=period, hours=36, credits=6, verification_code=f"sweep{doc.id}"
    )
    # Catalogue and bank rows belong to no jurisdiction: office-only pages refuse the others
    # (403), and a lesson for another practice scope is not the physician's (404).
    course = await Course.create(
        title=f"口腔专业课{code}",
        category=CourseCategory.PROFESSIONAL_REQUIRED,
        class_hours=1,
        practice_category="口腔",
        practice_scope="口腔专业",
    )
    lesson = await Lesson.create(course=course, title="口腔检查", minutes=45)
    question = await Question.create(
        type=QuestionType.JUDGE,
        stem=f"越权测试题{code}",
        options=[{"key": "A", "text": "正确"}, {"key": "B", "text": "错误"}],
        answer=["A"],
        category=QuestionCategory.LAW,
        fingerprint=f"sweep{code}",
    )
    doc_acct = await Account.get(id=doc.account_id)
    return Side(
        accounts={
            Role.INSTITUTION: inst_acct,
            Role.ASSESSOR: assessor_acct,
            Role.COMMISSION: commission_acct,
            Role.PHYSICIAN: doc_acct,
        },
        institution=inst,
        physician=doc,
        ids={
            "physician_id": doc.id,
            "enrollment_id": enrollment.id,
            "evaluation_id": evaluation.id,
            "transfer_id": transfer.id,
            "filing_id": filing.id,
            "institution_id": inst.id,
            "organisation_id": inst.id,
            "org_id": inst.id,
            "account_id": inst_acct.id,
            "attempt_id": attempt.id,
            "check_id": check.id,
            "set_id": practice.id,
            "position": 1,
            "n": 0,
            "application_id": credit.id,
            "lesson_id": lesson.id,
            "course_id": course.id,
            "question_id": question.id,
            "period_id": period.id,
        },
    )


def swept_routes(app: Starlette) -> list[Route]:
    return [r for r in app.routes if isinstance(r, Route) and PARAM.search(r.path)]


async def test_other_jurisdictions_get_404(app: Starlette, client: httpx.AsyncClient) -> None:
    period = await factories.period()
    mine = await side("650100", period)
    theirs = await side("653100", period)
    routes = swept_routes(app)
    unmapped = {name for r in routes for name in PARAM.findall(r.path) if name not in theirs.ids}
    assert not unmapped, f"add these path parameters to the sweep: {sorted(unmapped)}"
    assert len(routes) >= 5

    last = await AuditLog.all().order_by("-id").first()
    audit_before = last.id if last else 0
    leaks = []
    for role, account in mine.accounts.items():
        client.cookies.clear()
        username = account.username
        assert (await login(client, username)).status_code == 303, username
        token = await csrf_of(client, "/account/password")
        for route in routes:
            path = PARAM.sub(lambda m: str(theirs.ids[m.group(1)]), route.path)
            for method in sorted(route.methods or {"GET"}):
                if method == "HEAD":
                    continue
                if method == "GET":
                    response = await client.get(path)
                else:
                    response = await client.post(path, data={**FORM, "csrf_token": token})
                if response.status_code not in (403, 404, 405):
                    leaks.append(f"{role.value} {method} {path} → {response.status_code}")
    assert not leaks, "\n".join(leaks)
    written = AuditLog.filter(id__gt=audit_before).exclude(action__in=("login", "logout"))
    assert not [a.action async for a in written]
    doc = await Physician.get(id=theirs.physician.id)
    assert doc.institution_id == theirs.institution.id
    assert (await Transfer.get(id=theirs.ids["transfer_id"])).status == "pending"
    assert (await Filing.get(id=theirs.ids["filing_id"])).status == "pending"
    attempt = await Attempt.get(id=theirs.ids["attempt_id"])
    assert attempt.status == AttemptStatus.IN_PROGRESS and not attempt.review_decision
    assert (await FaceCheck.get(id=theirs.ids["check_id"])).approved_by_id is None
    assert await Question.exists(id=theirs.ids["question_id"])
    assert (await Period.get(id=period.id)).is_current
