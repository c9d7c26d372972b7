"""The whole run (prepare, play the window with its faults, measure, reconcile, build the
report), saving the report as JSON and HTML, and ``main``: what ``xjdk loadtest`` runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.settings import Settings
from tools.loadtest import report as report_
from tools.loadtest.measure import (
    echo_baseline,
    face_baseline,
    hall_baseline,
    logins,
    reconcile,
    server_processes,
)
from tools.loadtest.prepare import (
    Options,
    Plan,
    Prepared,
    cleanup,
    open_window,
    prepare,
    restore_current,
)
from tools.loadtest.report import Recorder
from tools.loadtest.sampler import Sampler
from tools.loadtest.sim import _raise_file_limit, play

Fault = tuple[float, Callable[[], Awaitable[None]]]  # (seconds after the ramp begins, action)


async def run(
    settings: Settings, redis: Any, face: Any, options: Options, faults: list[Fault] | None = None
) -> dict[str, Any]:
    """Prepare, play, measure, reconcile; returns the report (the database must be open)."""
    from web.endpoint import LOCAL_ZONE

    started_at = datetime.now(LOCAL_ZONE).isoformat(timespec="seconds")  # Beijing time
    print(f"准备 {options.physicians} 名压测医师…", flush=True)
    prepared = await prepare(settings, redis, options)
    processes = server_processes(options)  # after preparing: a node just started is up by now
    print(f"准备完成（{prepared.timings['prepare_s']:.1f} 秒），开始模拟考试窗口。", flush=True)
    plan = Plan(
        urls=options.urls,
        t0=time.time() + 1.0,
        ramp=options.ramp,
        duration=options.duration,
        pace=options.pace,
        face=not options.no_face,
        reconnect_share=options.reconnect_share,
        hidden_share=options.hidden_share,
        revise_share=options.revise_share,
        seed=options.seed or secrets.randbits(32),
        login_storm=options.login_storm,
    )
    extra: dict[str, Any] = {}
    try:
        window_ends = await open_window(prepared.period_id, plan)
        sampler = Sampler(plan.t0, processes, redis, face)
        sampler.start()
        fault_tasks = [
            asyncio.create_task(_fault_at(plan.t0 + at, act)) for at, act in faults or []
        ]
        try:
            rec = await play(prepared.seats, plan, options.processes)
            for task in fault_tasks:
                await task
        finally:
            await sampler.stop()
        if options.logins:
            names = [s.username for s in prepared.seats[: options.logins]]
            extra["logins"] = await logins(options.urls[0], names, options.login_concurrency)
        if options.baselines:
            extra["baselines"] = await _baselines(settings, options, prepared, rec, processes)
    finally:
        await restore_current(prepared.previous_current)
    reconciliation = await reconcile(rec)
    meta = {
        "started": started_at,
        "command": " ".join(["xjdk", *sys.argv[1:]]) if sys.argv[1:2] == ["loadtest"] else "",
        "options": {**asdict(options), "processes": options.processes},
        "period_id": prepared.period_id,
        "window_ends": window_ends.isoformat(),
        "prepare": {k: round(v, 1) for k, v in prepared.timings.items()},
        "created": prepared.created,
        "server_processes": processes,
        "machine": {"cpus": os.cpu_count()},
    }
    return report_.build(rec, sampler.samples, meta, reconciliation, extra)


async def _fault_at(at: float, act: Callable[[], Awaitable[None]]) -> None:
    await asyncio.sleep(max(0.0, at - time.time()))
    await act()


async def _baselines(
    settings: Settings,
    options: Options,
    prepared: Prepared,
    rec: Recorder,
    processes: dict[str, int],
) -> dict[str, Any]:
    from models.enums import Phase
    from models.period import PhaseWindow

    clients = len(prepared.spare)
    reopen = datetime.now(UTC) + timedelta(seconds=2 * options.baseline_seconds + 120)
    await PhaseWindow.filter(period_id=prepared.period_id, phase=Phase.TEST).update(
        ends_at=reopen
    )  # the spare physicians start after the played window closed
    print(f"基准：{clients} 个客户端，各 {options.baseline_seconds:.0f} 秒…", flush=True)
    echo = await echo_baseline(clients, options.baseline_seconds)
    hall, hall_rec = await hall_baseline(prepared.spare, options.urls[0], options.baseline_seconds)
    rec.acked.update(hall_rec.acked)
    rec.sent.update(hall_rec.sent)
    ratio = hall["messages_per_s"] / echo["messages_per_s"] if echo["messages_per_s"] else None
    out: dict[str, Any] = {
        "echo": echo,
        "hall": hall,
        "hall_vs_echo": {"ratio": round(ratio, 3) if ratio else None},
    }
    if not options.no_face:
        workers = sum(1 for k in processes if k.startswith("face:")) or 1
        raw = await asyncio.to_thread(face_baseline, settings, workers)
        out["face_raw"] = {"processes": workers, **{k: round(v, 2) for k, v in raw.items()}}
    return out


def save(report: dict[str, Any], path: str) -> list[str]:
    """``path`` without suffix (or ending .json/.html): writes both files."""
    base = Path(path)
    if base.suffix in (".json", ".html"):
        base = base.with_suffix("")
    base.parent.mkdir(parents=True, exist_ok=True)
    json_path, html_path = base.with_suffix(".json"), base.with_suffix(".html")
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str))
    html_path.write_text(report_.html(report))
    return [str(json_path), str(html_path)]


def main(settings: Settings, options: Options, clean: bool) -> int:
    """What ``xjdk loadtest`` runs."""
    import uvloop

    from core.db import database
    from core.redis import open_redis
    from face.client import FaceService

    _raise_file_limit()

    async def go() -> int:
        handles = await open_redis(settings)
        try:
            async with database(settings.db_url):
                if clean:
                    removed = await cleanup(handles.text)
                    print(
                        f"已删除压测数据：{removed['periods']} 个周期，"
                        f"{removed['physicians']} 名医师，{removed['attempts']} 场测评。"
                    )
                    return 0
                face = FaceService(settings, handles.binary)
                report = await run(settings, handles.text, face, options)
                await face.close()
        finally:
            await handles.close()
        print(report_.summary(report))
        if options.report:
            print("报告：" + "，".join(save(report, options.report)))
        return 0 if report["reconciliation"]["ok"] else 1

    return uvloop.run(go())
