"""Where a connecting physician sits: the attempt of the current period, read as plain data.

A connection costs a few light queries (``values()``, no model objects): the current test
window, the physician, the enrollment, the attempt with its paper. The first entry draws a
missing paper and opens the attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from examhall import papers
from examhall import protocol as p
from models.enums import AttemptStatus, EnrollmentStatus, Phase, Procedure, RegistrationStatus
from models.exam import Attempt, Paper
from models.period import Enrollment, Period, PhaseWindow
from models.physician import Physician


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


async def current_window() -> Window | None:
    """The current period's test window: one light query (no model objects)."""
    row = (
        await PhaseWindow.filter(period__is_current=True, phase=Phase.TEST)
        .first()
        .values(
            "period_id",
            "starts_at",
            "ends_at",
            "period__waiting_room_minutes",
            "period__face_retries",
        )
    )
    if row is None:
        return None
    return Window(
        row["period_id"],
        row["starts_at"],
        row["ends_at"],
        row["period__waiting_room_minutes"],
        row["period__face_retries"],
    )


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


async def find_seat(physician_id: int, now: datetime) -> Seat:
    """The physician's attempt of the current period, opened (with the paper) on first entry."""
    rows = await Physician.filter(id=physician_id).values(
        "registration_status",
        "name",
        "institution_id",
        "institution__name",
        "prefecture_id",
        "face_encoding",
    )
    if not rows or rows[0]["registration_status"] != RegistrationStatus.APPROVED:
        raise Refused(p.NOT_ELIGIBLE, "注册审核通过后方可参加业务水平测评")
    physician = rows[0]
    window = await current_window()
    if window is None:
        raise Refused(p.NOT_OPEN, "当前没有安排业务水平测评")
    enrollment = (
        await Enrollment.filter(
            period_id=window.period_id, physician_id=physician_id, is_active=True
        )
        .first()
        .values("id", "procedure", "status")
    )
    if enrollment is None or enrollment["procedure"] != Procedure.GENERAL:
        raise Refused(p.NOT_ELIGIBLE, "只有一般程序报名的医师参加业务水平测评")
    if enrollment["status"] != EnrollmentStatus.SUBMITTED:
        raise Refused(p.NOT_ELIGIBLE, "报名状态不符合参加测评的条件")
    found = (
        await Attempt.filter(paper__period_id=window.period_id, paper__physician_id=physician_id)
        .first()
        .values(*ATTEMPT_FIELDS, "paper_id", "paper__duration_minutes", "paper__pass_mark")
    )
    if found is None or found["started_at"] is None:
        if now < window.opens:
            raise Refused(p.NOT_OPEN, f"候考室将于开考前 {window.waiting_room_minutes} 分钟开放")
        if now >= window.ends_at:
            raise Refused(p.NOT_OPEN, "本次业务水平测评已结束")
    if found is None:
        found = await _open(window, physician_id, enrollment["id"])
    return Seat(
        physician_id=physician_id,
        name=physician["name"],
        institution_id=physician["institution_id"] or 0,
        institution=physician["institution__name"] or "",
        prefecture_id=physician["prefecture_id"],
        has_photo=bool(physician["face_encoding"]),
        window=window,
        paper_id=found["paper_id"],
        duration_minutes=found["paper__duration_minutes"],
        pass_mark=found["paper__pass_mark"],
        attempt=AttemptFacts.of(found),
    )


async def _open(window: Window, physician_id: int, enrollment_id: int) -> dict[str, Any]:
    """First entry: the paper (drawn now if it was not drawn ahead) and the attempt."""
    period = await Period.get(id=window.period_id)
    paper = await Paper.get_or_none(period_id=window.period_id, physician_id=physician_id)
    if paper is None:
        paper = await papers.generate(period, await Enrollment.get(id=enrollment_id))
    await Attempt.get_or_create(paper_id=paper.id)
    row = (
        await Attempt.filter(paper_id=paper.id)
        .first()
        .values(*ATTEMPT_FIELDS, "paper_id", "paper__duration_minutes", "paper__pass_mark")
    )
    assert row is not None
    return row
