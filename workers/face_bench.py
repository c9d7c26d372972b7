"""Benchmark: real frames through the whole face path against the raw library, same run.

    xjdk bench-face --frames 200 --processes 2

1. Light load: frames one at a time through Redis → worker → answer; the pipeline's own
   cost is the turnaround minus the worker's compute time.
2. Spike: all frames queued at once; frames/s and turnaround percentiles.
3. Raw: the same frames through the same analysis (decode, downscale, HOG detection,
   face_encodings, distance) in a pool of as many processes, with no Redis in between.
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
from core.settings import ROOT, Settings
from face.client import FaceService

FACES = ROOT.parent / "shared" / "faces"
FRAME_NAMES = ("obama2.jpg", "obama-480p.jpg", "obama.jpg")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _raw_init() -> None:
    import face_recognition  # noqa: F401


def _raw_job(args: tuple[bytes, bytes, float, int, int]) -> float:
    from face.worker import analyse

    return analyse(*args).compute_ms


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
    settings: Settings, url: str, frames: list[bytes], reference: bytes
) -> dict[str, float]:
    client = redis_client(url, decode=False, socket_timeout=None)
    service = FaceService(settings, client)
    # Light load: one frame at a time.
    overheads, light = [], []
    for frame in frames[:20]:
        started = time.perf_counter()
        outcome = await service.analyse(frame, reference)
        turnaround = (time.perf_counter() - started) * 1000
        assert outcome is not None and outcome.passed
        light.append(turnaround)
        overheads.append(turnaround - outcome.compute_ms)
    # Spike: everything at once.
    turnarounds: list[float] = []

    async def one(frame: bytes) -> None:
        started = time.perf_counter()
        outcome = await service.analyse(frame, reference)
        assert outcome is not None, "busy: raise FACE_TIMEOUT_SECONDS for the benchmark"
        turnarounds.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(one(f) for f in frames))
    elapsed = time.perf_counter() - started
    await service.close()
    await client.aclose()
    return {
        "light_p50_ms": statistics.median(light),
        "overhead_p50_ms": statistics.median(overheads),
        "overhead_p95_ms": percentile(overheads, 0.95),
        "frames_per_s": len(frames) / elapsed,
        "p50_ms": percentile(turnarounds, 0.5),
        "p95_ms": percentile(turnarounds, 0.95),
        "p99_ms": percentile(turnarounds, 0.99),
    }


def raw_figures(
    frames: list[bytes], reference: bytes, settings: Settings, processes: int
) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    jobs = [
        (f, reference, settings.face_tolerance, settings.face_max_side, settings.face_upsample)
        for f in frames
    ]
    with ctx.Pool(processes, initializer=_raw_init) as pool:
        pool.map(_raw_job, jobs[:processes])  # warm up each process
        started = time.perf_counter()
        computes = pool.map(_raw_job, jobs, chunksize=1)
        elapsed = time.perf_counter() - started
    return {"frames_per_s": len(frames) / elapsed, "compute_p50_ms": statistics.median(computes)}


def run(frames: int, processes: int, settings: Settings | None = None) -> dict[str, Any]:
    from face.worker import analyse, start_workers

    base = settings or Settings(secret_key="bench")
    data = [(FACES / FRAME_NAMES[i % len(FRAME_NAMES)]).read_bytes() for i in range(frames)]
    reference_outcome = analyse(
        (FACES / "obama.jpg").read_bytes(), None, 0.6, base.face_max_side, base.face_upsample
    )
    assert reference_outcome.encoding is not None
    reference = reference_outcome.encoding

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
            pipe = asyncio.run(pipeline_figures(settings, url, data, reference))
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                w.join(timeout=10)
            if embedded:
                embedded.stop()
    raw = raw_figures(data, reference, settings, processes)
    return {
        "frames": frames,
        "processes": processes,
        "pipeline": pipe,
        "raw": raw,
        "ratio": pipe["frames_per_s"] / raw["frames_per_s"],
    }


def report(figures: dict[str, Any]) -> str:
    p, r = figures["pipeline"], figures["raw"]
    return "\n".join(
        [
            f"人脸识别基准：{figures['frames']} 帧，{figures['processes']} 个工作进程",
            f"  轻载单帧往返 p50 {p['light_p50_ms']:.1f} ms；"
            f"管道额外开销 p50 {p['overhead_p50_ms']:.1f} ms，p95 {p['overhead_p95_ms']:.1f} ms",
            f"  峰值吞吐（Redis 流 → 工作进程 → 应答）：{p['frames_per_s']:.2f} 帧/秒；"
            f"往返 p50 {p['p50_ms']:.0f} ms，p95 {p['p95_ms']:.0f} ms，p99 {p['p99_ms']:.0f} ms",
            f"  同一批帧直接调用 face_recognition（{figures['processes']} 进程）："
            f"{r['frames_per_s']:.2f} 帧/秒（单帧计算 p50 {r['compute_p50_ms']:.0f} ms）",
            f"  管道吞吐 / 原始吞吐 = {figures['ratio']:.1%}",
        ]
    )
