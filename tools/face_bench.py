"""Benchmark: live face checks through the whole path against the raw analysis, same run.

    xjdk bench-face --checks 60 --processes 2

The checks are real bursts of ``../shared/faces/clip`` (face/samples.py: 10 frames of a
turning head, judged against the registered frontal frame).
1. Cost: worker CPU of one liveness check (a burst: every frame decoded, searched and
   measured, the deciding frames encoded) against one single-frame verification (decode,
   HOG, encoding), in one process, no Redis: the ratio the README states.
2. Light load: bursts one at a time through Redis → worker → answer; the pipeline's own cost
   is the turnaround minus the worker's compute time.
3. Spike: all bursts queued at once; checks/s and turnaround percentiles.
4. Raw: the same bursts through the same analysis in a pool of as many processes, no Redis.
It prints figures; it asserts nothing.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis

from core.redis import EmbeddedRedis
from core.redis import client as redis_client
from core.settings import Settings
from face import samples
from face.client import FaceService
from face.jobs import Kind, Thresholds

SINGLE_FRAMES = (39, 56, 57, 58, 69)  # frontal frames of the clip (not the registered one)

Check = tuple[list[bytes], list[str]]  # frames, actions


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def checks(count: int) -> list[Check]:
    """``count`` live checks, turning left and right in turn (the clip's six bursts)."""
    every = [
        (list(frames), [action.value])
        for action, bursts in samples.turns().items()
        for frames in bursts
    ]
    return [every[i % len(every)] for i in range(count)]


def reference(th: Thresholds) -> tuple[bytes, str]:
    from face.analysis import analyse_photo

    outcome = analyse_photo(samples.registration_photo(), th)
    assert outcome.passed, outcome
    return outcome.encoding, outcome.photo_hash


def _raw_init() -> None:
    import face_recognition  # noqa: F401


def _raw_job(args: tuple[list[bytes], list[str], bytes, str, Thresholds]) -> float:
    from face.analysis import analyse_burst

    frames, actions, encoding, photo_hash, th = args
    outcome = analyse_burst(frames, encoding, th, actions, photo_hash)
    assert outcome.passed or not th.liveness, outcome
    return outcome.compute_ms


def cost_figures(th: Thresholds, rounds: int = 3) -> dict[str, float]:
    """Worker CPU of a liveness check against a single-frame verification (one process)."""
    ctx = multiprocessing.get_context("spawn")
    encoding, photo_hash = reference(th)
    single = replace(th, liveness=False)
    Job = tuple[list[bytes], list[str], bytes, str, Thresholds]
    singles: list[Job] = [
        ([samples.frame(n)], [], encoding, photo_hash, single) for n in SINGLE_FRAMES
    ]
    bursts: list[Job] = [(f, a, encoding, photo_hash, th) for f, a in checks(6)]
    # Interleaved, so that whatever else the machine does weighs on both alike.
    mixed = [job for pair in zip(singles * 6, bursts * 5, strict=False) for job in pair]
    with ctx.Pool(1, initializer=_raw_init) as pool:
        pool.map(_raw_job, singles[:1] + bursts[:1])  # warm up (models loaded)
        timed = pool.map(_raw_job, mixed * rounds, chunksize=1)
    single_ms, burst_ms = timed[0::2], timed[1::2]
    return {
        "single_p50_ms": statistics.median(single_ms),
        "liveness_p50_ms": statistics.median(burst_ms),
        "liveness_p95_ms": percentile(burst_ms, 0.95),
        "frames_per_burst": statistics.mean(len(f) for f, _ in checks(6)),
        "ratio": statistics.median(burst_ms) / statistics.median(single_ms),
    }


def wait_for_workers(url: str, processes: list[Any], timeout: float = 60) -> None:
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout
    pids = {f":{p.pid}:" for p in processes}
    while time.monotonic() < deadline:
        ready = {
            pid
            for pid in pids
            for c in client.client_list()
            if pid in c["name"] and c["cmd"] == "xreadgroup"
        }
        if ready == pids:
            client.close()
            return
        time.sleep(0.05)
    raise RuntimeError("face workers did not start")


async def pipeline_figures(
    settings: Settings, url: str, work: list[Check], encoding: bytes, photo_hash: str
) -> dict[str, float]:
    client = redis_client(url, decode=False, socket_timeout=None)
    service = FaceService(settings, client)

    async def one(frames: list[bytes], actions: list[str]) -> tuple[float, float]:
        started = time.perf_counter()
        outcome = await service.run(
            Kind.BURST,
            frames,
            reference=encoding,
            reference_hash=photo_hash,
            actions=actions,
        )
        assert outcome is not None, "busy: raise FACE_TIMEOUT_SECONDS for the benchmark"
        assert outcome.passed, outcome
        return (time.perf_counter() - started) * 1000, outcome.compute_ms

    # Light load: one check at a time.
    light = [await one(*check) for check in work[:12]]
    # Spike: everything at once.
    started = time.perf_counter()
    spike = await asyncio.gather(*(one(*check) for check in work))
    elapsed = time.perf_counter() - started
    await service.close()
    await client.aclose()
    turnarounds = [t for t, _ in spike]
    overheads = [t - c for t, c in light]
    return {
        "light_p50_ms": statistics.median(t for t, _ in light),
        "overhead_p50_ms": statistics.median(overheads),
        "overhead_p95_ms": percentile(overheads, 0.95),
        "checks_per_s": len(work) / elapsed,
        "p50_ms": percentile(turnarounds, 0.5),
        "p95_ms": percentile(turnarounds, 0.95),
        "p99_ms": percentile(turnarounds, 0.99),
    }


def raw_figures(work: list[Check], settings: Settings, processes: int) -> dict[str, float]:
    """The same checks through the same analysis in a pool of processes, no Redis."""
    ctx = multiprocessing.get_context("spawn")
    th = Thresholds.from_settings(settings)
    encoding, photo_hash = reference(th)
    jobs = [(frames, actions, encoding, photo_hash, th) for frames, actions in work]
    with ctx.Pool(processes, initializer=_raw_init) as pool:
        pool.map(_raw_job, jobs[:processes])  # warm up each process
        started = time.perf_counter()
        computes = pool.map(_raw_job, jobs, chunksize=1)
        elapsed = time.perf_counter() - started
    return {"checks_per_s": len(jobs) / elapsed, "compute_p50_ms": statistics.median(computes)}


def run(count: int, processes: int, settings: Settings | None = None) -> dict[str, Any]:
    from face.worker import start_workers

    base = settings or Settings(secret_key="bench")
    # The bench's bursts are turns (the clip shows no open mouth), each judged on its own.
    base = replace(base, face_actions="turn_left,turn_right", face_liveness=True)
    th = Thresholds.from_settings(base)
    cost = cost_figures(th)
    encoding, photo_hash = reference(th)
    work = checks(count)

    embedded = None
    with tempfile.TemporaryDirectory() as tmp:
        url = base.redis_url
        if not url:
            embedded = EmbeddedRedis(Path(tmp))
            url = embedded.start()
        settings = replace(base, redis_url=url, face_timeout_seconds=600, face_queue_limit=10**6)
        redis.Redis.from_url(url).delete("face:jobs")
        workers = start_workers(settings, url, processes)
        try:
            wait_for_workers(url, workers)
            pipe = asyncio.run(pipeline_figures(settings, url, work, encoding, photo_hash))
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.join(timeout=10)
            if embedded:
                embedded.stop()
    raw = raw_figures(work, settings, processes)
    return {
        "checks": count,
        "processes": processes,
        "cost": cost,
        "pipeline": pipe,
        "raw": raw,
        "ratio": pipe["checks_per_s"] / raw["checks_per_s"],
    }


def report(figures: dict[str, Any]) -> str:
    c, p, r = figures["cost"], figures["pipeline"], figures["raw"]
    return "\n".join(
        [
            f"人脸识别基准：{figures['checks']} 次活体验证"
            f"（每次约 {c['frames_per_burst']:.0f} 帧），{figures['processes']} 个工作进程",
            f"  单帧比对（解码、检测、编码）计算 p50 {c['single_p50_ms']:.0f} ms；"
            f"活体验证 p50 {c['liveness_p50_ms']:.0f} ms，p95 {c['liveness_p95_ms']:.0f} ms；"
            f"活体 / 单帧 = {c['ratio']:.2f} 倍",
            f"  轻载单次往返 p50 {p['light_p50_ms']:.0f} ms；"
            f"管道额外开销 p50 {p['overhead_p50_ms']:.1f} ms，p95 {p['overhead_p95_ms']:.1f} ms",
            f"  峰值吞吐（Redis 流 → 工作进程 → 应答）：{p['checks_per_s']:.2f} 次/秒；"
            f"往返 p50 {p['p50_ms']:.0f} ms，p95 {p['p95_ms']:.0f} ms，p99 {p['p99_ms']:.0f} ms",
            f"  同一批验证直接调用分析函数（{figures['processes']} 进程）："
            f"{r['checks_per_s']:.2f} 次/秒（每次计算 p50 {r['compute_p50_ms']:.0f} ms）",
            f"  管道吞吐 / 原始吞吐 = {figures['ratio']:.1%}",
        ]
    )
