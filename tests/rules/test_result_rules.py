"""rules/results.py called directly (no HTTP): each part judged, recomputing until published,
and one publication whose time, audit row and mails commit together or not at all."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from jinja2 import DictLoader, Environment
from starlette.applications import Starlette

from core.errors import DomainError, Forbidden
from core.mail import Mailer
from models.enums import (
    AttemptStatus,
    EnrollmentStatus,
    EvaluationStatus,
    OrgKind,
    Outcome,
    Phase,
    Procedure,
    Rating,
)
from models.exam import Attempt, Paper
from models.ops import AuditLog, OutboxMail
from models.period import Evaluation, Period, PhaseWindow, Result
from models.physician import Physician
from rules import results
from rules.actor import Actor
from tests import factories
from tests.rules.rule_checks import mailer_of


async def rated(period: Period, doc: Physician, ethics: Rating = Rating.PASS) -> None:
    await Evaluation.create(
        period=period,
        physician=doc,
        status=EvaluationStatus.ASSESSOR_CONFIRMED,
        work_performance=Rating.PASS,
        ethics=ethics,
        assessor_work_performance=Rating.PASS,
        assessor_ethics=ethics,
        ethics_vetoes=["kickback"] if ethics == Rating.FAIL else [],
        institution_comment="收受回扣属实" if ethics == Rating.FAIL else "",
    )


async def took_test(period: Period, doc: Physician, score: int, **kw: object) -> None:
    enrollment = await factories.enrollment(period, doc)
    paper = await Paper.create(
        period=period, physician=doc, enrollment=enrollment, duration_minutes=60, pass_mark=60
    )
    await Attempt.create(paper=paper, status=AttemptStatus.SUBMITTED, score=score, **kw)


async def setting() -> tuple[Period, Actor, dict[str, Physician]]:
    """A period whose test window has ended, the office, and physicians A (qualified), B
    (below the pass mark), C (simplified, vetoed ethics) and D (simplified, never rated)."""
    period = await factories.period()
    await PhaseWindow.filter(period=period, phase=Phase.TEST).update(
        starts_at=datetime.now(UTC) - timedelta(days=3),
        ends_at=datetime.now(UTC) - timedelta(days=2),
    )
    await period.fetch_related("windows")
    inst = await factories.organisation(OrgKind.INSTITUTION)
    docs = {k: await factories.physician(inst, name=f"结果医师{k}") for k in "ABCD"}
    await took_test(period, docs["A"], 80)
    await took_test(period, docs["B"], 50)
    for k in "CD":
        await factories.enrollment(
            period, docs[k], Procedure.SIMPLIFIED, EnrollmentStatus.ASSESSOR_APPROVED
        )
    await rated(period, docs["A"])
    await rated(period, docs["B"])
    await rated(period, docs["C"], Rating.FAIL)
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    return period, await Actor.of(office, "192.0.2.9"), docs


def test_the_parts_of_a_result() -> None:
    attempt = {
        "status": "submitted",
        "score": 59,
        "flagged": False,
        "review_decision": "",
        "paper__pass_mark": 60,
    }
    assert results.test_part(None, 60)[0] == results.Part(False, "未参加")
    assert results.test_part(attempt, 60) == (results.Part(False, "59 分（合格线 60 分）"), 59)
    assert results.test_part({**attempt, "flagged": True}, 60)[0].passed is None
    assert results.test_part({**attempt, "review_decision": "void"}, 60)[0].text == "测评已作废"
    assert results.simplified_part(EnrollmentStatus.ASSESSOR_APPROVED).passed is True
    assert results.simplified_part(EnrollmentStatus.INSTITUTION_APPROVED).passed is None
    work, ethics = results.rating_parts(None)
    assert work.passed is None and ethics.text == "执业机构未评定"


async def test_compute_judges_every_part_until_published(db: None) -> None:
    period, office, docs = await setting()
    _, commission = await factories.org_with_account(OrgKind.COMMISSION)
    with pytest.raises(Forbidden):  # results are the office's
        await results.compute(await Actor.of(commission), period)
    summary = await results.compute(office, period)
    assert (summary.total, summary.qualified, summary.incomplete) == (4, 1, 1)
    assert summary.failed_parts == {"业务水平测评": 1, "职业道德": 1}
    by_doc = {r.physician_id: r async for r in Result.filter(period_id=period.id)}
    assert by_doc[docs["A"].id].outcome == Outcome.QUALIFIED
    assert "否决项：索要或收受药品" in by_doc[docs["C"].id].parts["职业道德"]["text"]
    # Computing again replaces, never adds.
    await results.compute(office, period)
    assert await Result.filter(period_id=period.id).count() == 4
    entry = await results.last_summary(period)
    assert entry is not None and entry.action == "results_computed"
    assert (entry.actor_id, entry.ip, entry.detail["qualified"]) == (
        office.account_id,
        "192.0.2.9",
        1,
    )
    assert await results.filtered(period, outcome="qualified").count() == 1
    assert await results.filtered(period, q="结果医师B", outcome="nonsense").count() == 1


async def test_publish_once_with_every_mail(app: Starlette, db: None) -> None:
    period, office, docs = await setting()
    mailer = mailer_of(app)
    with pytest.raises(DomainError, match="仍有 1 名医师的考核未完成"):
        await results.publish(office, period, False, mailer=mailer)
    early = datetime.now(UTC) - timedelta(days=2, hours=1)
    with pytest.raises(DomainError, match="测评尚未结束"):
        await results.publish(office, period, True, mailer=mailer, now=early)

    mails = OutboxMail.filter(subject__contains="考核结果已公布")
    before = await mails.count()
    # Two offices at once, each with the period as its page read it: one publication wins,
    # the other is refused (whether it lost the race at the update or found it published).
    copies = [await Period.get(id=period.id).prefetch_related("windows") for _ in range(2)]
    twice = await asyncio.gather(
        *(results.publish(office, copy, True, mailer=mailer) for copy in copies),
        return_exceptions=True,
    )
    assert sum(isinstance(r, results.Summary) for r in twice) == 1
    assert sum(isinstance(r, DomainError) for r in twice) == 1
    assert await mails.count() - before == 4
    assert await OutboxMail.filter(to=docs["A"].email, body__contains="合格").exists()
    published = await Period.get(id=period.id)
    assert published.results_published_at is not None
    entry = await AuditLog.get(action="results_published", object_id=period.id)
    assert (entry.from_state, entry.to_state, entry.detail["total"]) == ("computed", "published", 4)
    with pytest.raises(DomainError, match="已发布，不能重新计算"):
        await results.compute(office, published)


async def test_a_failed_mail_publishes_nothing(db: None) -> None:
    """The letters are written inside the publication's transaction: when writing them fails
    (here: the mail template is missing), the period is not published and nothing is audited."""
    period, office, _ = await setting()
    broken = Mailer(Environment(loader=DictLoader({})), "https://xjdk.example.cn")
    mails_before = await OutboxMail.all().count()
    with pytest.raises(Exception, match="result_published"):
        await results.publish(office, period, True, mailer=broken)
    assert (await Period.get(id=period.id)).results_published_at is None
    assert not await AuditLog.exists(action="results_published", object_id=period.id)
    assert await OutboxMail.all().count() == mails_before
