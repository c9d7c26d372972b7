"""rules/evaluations.py called directly (no HTTP): the rating form's rules, the window, who may
rate whom, one decision wins, and each decision's audit row written with it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import CONFLICT, Conflict, DomainError, Forbidden, NotFound
from models.enums import EvaluationStatus, OrgKind, Phase, Rating, Role
from models.ops import AuditLog
from models.period import Evaluation, Period, PhaseWindow
from models.physician import Physician
from rules import evaluations
from rules.actor import Actor
from rules.evaluations import PASSED, Rated
from tests import factories


async def setting() -> tuple[Period, Actor, Actor, list[Physician]]:
    """A period in its evaluation window, an institution and its assessment body as actors,
    and two enrolled physicians of the institution."""
    period = await factories.period()
    await factories.open_window(period, Phase.EVALUATION)
    assessor, assessor_account = await factories.org_with_account(OrgKind.ASSESSOR)
    inst = await factories.organisation(OrgKind.INSTITUTION, assessor=assessor)
    inst_account = await factories.account(Role.INSTITUTION, inst)
    doctors = [await factories.physician(inst) for _ in range(2)]
    for doc in doctors:
        await factories.enrollment(period, doc)
    await period.fetch_related("windows")
    return (
        period,
        await Actor.of(inst_account, "192.0.2.1"),
        await Actor.of(assessor_account, "192.0.2.2"),
        doctors,
    )


def test_a_veto_item_decides_and_a_fail_needs_its_facts() -> None:
    rated, errors = evaluations.rating_of(
        {"work_performance": "pass", "ethics": "pass"}, ["red_envelope"]
    )
    assert rated is None and "考核意见" in errors["comment"]
    rated, errors = evaluations.rating_of(
        {"work_performance": "pass", "ethics": "pass", "comment": " 收受红包属实 "},
        ["red_envelope", "red_envelope"],
    )
    assert errors == {} and rated == Rated(
        Rating.PASS, Rating.FAIL, ["red_envelope"], "收受红包属实"
    )
    _, errors = evaluations.rating_of({"ethics": "pass"}, ["bribery"])
    assert set(errors) == {"work_performance", "vetoes"}
    _, errors = evaluations.rating_of(
        {"work_performance": "pass", "ethics": "pass", "assessor_comment": "意" * 1001},
        [],
        comment_field="assessor_comment",
    )
    assert "1000" in errors["assessor_comment"]


async def test_the_window_is_the_current_periods(db: None) -> None:
    period, *_ = await setting()
    assert evaluations.evaluation_open(period)
    assert not evaluations.evaluation_open(period, datetime.now(UTC) + timedelta(days=400))
    assert (await evaluations.require_open_period()).id == period.id
    await PhaseWindow.filter(period=period, phase=Phase.EVALUATION).update(
        starts_at=datetime.now(UTC) + timedelta(days=1),
        ends_at=datetime.now(UTC) + timedelta(days=2),
    )
    with pytest.raises(DomainError, match="不在工作成绩和职业道德评定时间内"):
        await evaluations.require_open_period()


async def test_rate_then_review_each_with_its_audit_row(db: None) -> None:
    period, institution, assessor, (doc, _) = await setting()
    rated = await evaluations.rate(institution, period, doc, PASSED)
    assert rated.status == EvaluationStatus.INSTITUTION_RATED and rated.rated_at is not None
    revised = await evaluations.rate(
        institution, period, doc, Rated(Rating.FAIL, Rating.PASS, [], "工作量未达要求")
    )
    assert revised.work_performance == Rating.FAIL

    # The assessment body confirms what it has seen, not a rating revised since.
    with pytest.raises(Conflict, match="重新复核"):
        await evaluations.review(assessor, period, doc, rated.rated_at.isoformat(), None)
    with pytest.raises(DomainError, match="复核意见"):
        await evaluations.review(assessor, period, doc, revised.rated_at.isoformat(), PASSED)
    done = await evaluations.review(
        assessor,
        period,
        doc,
        revised.rated_at.isoformat(),
        Rated(Rating.PASS, Rating.PASS, [], "经核实工作量达标"),
    )
    assert done.status == EvaluationStatus.ASSESSOR_CONFIRMED
    assert (done.assessor_work_performance, done.confirmed_by_id) == (
        Rating.PASS,
        assessor.account_id,
    )
    with pytest.raises(Conflict, match="已复核"):
        await evaluations.review(assessor, period, doc, revised.rated_at.isoformat(), None)
    with pytest.raises(Conflict, match="不能再修改"):
        await evaluations.rate(institution, period, doc, PASSED)

    trail = [
        (a.action, a.from_state, a.to_state, a.actor_id, a.ip)
        async for a in AuditLog.filter(object_type="evaluation", object_id=done.id).order_by("id")
    ]
    assert trail == [
        ("evaluation_rated", "draft", "institution_rated", institution.account_id, "192.0.2.1"),
        (
            "evaluation_rated",
            "institution_rated",
            "institution_rated",
            institution.account_id,
            "192.0.2.1",
        ),
        (
            "evaluation_amended",
            "institution_rated",
            "assessor_confirmed",
            assessor.account_id,
            "192.0.2.2",
        ),
    ]


async def test_one_review_wins(db: None) -> None:
    period, institution, assessor, (doc, _) = await setting()
    rated = await evaluations.rate(institution, period, doc, PASSED)
    assert rated.rated_at is not None
    seen = rated.rated_at.isoformat()
    results = await asyncio.gather(
        evaluations.review(assessor, period, doc, seen, None),
        evaluations.review(assessor, period, doc, seen, None),
        return_exceptions=True,
    )
    wins = [r for r in results if isinstance(r, Evaluation)]
    losses = [r for r in results if isinstance(r, Conflict)]
    assert len(wins) == 1 and len(losses) == 1
    assert str(losses[0]) in (CONFLICT, "该考核表已复核，请刷新页面查看最新结果")
    confirmed = AuditLog.filter(action="evaluation_confirmed", object_id=rated.id)
    assert await confirmed.count() == 1


async def test_jurisdiction_and_bulk(db: None) -> None:
    period, institution, assessor, doctors = await setting()
    _, stranger_account = await factories.org_with_account(OrgKind.INSTITUTION, "653100")
    stranger = await Actor.of(stranger_account)
    with pytest.raises(NotFound):
        await evaluations.evaluable(stranger, period, doctors[0].id)
    assert await evaluations.listed(stranger, period).count() == 0
    assert await evaluations.listed(institution, period, state="todo").count() == 2

    assert await evaluations.decide_many(institution, period, [d.id for d in doctors]) == (2, 0)
    assert await evaluations.listed(institution, period, state="todo").count() == 0
    assert await evaluations.listed(assessor, period, state="rated").count() == 2
    assert await evaluations.decide_many(assessor, period, [doctors[0].id]) == (1, 0)
    assert await evaluations.decide_many(assessor, period, [d.id for d in doctors]) == (1, 1)
    assert await evaluations.listed(assessor, period, state="confirmed").count() == 2
    with pytest.raises(NotFound):
        await evaluations.decide_many(stranger, period, [doctors[0].id])
    # Each level decides its own part only.
    with pytest.raises(Forbidden):
        await evaluations.rate(assessor, period, doctors[0], PASSED)
    with pytest.raises(Forbidden):
        await evaluations.review(institution, period, doctors[0], "", None)
