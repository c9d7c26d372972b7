"""Face workers: processes that take jobs from the Redis stream and answer through Redis.

The dlib models are loaded inside each worker process after it starts (processes are
spawned, never forked after loading, and a process runs one job at a time: dlib must not be
shared across threads). A job is acknowledged only once its answer is pushed, so a worker
that dies mid-job leaves it pending, and another worker claims it after
``face_claim_idle_ms`` (XAUTOCLAIM). A job that keeps failing is parked on the dead stream.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import redis

from core import logs, metrics
from core.settings import Settings
from core.signals import StopFlag
from face import analysis
from face.jobs import (
    DEAD_STREAM,
    GROUP,
    PICTURE_FIELDS,
    STREAM,
    Envelope,
    Job,
    Kind,
    Outcome,
    encode_reply,
)
from models.enums import FaceReason

log = logging.getLogger(__name__)

ANSWER_MARGIN = 1.5  # seconds a job needs before its deadline to be worth computing


def run_job(job: Job) -> Outcome:
    """What one job asks: a registration photo checked, or a burst judged."""
    th = job.thresholds
    if job.kind == Kind.PHOTO:
        return analysis.analyse_photo(job.pictures[0], th)
    computed = ""  # a photo stored before photos had a hash: hashed now, once
    if not job.reference_hash and job.reference_photo:
        computed = analysis.photo_hash(job.reference_photo, th)
    outcome = analysis.analyse_burst(
        job.pictures,
        job.reference,
        th,
        actions=job.actions,
        reference_hash=job.reference_hash or computed,
        seen=job.seen,
    )
    outcome.reference_hash = computed
    return outcome


# --- the worker loop --------------------------------------------------------------------


@dataclass
class Worker:
    settings: Settings
    name: str
    client: redis.Redis

    def ensure_group(self) -> None:
        try:
            self.client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def claim_stale(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Jobs a dead (or stuck) worker held longer than the claim timeout."""
        reply: Any = self.client.xautoclaim(
            STREAM, GROUP, self.name, self.settings.face_claim_idle_ms, "0-0", count=1
        )
        # Redis 6.2 answers [cursor, entries], Redis 7 adds the ids of deleted entries.
        return [(entry_id, fields) for entry_id, fields in reply[1] if fields]

    def next_jobs(self, block_ms: int) -> list[tuple[bytes, dict[bytes, bytes]]]:
        stale = self.claim_stale()
        if stale:
            return stale
        found: Any = self.client.xreadgroup(
            GROUP, self.name, {STREAM: ">"}, count=1, block=block_ms
        )
        return [entry for _, entries in found or [] for entry in entries]

    def deliveries(self, entry_id: bytes) -> int:
        info = self.client.xpending_range(STREAM, GROUP, entry_id, entry_id, 1)
        return int(info[0]["times_delivered"]) if info else 1

    def handle(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        if self.deliveries(entry_id) > self.settings.face_max_deliveries:
            self.park(entry_id, fields, "delivered too many times")
            return
        envelope = Envelope.of(fields)
        if time.time() > envelope.deadline - ANSWER_MARGIN:
            # Its caller has given up, or will have before the answer can come: computing it
            # would waste a core and make the jobs behind it late too (under a backlog, a
            # queue that serves jobs at their deadline answers nobody in time).
            self.finish(entry_id)
            metrics.face_job_dropped()
            return
        job = Job.from_fields(fields)
        outcome = run_job(job)
        metrics.face_job_done(job.kind, outcome)
        outcome.queued_ms = round((time.time() - job.queued_at) * 1000, 2)
        outcome.worker = self.name
        self.answer(envelope, outcome)
        self.finish(entry_id)

    def answer(self, envelope: Envelope, outcome: Outcome) -> None:
        """Push onto the asking process's reply list (gone after 2 minutes if it died)."""
        pipe = self.client.pipeline(transaction=True)
        pipe.rpush(envelope.reply_to, encode_reply(envelope.id, outcome))
        pipe.expire(envelope.reply_to, 120)
        pipe.execute()

    def finish(self, entry_id: bytes) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.xack(STREAM, GROUP, entry_id)
        pipe.xdel(STREAM, entry_id)
        pipe.execute()

    def park(self, entry_id: bytes, fields: dict[bytes, bytes], error: str) -> None:
        log.error("parking face job %s: %s", fields.get(b"id"), error)
        kept: dict[Any, Any] = {k: v for k, v in fields.items() if k not in PICTURE_FIELDS}
        kept[b"error"] = error.encode()
        self.client.xadd(DEAD_STREAM, kept, maxlen=10000)
        metrics.face_job_parked()
        failed = Outcome(False, FaceReason.UNREADABLE, error=error, worker=self.name)
        self.answer(Envelope.of(fields), failed)
        self.finish(entry_id)

    def run(self, stop: Any) -> int:
        self.ensure_group()
        done = 0
        while not stop():
            try:
                jobs = self.next_jobs(block_ms=self.settings.face_block_ms)
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self.ensure_group()  # the stream was deleted (a flushed Redis): start again
                continue
            for entry_id, fields in jobs:
                try:
                    self.handle(entry_id, fields)
                    done += 1
                except Exception:  # left pending: claimed again, parked after the limit
                    log.exception("face job %s failed", entry_id)
        return done


def worker_main(settings: Settings, redis_url: str, index: int) -> None:
    """Entry point of one spawned worker process."""
    logs.setup(settings, "face")
    import face_recognition  # noqa: F401  (load the dlib models now, in this process)

    stopping = StopFlag()
    name = f"{socket.gethostname()}:{os.getpid()}:{index}"
    block = settings.face_block_ms
    client = redis.Redis.from_url(  # named, so it shows in CLIENT LIST
        redis_url, client_name=name, socket_timeout=block / 1000 + 10 if block else None
    )
    log.info("face worker %s ready", name)
    Worker(settings, name, client).run(stopping)


def start_workers(settings: Settings, redis_url: str, processes: int) -> list[Any]:
    ctx = multiprocessing.get_context("spawn")
    started = []
    for index in range(processes):
        proc = ctx.Process(
            target=worker_main, args=(settings, redis_url, index), name=f"face-{index}"
        )
        proc.start()
        started.append(proc)
    return started
