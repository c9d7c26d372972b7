"""The proctors' monitor and actions, with real hall sessions over a real uvicorn."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from starlette.applications import Starlette

from examhall import protocol as p
from examhall.client import HallClient
from models.enums import AttemptStatus, OrgKind
from models.exam import Attempt, AttemptEvent, FaceCheck
from models.ops import AuditLog
from models.period import Period
from tests import factories
from tests.helpers import csrf_of, login
from tests.sitting import live, opposite, recheck, sitter, start
from web.sessions import COOKIE


async def proctor_client(app: Starlette, username: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    proctor = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    assert (await login(proctor, username)).status_code == 303
    return proctor


async def act(
    proctor: httpx.AsyncClient, attempt_id: int, action: str, reason: str = ""
) -> httpx.Response:
    path = f"/proctor/attempts/{attempt_id}"
    token = await csrf_of(proctor, path)
    return await proctor.post(path, data={"action": action, "reason": reason, "csrf_token": token})


async def snapshot(
    base_url: str,
    cookie: str,
    until: Callable[[dict[str, Any]], bool] = lambda data: True,
    **params: str,
) -> dict[str, Any]:
    """The first event of the monitor's stream that satisfies ``until`` (pushed each second)."""
    async with (
        httpx.AsyncClient(base_url=base_url, headers={"Cookie": cookie}, timeout=20) as http,
        http.stream("GET", "/proctor/stream", params=params) as stream,
    ):
        assert stream.status_code == 200
        seen = 0
        async for line in stream.aiter_lines():
            if not line.startswith("data: "):
                continue
            data: dict[str, Any] = json.loads(line[6:])
            if until(data):
                return data
            seen += 1
            assert seen < 15, f"the monitor never showed it: {data}"
    raise AssertionError("the stream ended")


def row_of(data: dict[str, Any], attempt_id: int) -> dict[str, Any] | None:
    return next((r for r in data["rows"] if r["attempt_id"] == attempt_id), None)


async def test_monitor_follows_checks_and_proctor_acts(
    app: Starlette, client: httpx.AsyncClient, base_url: str, worker: Any
) -> None:
    me = await sitter(app, client)
    await Period.filter(id=me.period.id).update(face_retries=1)
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    proctor = await proctor_client(app, office.username)
    office_cookie = f"{COOKIE}={proctor.cookies[COOKIE]}"

    hall = HallClient(base_url, me.cookie)
    welcome = await hall.connect()
    await hall.expect(p.CHECK, stage=p.START)
    attempt = await Attempt.get(id=welcome["attempt"])
    data = await snapshot(base_url, office_cookie, q=me.physician.name)
    assert data["counts"]["checking"] >= 1
    row = next(r for r in data["rows"] if r["attempt_id"] == attempt.id)
    assert row["category"] == "checking" and row["stage"] == p.START

    # A failed start check at the retry limit: flagged, and the physician is stuck.
    shown = opposite(hall)
    await hall.burst(shown)
    failed = await hall.expect(p.CHECK_RESULT)
    assert not failed["passed"] and failed["tries_left"] == 0 and "监考人员" in failed["message"]
    assert failed.get("challenge") is None  # no try left: no new challenge
    await hall.burst(live(hall))
    stuck = await hall.expect(p.CHECK_RESULT)
    assert stuck["reason"] == "limit"
    data = await snapshot(
        base_url, office_cookie, lambda d: row_of(d, attempt.id) is not None, category="flagged"
    )
    row = row_of(data, attempt.id)
    assert (
        row
        and row["flagged"]
        and row["failed_checks"] == 1
        and "开考人脸识别" in row["flag_reason"]
    )

    page = await proctor.get(f"/proctor/attempts/{attempt.id}")
    assert "人脸识别未通过" in page.text and "未完成指定动作" in page.text
    check = await FaceCheck.get(attempt_id=attempt.id, passed=False)
    assert len(check.frame_paths) == len(shown)
    frame = await proctor.get(f"/proctor/checks/{check.id}/frames/0")
    assert frame.status_code == 200 and frame.content == shown[0]
    assert "no-store" in frame.headers["cache-control"]
    assert (await proctor.get(f"/proctor/checks/{check.id}/frames/{len(shown)}")).status_code == 404
    registered = await proctor.get(f"/physicians/{me.physician.id}/photo")
    assert registered.status_code == 200 and registered.headers["content-type"] == "image/jpeg"

    # The proctor's message reaches the page; the approval unblocks the physician.
    await act(proctor, attempt.id, "message", "请摘下口罩，正对摄像头")
    assert (await hall.expect(p.NOTICE))["text"] == "请摘下口罩，正对摄像头"
    assert (await act(proctor, attempt.id, "approve", "")).status_code == 400
    done = await act(proctor, attempt.id, "approve", "人工核对身份证件，确认本人")
    assert done.status_code == 303
    await hall.expect(p.PAPER)
    await hall.expect(p.STATE, state=p.TESTING)
    twice = await act(proctor, attempt.id, "approve", "再次通过")
    assert twice.status_code == 400 and "没有待人工处理" in twice.text

    # Ending the attempt closes the physician's socket with the reason.
    ended = await act(proctor, attempt.id, "end", "发现替考")
    assert ended.status_code == 303
    bye = await hall.expect(p.BYE)
    assert bye["code"] == p.ENDED_BY_PROCTOR and "发现替考" in bye["message"]
    await hall.close()
    assert (await Attempt.get(id=attempt.id)).status == AttemptStatus.ENDED
    again = await act(proctor, attempt.id, "end", "再次终止")
    assert again.status_code == 400 and "已结束" in again.text

    # After the window: the review queue, one decision wins.
    assert me.physician.name in (await proctor.get("/proctor/reviews")).text
    assert (await act(proctor, attempt.id, "void", "")).status_code == 400
    assert (await act(proctor, attempt.id, "void", "替考属实")).status_code == 303
    late = await act(proctor, attempt.id, "accept", "")
    assert late.status_code == 400
    attempt = await Attempt.get(id=attempt.id)
    assert attempt.status == AttemptStatus.VOIDED and attempt.review_decision == "void"
    assert me.physician.name not in (await proctor.get("/proctor/reviews")).text

    await app.state.hall.writes.flush()  # timeline events are written behind
    kinds = [e.kind async for e in AttemptEvent.filter(attempt_id=attempt.id)]
    order = ["check_failed", "flagged", "proctor_message", "check_approved", "ended", "reviewed"]
    positions = [kinds.index(k) for k in order]
    assert positions == sorted(positions)
    actions = {a.action async for a in AuditLog.filter(actor_id=office.id)}
    assert {
        "face_check_approved",
        "proctor_message",
        "attempt_ended",
        "attempt_review_void",
    } <= actions
    events = await app.state.redis.xrange("hall:events", count=10_000)
    assert any(
        e[1]["kind"] == "check_failed" and e[1]["attempt"] == str(attempt.id) for e in events
    )
    await proctor.aclose()


async def test_jurisdiction_of_proctors(
    app: Starlette, client: httpx.AsyncClient, base_url: str, worker: Any
) -> None:
    me = await sitter(app, client)  # an Urumqi physician
    hall = HallClient(base_url, me.cookie)
    await start(hall)
    attempt_id = hall.welcome["attempt"]
    inst = await factories.organisation(OrgKind.INSTITUTION)
    assert inst.prefecture_id == me.physician.prefecture_id
    _, far_commission = await factories.org_with_account(OrgKind.COMMISSION, "653100")
    _, far_assessor = await factories.org_with_account(OrgKind.ASSESSOR, "653100")
    _, near_commission = await factories.org_with_account(OrgKind.COMMISSION, "650100")
    for outsider in (far_commission, far_assessor):
        proctor = await proctor_client(app, outsider.username)
        assert (await proctor.get(f"/proctor/attempts/{attempt_id}")).status_code == 404
        assert (await act(proctor, attempt_id, "end", "越权")).status_code == 404
        cookie = f"{COOKIE}={proctor.cookies[COOKIE]}"
        data = await snapshot(base_url, cookie)
        assert all(r["attempt_id"] != attempt_id for r in data["rows"])
        await proctor.aclose()
    near = await proctor_client(app, near_commission.username)
    assert (await near.get(f"/proctor/attempts/{attempt_id}")).status_code == 200
    near_cookie = near.cookies[COOKIE]
    data = await snapshot(base_url, f"{COOKIE}={near_cookie}")
    assert any(r["attempt_id"] == attempt_id for r in data["rows"])
    await near.aclose()

    # Flags that explain themselves: leaving the page again and again, and a random check
    # left unanswered past its time.
    for _ in range(5):
        await hall.send(p.Visibility(type=p.VISIBILITY, hidden=True))
        await hall.send(p.Visibility(type=p.VISIBILITY, hidden=False))
    late = datetime.now(UTC) - timedelta(minutes=4)
    await Attempt.filter(id=attempt_id).update(random_check_at=late)
    await recheck(app, attempt_id)
    await hall.expect(p.CHECK, stage=p.RANDOM)

    def explained(data: dict[str, Any]) -> bool:  # both flags: the messages and the timer
        row = row_of(data, attempt_id)
        return bool(row and all(f in row["flag_reason"] for f in ("随机人脸识别超时", "多次离开")))

    data = await snapshot(base_url, f"{COOKIE}={near_cookie}", explained)
    row = row_of(data, attempt_id)
    assert row and row["flagged"] and row["hidden_events"] == 5
    assert "多次离开考试页面（5 次）" in row["flag_reason"]

    _, institution = await factories.org_with_account(OrgKind.INSTITUTION)
    inst_client = await proctor_client(app, institution.username)
    assert (await inst_client.get("/proctor/")).status_code == 403
    await inst_client.aclose()
    async with httpx.AsyncClient(base_url=base_url) as anonymous:
        refused = await anonymous.get("/proctor/stream")
        assert refused.status_code == 401 and "未登录" in refused.text
    await hall.close()
    assert (await Attempt.get(id=attempt_id)).status == AttemptStatus.IN_PROGRESS


async def test_an_attempt_a_proctor_ended_waits_in_the_review_list(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    """异常复核 lists attempts ended by a proctor (not only flagged ones), and until the
    review the result counts the test as unfinished."""
    from models.exam import Paper
    from rules.results import test_part

    period = await factories.period()
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst, name="终止复核医师")
    enrollment = await factories.enrollment(period, doc)
    paper = await Paper.create(
        period=period, physician=doc, enrollment=enrollment, duration_minutes=60, pass_mark=60
    )
    attempt = await Attempt.create(paper=paper, status=AttemptStatus.IN_PROGRESS)
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    proctor = await proctor_client(app, office.username)
    assert "终止复核医师" not in (await proctor.get("/proctor/reviews")).text

    assert (await act(proctor, attempt.id, "end", "手机查阅资料")).status_code == 303
    queue = await proctor.get("/proctor/reviews")
    assert "终止复核医师" in queue.text and "监考人员终止考试：手机查阅资料" in queue.text
    row = await Attempt.filter(id=attempt.id).values(
        "paper__pass_mark", "status", "score", "flagged", "review_decision"
    )
    assert test_part(row[0], 60)[0].passed is None  # not decided before the review

    page = await proctor.get(f"/proctor/attempts/{attempt.id}")
    assert "提交复核" in page.text
    assert (await act(proctor, attempt.id, "accept", "终止理由属实")).status_code == 303
    assert "终止复核医师" not in (await proctor.get("/proctor/reviews")).text
    row = await Attempt.filter(id=attempt.id).values(
        "paper__pass_mark", "status", "score", "flagged", "review_decision"
    )
    assert test_part(row[0], 60)[0].passed is False
    await proctor.aclose()
