"""core.gcpolicy: no full collection starts by itself while held, young ones still run, cyclic
garbage is freed by the clock's pass, and the web app holds and releases it."""

from __future__ import annotations

import asyncio
import gc
import weakref

from starlette.applications import Starlette

from core import gcpolicy, metrics


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> Node:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a


async def test_no_full_pass_while_held_and_the_clock_frees_old_cycles() -> None:
    passes: list[int] = []
    callback = gcpolicy.watch(lambda generation, seconds: passes.append(generation))
    before = gcpolicy.hold_full_collections()
    try:
        assert gc.get_threshold()[2] == gcpolicy.NEVER
        kept = cycle()
        old = weakref.ref(kept)
        gc.collect(1)  # it survives the young collections into the oldest generation,
        del kept  # then becomes garbage there
        passes.clear()
        grown = [Node() for _ in range(300_000)]  # no full pass starts however much grows
        assert 0 in passes and 1 in passes and 2 not in passes and old() is not None
        del grown
        clock = asyncio.create_task(gcpolicy.full_collections(0.01))
        await asyncio.sleep(0.1)
        clock.cancel()
        assert old() is None and 2 in passes
    finally:
        gcpolicy.release(before)
        gc.callbacks.remove(callback)
    assert gc.get_threshold() == before


async def test_the_web_process_holds_and_times_its_collections(app: Starlette) -> None:
    assert gc.get_threshold()[2] == gcpolicy.NEVER  # the app's lifespan holds them
    sample = ("xjdk_gc_pause_seconds_count", {"generation": "2"})
    before = metrics.WEB.get_sample_value(*sample) or 0
    gc.collect()
    assert metrics.WEB.get_sample_value(*sample) == before + 1
