"""The state of an attempt as the page sees it, from facts alone (no I/O): the one rule a
sitting applies when it connects, after a proctor's action, and when its timer fires.

Rules (DESIGN.md §5): the start check passes before the first question is shown; the random
check comes at a moment the server chose and pauses answering until it passes; answering ends
at the deadline or when 交卷 was asked for, and the submit check decides the hand-in.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from examhall import protocol as p
from examhall.seat import AttemptFacts
from models.enums import AttemptStatus


@dataclass(slots=True)
class Checks:
    """The attempt's face checks: the stages passed (or approved by a proctor), and the
    failed tries per stage that no proctor approved."""

    passed: set[str] = field(default_factory=set)
    failed: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Iterable[tuple[str, bool, int | None]]) -> Checks:
        """From (stage, passed, approved by) of every FaceCheck of the attempt."""
        checks = cls()
        for stage, passed, approved_by in rows:
            name = str(getattr(stage, "value", stage))
            if passed or approved_by is not None:
                checks.passed.add(name)
            else:
                checks.failed[name] = checks.failed.get(name, 0) + 1
        return checks

    def tries_left(self, stage: str | None, allowed: int) -> int:
        return allowed if stage is None else max(0, allowed - self.failed.get(stage, 0))


def derive(attempt: AttemptFacts, passed: Collection[str], now: datetime) -> tuple[str, str | None]:
    """(state, the check pending or None)."""
    if attempt.status == AttemptStatus.SUBMITTED:
        return p.SUBMITTED, None
    if attempt.status in (AttemptStatus.ENDED, AttemptStatus.VOIDED):
        return p.ENDED, None
    if attempt.started_at is None:
        return p.WAITING, None if p.START in passed else p.START
    if (attempt.deadline is not None and now >= attempt.deadline) or (
        attempt.submit_requested_at is not None  # 交卷 asked for, on any page
    ):
        return p.FINISHING, p.FINAL
    due = attempt.random_check_at is not None and now >= attempt.random_check_at
    if due and p.RANDOM not in passed:
        return p.CHECKING, p.RANDOM
    return p.TESTING, None
