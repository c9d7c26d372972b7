"""The official clock: times are stored in UTC and read in Beijing time, as Xinjiang's
offices read them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

LOCAL_ZONE = ZoneInfo("Asia/Shanghai")


def local_time(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) time as Xinjiang users read it: Beijing time, the official clock."""
    if moment is None:
        return ""
    return moment.astimezone(LOCAL_ZONE).strftime(fmt)
