"""The current period and its phase windows, as every role's pages and rules read them.

Exactly one period is current (``is_current``); its six windows (registration, simplified
review, training, test, evaluation, results) are stored in UTC and shown in Beijing time.
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.clock import local_time
from models.enums import Phase
from models.period import Period, PhaseWindow

WINDOW_FORMAT = "%Y年%m月%d日 %H:%M"


async def current_period() -> Period | None:
    """The current period with its windows fetched, or None before the office has set one."""
    return await Period.filter(is_current=True).prefetch_related("windows").first()


def window(period: Period, phase: Phase) -> PhaseWindow | None:
    """``phase``'s window of ``period`` (its windows fetched), if set."""
    return next((w for w in period.windows if w.phase == phase), None)


def is_open(period: Period, phase: Phase, now: datetime | None = None) -> bool:
    found = window(period, phase)
    return bool(found and found.is_open(now or datetime.now(UTC)))


def window_text(w: PhaseWindow) -> str:
    """The window in words, as the pages and the refusals say it."""
    return f"{local_time(w.starts_at, WINDOW_FORMAT)} 至 {local_time(w.ends_at, WINDOW_FORMAT)}"
