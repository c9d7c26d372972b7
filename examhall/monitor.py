"""The proctors' live monitor (在线监考): counts by state, by prefecture and by institution,
and a page of the sessions, pushed to the page as server-sent events.

The office sees every session of the current period, a prefecture commission its prefecture,
an assessment body the institutions assigned to it (``Jurisdiction.physicians``). Counts come
from the database (who has an attempt, submitted, flagged) joined with Redis (who is
connected, in which state, the last heartbeat): one aggregation per jurisdiction per second
on each web node, whatever the number of monitors open. One attempt, and what proctors do
about it, is examhall/proctoring.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from tortoise.expressions import Subquery

from core.errors import NotFound
from core.numbers import as_int
from examhall.hall import Hall
from examhall.live import SESSION
from models.enums import AttemptStatus, Role
from models.exam import Attempt
from models.org import Organisation, Prefecture
from models.period import Period
from rules.jurisdiction import Jurisdiction
from rules.proctoring import PROCTORS
from web.endpoint import CurrentUser, current_user, render, requires, user
from web.pagination import Page
from web.params import page_number

CATEGORIES = {
    "waiting": "候考中",
    "testing": "答题中",
    "checking": "人脸识别中",
    "disconnected": "已断开",
    "submitted": "已交卷",
    "ended": "已终止",
    "flagged": "待处理异常",
}
SNAPSHOT_SECONDS = 1.0  # one aggregation per jurisdiction per second per node
PUSH_SECONDS = 1.0
PAGE_SIZE = 50
STAGE_LABELS = {"start": "开考", "random": "随机", "submit": "交卷"}


@dataclass
class Row:
    attempt_id: int
    physician_id: int
    name: str
    institution_id: int
    institution: str
    prefecture_id: int
    category: str
    status: str
    flagged: bool
    flag_reason: str
    remaining: float | None
    heartbeat_age: float | None
    failed_checks: int
    hidden_events: int
    stage: str


@dataclass
class Snapshot:
    at: float
    rows: list[Row] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        found = Counter(r.category for r in self.rows)
        found["flagged"] = sum(r.flagged for r in self.rows)
        return {k: found.get(k, 0) for k in CATEGORIES}

    def by(self, key: str) -> dict[int, dict[str, int]]:
        groups: dict[int, Counter[str]] = {}
        for r in self.rows:
            group = groups.setdefault(getattr(r, key), Counter())
            group[r.category] += 1
            group["flagged"] += r.flagged
        return {g: {k: c.get(k, 0) for k in CATEGORIES} for g, c in groups.items()}


class Monitor:
    """Snapshots per jurisdiction, cached for a second on this node."""

    def __init__(self, hall: Hall) -> None:
        self.hall = hall
        self._cache: dict[tuple[Any, ...], Snapshot] = {}
        self._locks: dict[tuple[Any, ...], asyncio.Lock] = {}
        self._prefectures: dict[int, str] = {}

    async def prefecture_names(self) -> dict[int, str]:
        """The 14 names, read once (the geography does not change while the app runs)."""
        if not self._prefectures:
            self._prefectures = dict(await Prefecture.all().values_list("id", "name"))
        return self._prefectures

    async def snapshot(self, proctor: CurrentUser, period: Period) -> Snapshot:
        key = (period.id, proctor.role, proctor.organisation_id, proctor.prefecture_id)
        cached = self._cache.get(key)
        if cached and time.monotonic() - cached.at < SNAPSHOT_SECONDS:
            return cached
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._cache.get(key)
            if cached and time.monotonic() - cached.at < SNAPSHOT_SECONDS:
                return cached
            fresh = await self._build(proctor, period)
            self._cache[key] = fresh
            return fresh

    async def _build(self, proctor: CurrentUser, period: Period) -> Snapshot:
        mine = Subquery(Jurisdiction.of(proctor).physicians().values("id"))
        rows = await Attempt.filter(
            paper__period_id=period.id, paper__physician_id__in=mine
        ).values(
            "id",
            "status",
            "flagged",
            "flag_reason",
            "review_decision",
            "deadline",
            "paper__physician_id",
            "paper__physician__name",
            "paper__physician__institution_id",
            "paper__physician__prefecture_id",
        )
        names = dict(
            await Organisation.filter(
                id__in={r["paper__physician__institution_id"] or 0 for r in rows}
            ).values_list("id", "name")
        )
        fields = ("state", "connected", "last_heartbeat", "failed_checks", "hidden_events", "stage")
        redis = self.hall.live.redis
        pipe = redis.pipeline(transaction=False)
        for r in rows:
            pipe.hmget(SESSION.format(r["id"]), fields)
        live = await pipe.execute() if rows else []
        now = datetime.now(UTC)
        wall = time.time()
        snapshot = Snapshot(time.monotonic())
        for r, values in zip(rows, live, strict=True):
            state, connected, heartbeat, failed, hidden, stage = values
            status = AttemptStatus(r["status"])
            if status == AttemptStatus.SUBMITTED:
                category = "submitted"
            elif status in (AttemptStatus.ENDED, AttemptStatus.VOIDED):
                category = "ended"
            elif connected != "1":
                category = "disconnected"
            elif state in ("checking", "finishing") or stage:
                category = "checking"
            elif state == "testing":
                category = "testing"
            else:
                category = "waiting"
            deadline = r["deadline"]
            snapshot.rows.append(
                Row(
                    attempt_id=r["id"],
                    physician_id=r["paper__physician_id"],
                    name=r["paper__physician__name"],
                    institution_id=r["paper__physician__institution_id"] or 0,
                    institution=names.get(r["paper__physician__institution_id"], "暂存区"),
                    prefecture_id=r["paper__physician__prefecture_id"],
                    category=category,
                    status=status.value,
                    flagged=bool(r["flagged"]) and not r["review_decision"],
                    flag_reason=r["flag_reason"],
                    remaining=max(0.0, (deadline - now).total_seconds()) if deadline else None,
                    heartbeat_age=round(wall - float(heartbeat), 1) if heartbeat else None,
                    failed_checks=int(failed or 0),
                    hidden_events=int(hidden or 0),
                    stage=stage or "",
                )
            )
        return snapshot


def monitor_of(request: Request) -> Monitor:
    found: Monitor = request.app.state.monitor  # made by the lifespan, with the hall
    return found


async def current() -> Period:
    period = await Period.filter(is_current=True).first()
    if period is None:
        raise NotFound()
    return period


def _chosen(request: Request) -> dict[str, str]:
    params = request.query_params
    return {k: params.get(k, "").strip()[:40] for k in ("q", "category", "institution")}


def _select(snapshot: Snapshot, chosen: dict[str, str], number: int) -> Page[Row]:
    rows = snapshot.rows
    if chosen["q"]:
        rows = [r for r in rows if chosen["q"] in r.name]
    if chosen["category"] == "flagged":
        rows = [r for r in rows if r.flagged]
    elif chosen["category"] in CATEGORIES:
        rows = [r for r in rows if r.category == chosen["category"]]
    if (institution := as_int(chosen["institution"])) is not None:
        rows = [r for r in rows if r.institution_id == institution]
    order = list(CATEGORIES)
    rows = sorted(rows, key=lambda r: (not r.flagged, order.index(r.category), r.attempt_id))
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    number = min(max(1, number), pages)
    start = (number - 1) * PAGE_SIZE
    return Page(rows[start : start + PAGE_SIZE], number, PAGE_SIZE, len(rows))


def _page_number(request: Request) -> int:
    return page_number(request)


async def _payload(request: Request, proctor: CurrentUser, period: Period) -> dict[str, Any]:
    snapshot = await monitor_of(request).snapshot(proctor, period)
    page = _select(snapshot, _chosen(request), _page_number(request))
    prefectures = await monitor_of(request).prefecture_names()
    by_prefecture = {
        prefectures.get(k, str(k)): v for k, v in sorted(snapshot.by("prefecture_id").items())
    }
    institutions = {r.institution_id: r.institution for r in snapshot.rows}
    by_institution = {institutions[k]: v for k, v in sorted(snapshot.by("institution_id").items())}
    return {
        "counts": snapshot.counts(),
        "by_prefecture": by_prefecture if proctor.role == Role.OFFICE else {},
        "by_institution": by_institution,
        "rows": [r.__dict__ for r in page.items],
        "page": page.number,
        "pages": page.pages,
        "total": page.total,
        "live": await request.app.state.hall.live.live_count(),
    }


@requires(*PROCTORS)
async def monitor_page(request: Request) -> Response:
    period = await Period.filter(is_current=True).first()
    context: dict[str, Any] = {"period": period, "categories": CATEGORIES}
    if period is not None:
        chosen = _chosen(request)
        context.update(
            chosen=chosen,
            query="&".join(f"{k}={quote(v)}" for k, v in chosen.items() if v),
            data=await _payload(request, user(request), period),
            stage_labels=STAGE_LABELS,
        )
    return render(request, "proctor/monitor.html", context)


async def monitor_stream(request: Request) -> Response:
    """Server-sent events: the monitor's figures and rows, at most once a second."""
    proctor = current_user(request)
    if proctor is None or proctor.role not in PROCTORS:
        return Response("未登录或无监考权限", status_code=401, media_type="text/plain")
    period = await current()

    async def events() -> AsyncIterator[str]:
        while not await request.is_disconnected():
            data = await _payload(request, proctor, period)
            yield f"data: {json.dumps(data, ensure_ascii=False)}\n\n"
            await asyncio.sleep(PUSH_SECONDS)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


routes: list[BaseRoute] = [
    Route("/proctor/", monitor_page),
    Route("/proctor/stream", monitor_stream),
]
