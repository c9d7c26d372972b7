"""One attempt as proctors see it (its face checks with the kept frames, its timeline), what
they do about it, and the review of flagged attempts (异常复核) after the window.

Actions reach the physician's socket at once through the node that holds it (``Live.tell``):
approving a failed face check by hand, a message, ending the attempt. The decisions themselves
(audited, one wins, inside the proctor's jurisdiction) are ``rules.proctoring``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core.errors import DomainError, NotFound
from examhall.hall import Hall
from examhall.monitor import STAGE_LABELS
from examhall.sitting import STAGES
from face.challenge import missing_message
from models.enums import AttemptStatus, FaceAction, FaceReason, FaceStage
from models.exam import Attempt, AttemptEvent, FaceCheck
from models.period import Period
from rules import proctoring as rules
from rules.actor import Actor
from rules.proctoring import PROCTORS
from web.endpoint import client_ip, current_user, redirect, render, requires
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


def actor(request: Request) -> Actor:
    """The proctor acting in this request, for the rules."""
    return Actor.signed_in(current_user(request), client_ip(request))


async def _tell(request: Request, attempt: Attempt, message: dict[str, Any]) -> bool:
    """Deliver to the node that holds the physician's socket; False when nobody is connected."""
    hall: Hall = request.app.state.hall
    session = await hall.live.session(attempt.id)
    if not (session.get("node") and session.get("connected") == "1"):
        return False
    await hall.live.tell(session["node"], {**message, "attempt": attempt.id})
    return True


async def _act(request: Request, attempt: Attempt, action: str, reason: str) -> str:
    """One proctor action: the decision (``rules.proctoring``), then what the physician's page
    and the timeline see. Returns the message to flash."""
    proctor = actor(request)
    hall: Hall = request.app.state.hall
    if action == "approve":
        stage = (await hall.live.session(attempt.id)).get("stage") or ""
        check = await rules.approve_check(proctor, attempt, STAGES.get(stage), reason)
        hall.event(
            attempt.id,
            "check_approved",
            stage=check.stage.value,
            by=proctor.label,
            reason=check.approval_reason,
        )
        await _tell(request, attempt, {"op": "recheck"})
        return "已人工通过该考生的人脸识别，考生页面已继续。"
    if action == "message":
        text = await rules.message(proctor, attempt, reason)
        hall.event(attempt.id, "proctor_message", text=text)
        delivered = await _tell(request, attempt, {"op": "notice", "text": text})
        return "消息已送达考生页面。" if delivered else "考生当前不在线，消息已记录。"
    if action == "end":
        ended = await rules.end_attempt(proctor, attempt, reason)
        hall.event(attempt.id, "ended", reason=ended.ended_reason)
        notice = f"监考人员已终止本次测评：{ended.ended_reason}"
        await _tell(request, attempt, {"op": "end", "reason": notice})
        return "已终止该考生的考试。"
    if action in rules.REVIEW_DECISIONS:
        reviewed = await rules.review_attempt(proctor, attempt, action, reason)
        hall.event(attempt.id, "reviewed", decision=action, reason=reviewed.review_reason)
        return "复核结论已保存。"
    raise DomainError("请选择操作")


@requires(*PROCTORS)
async def attempt_page(request: Request) -> Response:
    proctor = actor(request)
    attempt = await rules.attempt_of(proctor, request.path_params["attempt_id"])
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        action, reason = str(form.get("action", "")), str(form.get("reason", ""))
        try:
            get_session(request).flash(await _act(request, attempt, action, reason))
        except DomainError as exc:
            errors[exc.field or "form"] = exc.message
        else:
            return redirect(request, f"/proctor/attempts/{attempt.id}")
    attempt = await rules.attempt_of(proctor, attempt.id)
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
        "decisions": rules.REVIEW_DECISIONS,
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
    check = await FaceCheck.get_or_none(id=request.path_params["check_id"])
    if check is None or check.attempt_id is None:
        raise NotFound()
    await rules.attempt_of(actor(request), check.attempt_id)
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
    period = await Period.filter(is_current=True).first()
    page = None
    if period is not None:
        page = await paginate(request, rules.awaiting_review(actor(request), period))
    return render(request, "proctor/reviews.html", {"page": page, "period": period})


routes: list[BaseRoute] = [
    Route("/proctor/reviews", review_queue),
    Route("/proctor/attempts/{attempt_id:int}", attempt_page, methods=["GET", "POST"]),
    Route("/proctor/checks/{check_id:int}/frames/{n:int}", check_frame),
]
