"""Where a connecting physician sits: the attempt of the current period, read as plain data.

A connection costs one query (``SEAT``, hand-written, no model objects): the physician, the
current test window, the enrollment and the attempt with its paper. The first entry draws a
missing paper and opens the attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.db import as_datetime, fetch
from examhall import protocol as p
from models.enums import AttemptStatus, EnrollmentStatus, Phase, Procedure, RegistrationStatus
from models.exam import Attempt, Paper
from models.period import Enrollment, Period
from models.physician import Physician
from rules import papers


class Refused(Exception):
    """The physician may not enter the hall now; ``code`` and ``message`` say why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Window:
    """The current period's test, as the hall needs it."""

    period_id: int
    starts_at: datetime
    ends_at: datetime
    waiting_room_minutes: int
    face_retries: int

    @property
    def opens(self) -> datetime:
        return self.starts_at - timedelta(minutes=self.waiting_room_minutes)


ATTEMPT_FIELDS = (
    "id",
    "status",
    "started_at",
    "deadline",
    "random_check_at",
    "submit_requested_at",
    "score",
    "passed",
    "flagged",
    "flag_reason",
    "ended_reason",
)


@dataclass(slots=True)
class AttemptFacts:
    """The attempt as the hall keeps it between statements (updated in place)."""

    id: int
    status: AttemptStatus
    started_at: datetime | None
    deadline: datetime | None
    random_check_at: datetime | None
    submit_requested_at: datetime | None
    score: int | None
    passed: bool | None
    flagged: bool
    flag_reason: str
    ended_reason: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> AttemptFacts:
        return cls(**{name: row[name] for name in ATTEMPT_FIELDS})

    async def refresh(self) -> None:
        row = await Attempt.filter(id=self.id).values(*ATTEMPT_FIELDS)
        fresh = AttemptFacts.of(row[0])
        for name in ATTEMPT_FIELDS:
            setattr(self, name, getattr(fresh, name))


@dataclass(slots=True)
class Seat:
    """Everything a sitting needs about its physician, paper and window: plain data."""

    physician_id: int
    name: str
    institution_id: int
    institution: str
    prefecture_id: int
    has_photo: bool
    window: Window
    paper_id: int
    duration_minutes: int  # the paper's own (drawn with the period's at the time)
    pass_mark: int
    attempt: AttemptFacts


# Everything a connection needs about the physician, the current test window, the
# enrollment and the attempt with its paper, in one query.
SEAT = """
SELECT ph.registration_status, ph.name, ph.institution_id, o.name AS institution,
       ph.prefecture_id, ph.face_encoding IS NOT NULL AS has_photo,
       pe.id AS period_id, w.starts_at, w.ends_at, pe.waiting_room_minutes, pe.face_retries,
       e.id AS enrollment_id, e.procedure, e.status AS enrollment_status,
       pa.id AS paper_id, pa.duration_minutes, pa.pass_mark,
       a.id, a.status, a.started_at, a.deadline, a.random_check_at, a.submit_requested_at,
       a.score, a.passed, a.flagged, a.flag_reason, a.ended_reason
FROM physician ph
JOIN period pe ON pe.is_current = ?
JOIN phase_window w ON w.period_id = pe.id AND w.phase = ?
LEFT JOIN organisation o ON o.id = ph.institution_id
LEFT JOIN enrollment e ON e.period_id = pe.id AND e.physician_id = ph.id AND e.is_active = ?
LEFT JOIN paper pa ON pa.period_id = pe.id AND pa.physician_id = ph.id
LEFT JOIN attempt a ON a.paper_id = pa.id
WHERE ph.id = ?
"""
WHEN = ("started_at", "deadline", "random_check_at", "submit_requested_at")


async def find_seat(physician_id: int, now: datetime) -> Seat:
    """The physician's attempt of the current period, opened (with the paper) on first entry."""
    rows = await fetch(SEAT, True, Phase.TEST.value, True, physician_id)
    if not rows:  # no such physician, or no current period with a test
        if await Physician.exists(id=physician_id):
            raise Refused(p.NOT_OPEN, "当前没有安排业务水平测评")
        raise Refused(p.NOT_ELIGIBLE, "注册审核通过后方可参加业务水平测评")
    row = rows[0]
    if row["registration_status"] != RegistrationStatus.APPROVED:
        raise Refused(p.NOT_ELIGIBLE, "注册审核通过后方可参加业务水平测评")
    window = Window(
        row["period_id"],
        as_datetime(row["starts_at"]),
        as_datetime(row["ends_at"]),
        row["waiting_room_minutes"],
        row["face_retries"],
    )
    if row["enrollment_id"] is None or row["procedure"] != Procedure.GENERAL:
        raise Refused(p.NOT_ELIGIBLE, "只有一般程序报名的医师参加业务水平测评")
    if row["enrollment_status"] != EnrollmentStatus.SUBMITTED:
        raise Refused(p.NOT_ELIGIBLE, "报名状态不符合参加测评的条件")
    started = as_datetime(row["started_at"]) if row["id"] is not None else None
    if started is None:
        if now < window.opens:
            raise Refused(p.NOT_OPEN, f"候考室将于开考前 {window.waiting_room_minutes} 分钟开放")
        if now >= window.ends_at:
            raise Refused(p.NOT_OPEN, "本次业务水平测评已结束")
    if row["id"] is None:
        row = {**row, **await _open(window, physician_id, row["enrollment_id"])}
    facts = {name: row[name] for name in ATTEMPT_FIELDS}
    for name in WHEN:
        facts[name] = as_datetime(facts[name])
    facts["status"] = AttemptStatus(facts["status"])
    facts["flagged"] = bool(facts["flagged"])
    facts["passed"] = None if facts["passed"] is None else bool(facts["passed"])
    return Seat(
        physician_id=physician_id,
        name=row["name"],
        institution_id=row["institution_id"] or 0,
        institution=row["institution"] or "",
        prefecture_id=row["prefecture_id"],
        has_photo=bool(row["has_photo"]),
        window=window,
        paper_id=row["paper_id"],
        duration_minutes=row["duration_minutes"],
        pass_mark=row["pass_mark"],
        attempt=AttemptFacts(**facts),
    )


async def _open(window: Window, physician_id: int, enrollment_id: int) -> dict[str, Any]:
    """First entry: the paper (drawn now if it was not drawn ahead) and the attempt."""
    period = await Period.get(id=window.period_id)
    paper = await Paper.get_or_none(period_id=window.period_id, physician_id=physician_id)
    if paper is None:
        paper = await papers.generate(period, await Enrollment.get(id=enrollment_id))
    await Attempt.get_or_create(paper_id=paper.id)
    row = await Attempt.filter(paper_id=paper.id).first().values(*ATTEMPT_FIELDS)
    assert row is not None
    return {
        **row,
        "paper_id": paper.id,
        "duration_minutes": paper.duration_minutes,
        "pass_mark": paper.pass_mark,
    }
