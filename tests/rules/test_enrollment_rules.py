"""rules.enrollment and rules.periods, called directly: enrolling inside the window, the
simplified procedure's two reviews, a rejected application superseded by a general one."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette

from core.errors import CONFLICT, Conflict, DomainError, NotFound
from models.enums import EnrollmentStatus, OrgKind, Phase, Procedure, Role
from models.period import Enrollment
from rules import enrollment, periods
from tests import factories
from tests.rules.rule_checks import actor_of, mail_to, mailer_of, physician_actor, trail

APPLICATION = {"years_in_practice": 12, "no_bad_record": True, "report": "述职" * 30}


async def test_the_current_period_and_its_windows(db: None) -> None:
    period = await factories.period()
    current = await periods.current_period()
    assert current is not None and current.id == period.id
    assert periods.is_open(current, Phase.REGISTRATION)
    assert not periods.is_open(current, Phase.RESULTS)
    registration = periods.window(current, Phase.REGISTRATION)
    assert registration is not None
    assert "年" in periods.window_text(registration) and " 至 " in periods.window_text(registration)


async def test_enroll_once_and_only_inside_the_window(db: None) -> None:
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    me = await physician_actor(doc)
    closed = await factories.period(registration_open=False)
    await closed.fetch_related("windows")
    with pytest.raises(DomainError, match="当前不在报名时间内"):
        await enrollment.enroll(me, closed, Procedure.GENERAL)

    period = await factories.period()
    await period.fetch_related("windows")
    made = await enrollment.enroll(me, period, Procedure.GENERAL)
    assert (made.status, made.institution_id) == (EnrollmentStatus.SUBMITTED, inst.id)
    assert await trail(made) == [("enrolled", "", "general:submitted")]
    with pytest.raises(Conflict, match="无需重复报名"):
        await enrollment.enroll(me, period, Procedure.GENERAL)
    assert await Enrollment.filter(physician_id=doc.id).count() == 1


async def test_simplified_through_both_levels(app: Starlette, db: None) -> None:
    mailer = mailer_of(app)
    assessor = await factories.organisation(OrgKind.ASSESSOR)
    await factories.account(Role.ASSESSOR, assessor)
    inst, _ = await factories.org_with_account(OrgKind.INSTITUTION, assessor=assessor)
    doc = await factories.physician(inst)
    period = await factories.period()
    await period.fetch_related("windows")
    applied = await enrollment.enroll(
        await physician_actor(doc), period, Procedure.SIMPLIFIED, APPLICATION
    )
    institution, body = await actor_of(inst), await actor_of(assessor)

    assert not await enrollment.awaiting(body).filter(id=applied.id).exists()  # not its turn
    with pytest.raises(Conflict, match=CONFLICT):
        await enrollment.review(body, applied.id, True, "", mailer=mailer)
    with pytest.raises(DomainError, match="请填写不通过的原因"):
        await enrollment.review(institution, applied.id, False, "", mailer=mailer)

    first = await enrollment.review(institution, applied.id, True, "", mailer=mailer)
    assert first.status == EnrollmentStatus.INSTITUTION_APPROVED
    assert first.institution_reviewer_id == institution.account_id
    second = await enrollment.review(body, applied.id, True, "符合", mailer=mailer)
    assert second.status == EnrollmentStatus.ASSESSOR_APPROVED and second.assessor_reason == "符合"
    assert await trail(applied) == [
        ("enrolled", "", "simplified:submitted"),
        ("enrollment_reviewed", "submitted", "institution_approved"),
        ("enrollment_reviewed", "institution_approved", "assessor_approved"),
    ]
    assert len(await mail_to(doc.email)) == 2


async def test_a_rejection_then_general_and_one_decision_wins(app: Starlette, db: None) -> None:
    mailer = mailer_of(app)
    inst, _ = await factories.org_with_account(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    me, reviewer = await physician_actor(doc), await actor_of(inst)
    period = await factories.period()
    await period.fetch_related("windows")
    # Two decisions at once on another physician's application: either may win (on
    # PostgreSQL both run at once), never both.
    racer = await factories.physician(inst)
    raced = await enrollment.enroll(
        await physician_actor(racer), period, Procedure.SIMPLIFIED, APPLICATION
    )
    outcomes = await asyncio.gather(
        enrollment.review(reviewer, raced.id, False, "材料不全", mailer=mailer),
        enrollment.review(reviewer, raced.id, True, "", mailer=mailer),
        return_exceptions=True,
    )
    (lost,) = [o for o in outcomes if isinstance(o, Conflict)]
    assert len([o for o in outcomes if isinstance(o, Enrollment)]) == 1
    # Lost inside the transition (CONFLICT), or read it decided already.
    assert lost.message == CONFLICT
    assert len(await trail(raced)) == 2 and len(await mail_to(racer.email)) == 1

    applied = await enrollment.enroll(me, period, Procedure.SIMPLIFIED, APPLICATION)
    await enrollment.review(reviewer, applied.id, False, "材料不全", mailer=mailer)
    assert len(await trail(applied)) == 2 and len(await mail_to(doc.email)) == 1
    with pytest.raises(Conflict, match="选择一般程序"):
        await enrollment.enroll(me, period, Procedure.SIMPLIFIED, APPLICATION)

    general = await enrollment.enroll(me, period, Procedure.GENERAL)
    assert (await Enrollment.get(id=applied.id)).is_active is False
    active = await enrollment.active_enrollment(doc.id, period.id)
    assert active is not None and active.id == general.id


async def test_others_and_other_roles_find_nothing(app: Starlette, db: None) -> None:
    mailer = mailer_of(app)
    inst = await factories.organisation(OrgKind.INSTITUTION)
    other, _ = await factories.org_with_account(OrgKind.INSTITUTION)
    commission, _ = await factories.org_with_account(OrgKind.COMMISSION)
    doc = await factories.physician(inst)
    period = await factories.period()
    await period.fetch_related("windows")
    applied = await enrollment.enroll(
        await physician_actor(doc), period, Procedure.SIMPLIFIED, APPLICATION
    )
    for outsider in (await actor_of(other), await actor_of(commission)):
        with pytest.raises(NotFound):
            await enrollment.review(outsider, applied.id, True, "", mailer=mailer)
