"""One attempt as proctors see it (its face checks with the kept frames, its timeline), what
they do about it, and the review of flagged attempts (异常复核) after the window.

Actions reach the physician's socket at once through the node that holds it (``Live.tell``):
approving a failed face check by hand, a message, ending the attempt. Each is audited, and
a second action on the same flag or attempt finds it already handled (one wins).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from tortoise.expressions import Subquery

from core.errors import Conflict, DomainError, NotFound
from examhall.hall import Hall
from examhall.monitor import PROCTORS, STAGE_LABELS
from examhall.sitting import STAGES
from face.challenge import missing_message
from models.enums import AttemptStatus, FaceAction, FaceReason, FaceStage
from models.exam import Attempt, AttemptEvent, FaceCheck
from models.org import Account
from models.period import Period
from rules import audit
from rules.jurisdiction import Jurisdiction
from web.endpoint import CurrentUser, client_ip, redirect, render, requires, user
from web.pagination import paginate
from web.sessions import get_session

EVENT_LABELS = {
    "connected": "连接考场",
    "disconnected": "断开连接",
    "started": "开始答题",
    "check_asked": "要求人脸识别",
    "check_passed": "人脸识别通过",
    "check_failed": "人脸识别未通过",
    "flagged": "标记异常",
    "submit_requested": "申请交卷",
    "submitted": "已交卷",
    "deadline": "考试时间到",
    "page_hidden": "离开考试页面",
    "page_visible": "回到考试页面",
    "check_approved": "监考人工通过人脸识别",
    "proctor_message": "监考发送消息",
    "ended": "监考终止考试",
    "reviewed": "异常复核",
}


async def attempt_of(proctor: CurrentUser, attempt_id: int) -> Attempt:
    """An attempt inside the proctor's jurisdiction, else 404."""
    mine = Subquery(Jurisdiction.of(proctor).physicians().values("id"))
    found = (
        await Attempt.filter(id=attempt_id, paper__physician_id__in=mine)
        .select_related("paper", "paper__physician", "paper__physician__institution")
        .first()
    )
    if found is None:
        raise NotFound()
    return found


async def _tell(request: Request, attempt: Attempt, message: dict[str, Any]) -> bool:
    """Deliver to the node that holds the physician's socket; False when nobody is connected."""
    hall: Hall = request.app.state.hall
    session = await hall.live.session(attempt.id)
    if not (session.get("node") and session.get("connected") == "1"):
        return False
    await hall.live.tell(session["node"], {**message, "attempt": attempt.id})
    return True


async def approve_check(
    request: Request, proctor: CurrentUser, attempt: Attempt, reason: str
) -> FaceCheck:
    """Pass the attempt's latest failed check of its pending stage by hand."""
    if not reason:
        raise DomainError("请填写人工通过的理由", field="reason")
    session = await request.app.state.hall.live.session(attempt.id)
    stage = session.get("stage") or ""
    failed = FaceCheck.filter(attempt_id=attempt.id, passed=False, approved_by_id__isnull=True)
    if stage in STAGES:
        failed = failed.filter(stage=STAGES[stage])
    check = await failed.order_by("-id").first()
    if check is None:
        raise Conflict("该考生当前没有待人工处理的人脸识别")
    changed = await FaceCheck.filter(id=check.id, approved_by_id__isnull=True).update(
        approved_by_id=proctor.account_id, approval_reason=reason
    )
    if not changed:
        raise Conflict("该人脸识别已由其他监考人员处理")
    actor = await Account.get(id=proctor.account_id)
    await audit.record(
        actor,
        "face_check_approved",
        obj=check,
        from_state="failed",
        to_state="approved",
        reason=reason,
        ip=client_ip(request),
        attempt=attempt.id,
    )
    request.app.state.hall.event(
        attempt.id, "check_approved", stage=check.stage.value, by=actor.username, reason=reason
    )
    await _tell(request, attempt, {"op": "recheck"})
    return check


async def end_attempt(
    request: Request, proctor: CurrentUser, attempt: Attempt, reason: str
) -> None:
    if not reason:
        raise DomainError("请填写终止考试的理由", field="reason")
    # An ended attempt waits in 异常复核 like a flagged one: its end is looked at again.
    reasons = [r for r in attempt.flag_reason.split("；") if r] + [f"监考人员终止考试：{reason}"]
    changed = await Attempt.filter(
        id=attempt.id, status__in=(AttemptStatus.WAITING, AttemptStatus.IN_PROGRESS)
    ).update(
        status=AttemptStatus.ENDED,
        ended_reason=reason,
        flagged=True,
        flag_reason="；".join(reasons)[:500],
    )
    if not changed:
        raise Conflict("该考试已结束或已被其他监考人员终止")
    await audit.record(
        await Account.get(id=proctor.account_id),
        "attempt_ended",
        obj=attempt,
        from_state=attempt.status.value,
        to_state=AttemptStatus.ENDED.value,
        reason=reason,
        ip=client_ip(request),
    )
    request.app.state.hall.event(attempt.id, "ended", reason=reason)
    await _tell(request, attempt, {"op": "end", "reason": f"监考人员已终止本次测评：{reason}"})


async def send_message(request: Request, proctor: CurrentUser, attempt: Attempt, text: str) -> bool:
    if not text:
        raise DomainError("请填写要发送的消息", field="text")
    await audit.record(
        await Account.get(id=proctor.account_id),
        "proctor_message",
        obj=attempt,
        reason=text,
        ip=client_ip(request),
    )
    request.app.state.hall.event(attempt.id, "proctor_message", text=text)
    return await _tell(request, attempt, {"op": "notice", "text": text})


REVIEW_DECISIONS = {"accept": "认可成绩", "void": "作废本次测评"}


async def review_attempt(
    request: Request, proctor: CurrentUser, attempt: Attempt, decision: str, reason: str
) -> None:
    """After the window: accept the flagged attempt's result, or void it. One decision wins."""
    if decision not in REVIEW_DECISIONS:
        raise DomainError("请选择复核结论", field="decision")
    if decision == "void" and not reason:
        raise DomainError("作废时请填写理由", field="reason")
    if not attempt.flagged:
        raise DomainError("该考试没有异常标记，无需复核")
    values: dict[str, Any] = {
        "review_decision": decision,
        "review_reason": reason,
        "reviewed_by_id": proctor.account_id,
    }
    if decision == "void":
        values["status"] = AttemptStatus.VOIDED
    changed = await Attempt.filter(
        id=attempt.id,
        review_decision="",
        status__in=(AttemptStatus.SUBMITTED, AttemptStatus.ENDED),
    ).update(**values)
    if not changed:
        raise Conflict("该考试已复核，或尚未结束")
    await audit.record(
        await Account.get(id=proctor.account_id),
        f"attempt_review_{decision}",
        obj=attempt,
        from_state=attempt.status.value,
        to_state=AttemptStatus.VOIDED.value if decision == "void" else attempt.status.value,
        reason=reason,
        ip=client_ip(request),
    )
    request.app.state.hall.event(attempt.id, "reviewed", decision=decision, reason=reason)


@requires(*PROCTORS)
async def attempt_page(request: Request) -> Response:
    proctor = user(request)
    attempt = await attempt_of(proctor, request.path_params["attempt_id"])
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        action = str(form.get("action", ""))
        reason = str(form.get("reason", "")).strip()[:500]
        session = get_session(request)
        try:
            if action == "approve":
                await approve_check(request, proctor, attempt, reason)
                session.flash("已人工通过该考生的人脸识别，考生页面已继续。")
            elif action == "message":
                delivered = await send_message(request, proctor, attempt, reason)
                session.flash(
                    "消息已送达考生页面。" if delivered else "考生当前不在线，消息已记录。"
                )
            elif action == "end":
                await end_attempt(request, proctor, attempt, reason)
                session.flash("已终止该考生的考试。")
            elif action in ("accept", "void"):
                await review_attempt(request, proctor, attempt, action, reason)
                session.flash("复核结论已保存。")
            else:
                raise DomainError("请选择操作")
        except DomainError as exc:
            errors[exc.field or "form"] = exc.message
        else:
            return redirect(request, f"/proctor/attempts/{attempt.id}")
    attempt = await attempt_of(proctor, attempt.id)
    events = await AttemptEvent.filter(attempt_id=attempt.id).order_by("id")
    checks = await FaceCheck.filter(attempt_id=attempt.id).order_by("id")
    context = {
        "attempt": attempt,
        "physician": attempt.paper.physician,
        "events": [(e, event_text(e)) for e in events],
        "checks": [(c, check_reason(c), actions_text(c.actions)) for c in checks],
        "live": await request.app.state.hall.live.session(attempt.id),
        "labels": EVENT_LABELS,
        "stage_labels": STAGE_LABELS,
        "errors": errors,
        "decisions": REVIEW_DECISIONS,
        "S": AttemptStatus,
        "F": FaceStage,
    }
    return render(request, "proctor/attempt.html", context, status_code=400 if errors else 200)


def actions_text(codes: str) -> str:
    """turn_left,open_mouth → 向左转头、张嘴"""
    labels = []
    for code in filter(None, codes.split(",")):
        try:
            labels.append(FaceAction(code).label)
        except ValueError:
            labels.append(code)
    return "、".join(labels)


def check_reason(check: FaceCheck) -> str:
    """Why a check passed or not, in the words the physician saw."""
    missing = (check.detail or {}).get("missing") or []
    if check.reason == FaceReason.NO_ACTION and missing:
        return missing_message(missing)
    return check.reason.label


def event_text(event: AttemptEvent) -> str:
    """What an event's detail says, in Chinese: reason codes become their labels."""
    detail = event.detail or {}
    parts = []
    if detail.get("stage"):
        parts.append(f"（{STAGE_LABELS.get(detail['stage'], detail['stage'])}）")
    if detail.get("actions"):
        parts.append(f"：{actions_text(','.join(detail['actions']))}")
    reason = detail.get("reason")
    if reason:
        try:
            parts.append(f"：{FaceReason(reason).label}")
        except ValueError:  # a flag's reason is written in Chinese already
            parts.append(f"：{reason}")
    if detail.get("text"):
        parts.append(f"：{detail['text']}")
    if detail.get("distance"):
        parts.append(f"（相似距离 {detail['distance']:.3f}）")
    return "".join(parts)


@requires(*PROCTORS)
async def check_frame(request: Request) -> Response:
    """A kept frame of a failed check (its frames are kept for the proctor who decides)."""
    proctor = user(request)
    check = await FaceCheck.get_or_none(id=request.path_params["check_id"])
    if check is None or check.attempt_id is None:
        raise NotFound()
    await attempt_of(proctor, check.attempt_id)
    n = request.path_params["n"]
    if n >= len(check.frame_paths):
        raise NotFound()
    path = request.app.state.settings.media_path / check.frame_paths[n]
    if not path.is_file():
        raise NotFound()
    return Response(
        await asyncio.to_thread(path.read_bytes),
        media_type="image/jpeg",
        headers={"Cache-Control": "private, no-store"},
    )


@requires(*PROCTORS)
async def review_queue(request: Request) -> Response:
    """Flagged attempts awaiting a decision, oldest first."""
    proctor = user(request)
    period = await Period.filter(is_current=True).first()
    page = None
    if period is not None:
        mine = Subquery(Jurisdiction.of(proctor).physicians().values("id"))
        qs = Attempt.filter(
            paper__period_id=period.id,
            paper__physician_id__in=mine,
            flagged=True,
            review_decision="",
        ).select_related("paper__physician", "paper__physician__institution")
        page = await paginate(request, qs.order_by("id"))
    return render(request, "proctor/reviews.html", {"page": page, "period": period})


routes: list[BaseRoute] = [
    Route("/proctor/reviews", review_queue),
    Route("/proctor/attempts/{attempt_id:int}", attempt_page, methods=["GET", "POST"]),
    Route("/proctor/checks/{check_id:int}/frames/{n:int}", check_frame),
]
