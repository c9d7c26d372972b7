"""The official clock: times are stored in UTC and read in Beijing time, as Xinjiang's
offices read them."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

LOCAL_ZONE = ZoneInfo("Asia/Shanghai")


def local_time(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) time as Xinjiang users read it: Beijing time, the official clock."""
    if moment is None:
        return ""
    return moment.astimezone(LOCAL_ZONE).strftime(fmt)


def minutes(seconds: int) -> int:
    """A wait in whole minutes, at least one, as the refusals say it."""
    return max(1, math.ceil(seconds / 60))
