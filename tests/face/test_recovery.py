"""A worker killed mid-job loses nothing; a job that keeps failing is parked; a caller whose
job nobody answers gets "busy" instead of a hang. Real worker processes, a real Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from starlette.applications import Starlette

from core.settings import Settings
from face import samples
from face.client import FaceService
from face.jobs import DEAD_STREAM, GROUP, STREAM
from face.worker import start_workers
from models.enums import FaceReason, FaceStage, OrgKind
from models.physician import Physician
from tests import factories
from tests.face_helpers import wait_until

LEFT = ["turn_left"]


def live(n: int) -> list[bytes]:
    return samples.burst_for(LEFT, n) or []


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, face_claim_idle_ms=1000, face_timeout_seconds=60)


@pytest.fixture
def sync_redis(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(scope="module")
async def doctor(app: Starlette, settings: Settings, redis_url: str) -> Physician:
    helper = start_workers(settings, redis_url, 1)[0]  # only to encode the reference photo
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    await app.state.face.store_photo(doc, samples.registration_photo())
    helper.terminate()
    helper.join(timeout=10)
    return doc


def blocked_reading(client: redis.Redis, pid: int) -> bool:
    """The worker's connection is parked in XREADGROUP, waiting for a job."""
    return any(
        f":{pid}:" in c["name"] and c["cmd"] == "xreadgroup" and "b" in c["flags"]
        for c in client.client_list()
    )


def pending_for(client: redis.Redis, consumer_pid: int) -> bool:
    entries = client.xpending_range(STREAM, GROUP, "-", "+", 10)
    return any(f":{consumer_pid}:" in e["consumer"].decode() for e in entries)


async def test_a_worker_killed_mid_job_loses_nothing(
    app: Starlette, settings: Settings, redis_url: str, sync_redis: redis.Redis, doctor: Physician
) -> None:
    # This worker waits for a job with no time limit, so once it is frozen in XREADGROUP
    # the next job is certainly delivered to it.
    patient = dataclasses.replace(settings, face_block_ms=0)
    first: Any = start_workers(patient, redis_url, 1)[0]
    await asyncio.to_thread(wait_until, lambda: blocked_reading(sync_redis, first.pid))
    os.kill(first.pid, signal.SIGSTOP)  # it still holds a blocked XREADGROUP: the job goes to it
    face: FaceService = app.state.face
    job = asyncio.create_task(face.verify(doctor.id, live(0), FaceStage.START, LEFT))
    await asyncio.to_thread(wait_until, lambda: pending_for(sync_redis, first.pid))
    os.kill(first.pid, signal.SIGKILL)  # dies holding the job
    await asyncio.to_thread(first.join, 10)
    assert first.exitcode == -signal.SIGKILL
    assert not job.done()

    second: Any = start_workers(settings, redis_url, 1)[0]
    try:
        result = await asyncio.wait_for(job, timeout=60)
    finally:
        second.terminate()
        await asyncio.to_thread(second.join, 10)
    assert result.passed, result
    assert f":{second.pid}:" in result.worker
    assert await face.redis.xlen(STREAM) == 0


async def test_nobody_answering_means_busy_not_a_hang(
    app: Starlette, settings: Settings, doctor: Physician
) -> None:
    impatient = FaceService(
        dataclasses.replace(settings, face_timeout_seconds=1), app.state.face.redis
    )
    result = await impatient.verify(doctor.id, live(1), FaceStage.RANDOM, LEFT)
    await impatient.close()
    assert result.busy and "繁忙" in result.message
    await app.state.face.redis.delete(STREAM)  # the abandoned job (its deadline has passed)


async def test_a_job_that_keeps_failing_is_parked(
    app: Starlette, settings: Settings, redis_url: str, sync_redis: redis.Redis, doctor: Physician
) -> None:
    face: FaceService = app.state.face
    await face.ensure_group()
    job = asyncio.create_task(face.verify(doctor.id, live(2), FaceStage.SUBMIT, LEFT))
    await asyncio.to_thread(wait_until, lambda: sync_redis.xlen(STREAM) == 1)
    # A worker that crashes on this job every time: delivered, never acknowledged, again
    # and again, until the delivery count passes the limit.
    entry = sync_redis.xreadgroup(GROUP, "crashing-worker", {STREAM: ">"}, count=1)
    entry_id = entry[0][1][0][0]
    for _ in range(settings.face_max_deliveries - 1):
        sync_redis.xclaim(STREAM, GROUP, "crashing-worker", 0, [entry_id])
    worker: Any = start_workers(settings, redis_url, 1)[0]
    try:
        result = await asyncio.wait_for(job, timeout=60)
    finally:
        worker.terminate()
        await asyncio.to_thread(worker.join, 10)
    assert not result.passed and result.reason == FaceReason.UNREADABLE
    parked = sync_redis.xrange(DEAD_STREAM)
    assert len(parked) == 1 and parked[0][1][b"error"] == b"delivered too many times"
    assert b"pictures" not in parked[0][1] and b"reference" not in parked[0][1]
    assert (await face.stats()).parked == 1


async def test_a_job_that_cannot_be_answered_in_time_is_not_computed(
    app: Starlette, settings: Settings, redis_url: str, sync_redis: redis.Redis, doctor: Physician
) -> None:
    """A worker drops a job whose caller will have given up before the answer can come (under
    a backlog, computing such jobs is how a FIFO queue ends up answering nobody in time)."""
    worker: Any = start_workers(settings, redis_url, 1)[0]
    try:
        await asyncio.to_thread(wait_until, lambda: blocked_reading(sync_redis, worker.pid))
        hurried = FaceService(
            dataclasses.replace(settings, face_timeout_seconds=1.0), app.state.face.redis
        )
        result = await hurried.verify(doctor.id, live(0), FaceStage.START, LEFT)
        await hurried.close()
        # An idle worker computes a burst in well under a second: it was dropped instead.
        assert result.busy
        await asyncio.to_thread(wait_until, lambda: sync_redis.xlen(STREAM) == 0)
        patient = FaceService(settings, app.state.face.redis)
        assert (await patient.verify(doctor.id, live(1), FaceStage.START, LEFT)).passed
        await patient.close()
    finally:
        worker.terminate()
        await asyncio.to_thread(worker.join, 10)
