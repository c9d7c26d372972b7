"""Garbage collection for processes that hold thousands of live sittings.

CPython frees most objects by reference counting; its cyclic collector scans the objects
of a generation for reference cycles. A full pass scans every tracked object of the
process with the event loop stopped, and CPython starts one whenever the objects that have
survived into the oldest generation since the last pass reach a quarter of those it holds.
A web process holding 5,000 sittings holds a couple of million tracked objects, so a full
pass stops it for 0.6–0.8 s; and objects that live a few seconds (an answer waiting for its
group commit, a message being written, a Redis pipeline) survive the young collections, so
that quarter came every 10–17 s (measured 2026-11-30 with ``gc.callbacks`` in the load test's
server: README, 考场容量). Every answer arriving during a pass waited for it: that was the
answer-ack p99 of 0.7 s with 5,000 sessions, while the median was 1 ms.

``hold_full_collections``: what start-up made (modules, templates, the app) is frozen, never
scanned again; the young generations are collected as before (a few ms each); CPython never
starts a full pass by itself. ``full_collections`` runs one on a clock (``GC_FULL_SECONDS``,
ten minutes by default): one pause in ten minutes instead of one in ten seconds (0.5–0.8 s
with 5,000 sittings, measured with ``GC_FULL_SECONDS=60``). Cyclic garbage that reached the
oldest generation waits that long to be freed; the passes measured found 14–162 such objects
each. ``watch`` times every collection for ``/metrics``.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

NEVER = 1_000_000_000  # young collections before CPython considers a full pass itself


def hold_full_collections() -> tuple[int, int, int]:
    """Freeze what exists now and stop CPython's own full passes (see the module).
    Returns the thresholds before, for ``release``."""
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(before[0], before[1], NEVER)
    return before


def release(before: tuple[int, int, int]) -> None:
    """The policy before ``hold_full_collections`` again (a process that no longer holds
    sittings, the tests' apps)."""
    gc.set_threshold(*before)
    gc.unfreeze()


async def full_collections(every: float) -> None:
    """One full pass every ``every`` seconds, for as long as the task runs."""
    while True:
        await asyncio.sleep(every)
        gc.collect()


def watch(observe: Callable[[int, float], None]) -> Callable[[str, dict[str, Any]], None]:
    """Call ``observe(generation, seconds)`` after every collection; returns the callback
    (``gc.callbacks.remove`` it to stop)."""
    started = 0.0

    def callback(phase: str, info: dict[str, Any]) -> None:
        nonlocal started
        if phase == "start":
            started = time.perf_counter()
        else:
            observe(int(info["generation"]), time.perf_counter() - started)

    gc.callbacks.append(callback)
    return callback
