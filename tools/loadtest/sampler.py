"""The server side of a load-test run: the processes that serve it (found from their
listening ports and /proc), and ``Sampler``, which reads once a second the sessions the hall
counts in Redis, the face queue, and the CPU and memory of each server process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found += [int(c) for c in text]
    return found


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(cols[9])
    return inodes


def pids_listening(port: int) -> list[int]:
    """The processes holding the listening socket of ``port`` (a web node)."""
    inodes = _listening_inodes(port)
    if not inodes:
        return []
    owners = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        if any(link[8:-1] in inodes for link in _socket_links(entry)):
            owners.append(int(entry.name))
    return sorted(owners)


def _socket_links(process: Path) -> list[str]:
    """The socket fds of a process; one closed while read (a busy server's sockets come and
    go) is skipped, not the whole process."""
    links = []
    with contextlib.suppress(OSError):
        for fd in (process / "fd").iterdir():
            with contextlib.suppress(OSError):
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    links.append(link)
    return links


def face_worker_pids(near: int | None = None) -> list[int]:
    """Face worker processes: children of ``xjdk worker face`` processes that share the
    database and Redis settings of ``near`` (the web node), so that other face workers on
    the same machine (another checkout, a test run) are not counted."""
    wanted = _settings_env(near) if near else None
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if "worker face" not in _cmdline(pid):
            continue
        if wanted is not None and _settings_env(pid) != wanted:
            continue
        found += [c for c in children(pid) if "resource_tracker" not in _cmdline(c)]
    return sorted(found)


def _settings_env(pid: int) -> tuple[str, ...]:
    """What decides which database and Redis a process uses: its directory and settings."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ()
    env = dict(item.decode(errors="replace").partition("=")[::2] for item in raw if item)
    return (cwd, *(env.get(k, "") for k in ("DATA_DIR", "DATABASE_URL", "REDIS_URL")))


def cpu_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    cols = [int(c) for c in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = cols[3] + (cols[4] if len(cols) > 4 else 0)
    return sum(cols) - idle, sum(cols)


class Sampler:
    """Once a second: the hall's live count, the face queue, CPU % and RSS of each process."""

    def __init__(self, t0: float, processes: dict[str, int], redis: Any, face: Any) -> None:
        self.t0 = t0
        self.processes = processes  # label → pid
        self.redis = redis  # text client, or None
        self.face = face  # FaceService, or None
        self.samples: list[dict[str, Any]] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        last = {label: cpu_ticks(pid) for label, pid in self.processes.items()}
        last_machine = machine_ticks()
        last_at = time.monotonic()
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            span = max(now - last_at, 1e-3)
            sample: dict[str, Any] = {"t": round(time.time() - self.t0, 2), "cpu": {}, "rss": {}}
            for label, pid in self.processes.items():
                ticks = cpu_ticks(pid)
                before = last.get(label)
                if ticks is not None and before is not None:
                    sample["cpu"][label] = round(100 * (ticks - before) / CLK_TCK / span, 1)
                last[label] = ticks
                rss = rss_kib(pid)
                if rss is not None:
                    sample["rss"][label] = round(rss / 1024, 1)
            busy, total = machine_ticks()
            if total > last_machine[1]:
                sample["machine_cpu"] = round(
                    100 * (busy - last_machine[0]) / (total - last_machine[1]), 1
                )
            last_machine, last_at = (busy, total), now
            await self._server_side(sample)
            self.samples.append(sample)

    async def _server_side(self, sample: dict[str, Any]) -> None:
        try:
            if self.redis is not None:
                sample["live"] = int(await self.redis.zcount("hall:live", time.time() - 60, "+inf"))
            if self.face is not None:
                stats = await self.face.stats()
                sample["face_waiting"] = stats.waiting
                sample["face_in_progress"] = stats.in_progress
        except Exception as exc:  # Redis restarting (a drill): the gap shows in the chart
            sample["redis_error"] = type(exc).__name__
