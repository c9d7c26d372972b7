"""rules/proctoring.py called directly (no socket, no HTTP): a proctor approves a failed face
check, ends an attempt, writes to the physician and reviews the attempt afterwards; each
decision has its audit row, one decision wins, and nobody acts outside its jurisdiction."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import Conflict, DomainError, Forbidden, NotFound
from models.enums import AttemptStatus, FaceReason, FaceStage, OrgKind, Role
from models.exam import Attempt, FaceCheck, Paper
from models.ops import AuditLog
from models.period import Period
from rules import exam, proctoring
from rules.actor import Actor
from tests import factories


async def setting(
    status: AttemptStatus = AttemptStatus.IN_PROGRESS,
) -> tuple[Period, Attempt, Actor, Actor]:
    """An Urumqi physician's attempt of the current period, the office and a commission of
    another prefecture as proctors."""
    period = await factories.period()
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    enrollment = await factories.enrollment(period, doc)
    paper = await Paper.create(
        period=period, physician=doc, enrollment=enrollment, duration_minutes=60, pass_mark=60
    )
    attempt = await Attempt.create(paper=paper, status=status)
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    _, far = await factories.org_with_account(OrgKind.COMMISSION, "653100")
    return period, attempt, await Actor.of(office, "192.0.2.7"), await Actor.of(far)


async def failed_check(attempt: Attempt, stage: FaceStage) -> FaceCheck:
    return await FaceCheck.create(
        attempt=attempt, stage=stage, passed=False, reason=FaceReason.MISMATCH
    )


async def audit_rows(kind: str, object_id: int) -> list[tuple[str, str, str, str]]:
    return [
        (a.action, a.from_state, a.to_state, a.reason)
        async for a in AuditLog.filter(object_type=kind, object_id=object_id).order_by("id")
    ]


async def test_only_inside_the_jurisdiction(db: None) -> None:
    period, attempt, office, far = await setting()
    assert (await proctoring.attempt_of(office, attempt.id)).id == attempt.id
    with pytest.raises(NotFound):
        await proctoring.attempt_of(far, attempt.id)
    await attempt.fetch_related("paper__physician__institution")
    own = await factories.account(Role.INSTITUTION, attempt.paper.physician.institution)
    institution = await Actor.of(own)
    with pytest.raises(Forbidden):  # its own physician, but an institution is no proctor
        await proctoring.attempt_of(institution, attempt.id)
    await Attempt.filter(id=attempt.id).update(flagged=True)
    assert [a.id for a in await proctoring.awaiting_review(office, period)] == [attempt.id]
    assert await proctoring.awaiting_review(far, period).count() == 0


async def test_approve_the_pending_stages_check_once(db: None) -> None:
    _, attempt, office, _ = await setting()
    start = await failed_check(attempt, FaceStage.START)
    random = await failed_check(attempt, FaceStage.RANDOM)
    with pytest.raises(DomainError, match="请填写人工通过的理由"):
        await proctoring.approve_check(office, attempt, FaceStage.START, "  ")
    with pytest.raises(DomainError, match="500"):
        await proctoring.approve_check(office, attempt, FaceStage.START, "理" * 501)

    # Two proctors at once on the same check: one approval wins.
    both = await asyncio.gather(
        proctoring.approve_check(office, attempt, FaceStage.START, "人工核对身份证件"),
        proctoring.approve_check(office, attempt, FaceStage.START, "人工核对身份证件"),
        return_exceptions=True,
    )
    assert sum(isinstance(r, FaceCheck) for r in both) == 1
    assert sum(isinstance(r, Conflict) for r in both) == 1
    approved = await FaceCheck.get(id=start.id)
    assert (approved.approved_by_id, approved.approval_reason) == (
        office.account_id,
        "人工核对身份证件",
    )
    assert (await FaceCheck.get(id=random.id)).approved_by_id is None  # another stage's
    assert await audit_rows("facecheck", start.id) == [
        ("face_check_approved", "failed", "approved", "人工核对身份证件")
    ]
    # No stage known: the latest failed check still waiting.
    assert (await proctoring.approve_check(office, attempt, None, "复核照片")).id == random.id
    with pytest.raises(Conflict, match="没有待人工处理"):
        await proctoring.approve_check(office, attempt, None, "再次通过")


async def test_an_end_keeps_a_flag_added_after_the_page_read(db: None) -> None:
    _, attempt, office, _ = await setting()
    page = await proctoring.attempt_of(office, attempt.id)  # what the proctor's page read
    await exam.flag(attempt.id, "切换页面")  # the hall flags meanwhile
    ended = await proctoring.end_attempt(office, page, "发现替考")
    assert ended.flag_reason == "切换页面；监考人员终止考试：发现替考"


async def test_end_then_review(db: None) -> None:
    _, attempt, office, _ = await setting()
    await Attempt.filter(id=attempt.id).update(flagged=True, flag_reason="随机人脸识别超时未完成")
    attempt = await proctoring.attempt_of(office, attempt.id)
    with pytest.raises(DomainError, match="尚未结束"):
        await proctoring.review_attempt(office, attempt, "accept", "")
    with pytest.raises(DomainError, match="请填写终止考试的理由"):
        await proctoring.end_attempt(office, attempt, "")
    ended = await proctoring.end_attempt(office, attempt, "发现替考")
    assert ended.status == AttemptStatus.ENDED and ended.ended_reason == "发现替考"
    assert ended.flag_reason == "随机人脸识别超时未完成；监考人员终止考试：发现替考"
    with pytest.raises(Conflict, match="已结束"):
        await proctoring.end_attempt(office, ended, "再次终止")
    with pytest.raises(Conflict):  # a page read before the end: the update finds it ended
        await proctoring.end_attempt(office, attempt, "同时终止")

    assert await proctoring.message(office, ended, " 请保持在线 ") == "请保持在线"
    with pytest.raises(DomainError, match="请填写要发送的消息") as refused:
        await proctoring.message(office, ended, "")
    assert refused.value.field == "text"

    with pytest.raises(DomainError, match="请选择复核结论"):
        await proctoring.review_attempt(office, ended, "maybe", "")
    with pytest.raises(DomainError, match="作废时请填写理由"):
        await proctoring.review_attempt(office, ended, "void", "")
    voided = await proctoring.review_attempt(office, ended, "void", "替考属实")
    assert voided.status == AttemptStatus.VOIDED and voided.review_decision == "void"
    assert voided.reviewed_by_id == office.account_id
    with pytest.raises(Conflict, match="已复核"):
        await proctoring.review_attempt(office, voided, "accept", "")
    with pytest.raises(Conflict):  # read before the void: one decision wins
        await proctoring.review_attempt(office, ended, "accept", "")

    assert await audit_rows("attempt", attempt.id) == [
        ("attempt_ended", "in_progress", "ended", "发现替考"),
        ("proctor_message", "", "", "请保持在线"),
        ("attempt_review_void", "ended", "voided", "替考属实"),
    ]


async def test_accepting_keeps_a_submitted_attempt(db: None) -> None:
    _, attempt, office, _ = await setting(AttemptStatus.SUBMITTED)
    with pytest.raises(DomainError, match="没有异常标记"):
        await proctoring.review_attempt(office, attempt, "accept", "")
    await Attempt.filter(id=attempt.id).update(flagged=True, score=75)
    attempt = await proctoring.attempt_of(office, attempt.id)
    accepted = await proctoring.review_attempt(office, attempt, "accept", "")
    assert (accepted.status, accepted.review_decision, accepted.score) == (
        AttemptStatus.SUBMITTED,
        "accept",
        75,
    )
    assert await audit_rows("attempt", attempt.id) == [
        ("attempt_review_accept", "submitted", "submitted", "")
    ]
