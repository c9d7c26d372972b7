"""Every Prometheus metric of the platform, defined here once, and the one-line hooks the
code calls (``metrics.answer_acked(started)``). prometheus-client does the rest.

Web processes serve ``/metrics`` (web/health.py); the workers serve it on
``--metrics-port`` (cli.py). A parent that starts several recording processes
(``xjdk serve --workers N``, ``xjdk worker face``) calls ``use_multiprocess`` first: each
child then writes its values to files in a shared folder and a scrape adds them up
(prometheus-client's multiprocess mode; gauges count live processes only).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SLOW = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0)

disable_created_metrics()  # no *_created series: counters start at the process's start
# One registry per kind of process, so that each shows its own metrics (and its CPU and
# memory); in multiprocess mode the shared folder holds what its processes recorded.
WEB = CollectorRegistry()
FACE = CollectorRegistry()
MAIL = CollectorRegistry()
for _registry in (WEB, FACE, MAIL):
    ProcessCollector(registry=_registry)

# --- web: the exam hall --------------------------------------------------------------------
HALL_SESSIONS = Gauge(
    "xjdk_hall_sessions",
    "Exam-hall WebSockets open on this process (one per attempt being sat)",
    multiprocess_mode="livesum",
    registry=WEB,
)
HALL_ENTERING = Gauge(
    "xjdk_hall_entering",
    "Physicians between handshake and welcome (admission control, EXAM_ENTRY_LIMIT)",
    multiprocess_mode="livesum",
    registry=WEB,
)
HALL_QUEUED = Gauge(
    "xjdk_hall_queued",
    "Hall handshakes waiting in line for an entry slot (EXAM_ENTRY_WAIT_SECONDS)",
    multiprocess_mode="livesum",
    registry=WEB,
)
HALL_REFUSED = Counter(
    "xjdk_hall_refused",
    "Hall handshakes refused with 503: the line did not move within EXAM_ENTRY_WAIT_SECONDS",
    registry=WEB,
)
ANSWERS_ACKED = Counter("xjdk_hall_answers_acked", "Answers stored and acknowledged", registry=WEB)
ACK_SECONDS = Histogram(
    "xjdk_hall_ack_seconds",
    "From an answer's arrival to its ack (stored first)",
    buckets=FAST,
    registry=WEB,
)
GC_PAUSE_SECONDS = Histogram(
    "xjdk_gc_pause_seconds",
    "A garbage collection of the web process, the event loop stopped (core/gcpolicy.py)",
    ["generation"],
    buckets=FAST,
    registry=WEB,
)
FACE_CHECKS = Counter(
    "xjdk_face_checks",
    "Live face checks answered to the hall, by stage and outcome (passed, failed, busy)",
    ["stage", "outcome"],
    registry=WEB,
)
FACE_CHECK_SECONDS = Histogram(
    "xjdk_face_check_seconds",
    "A live face check from the burst's arrival to its answer (queue and compute)",
    ["stage"],
    buckets=SLOW,
    registry=WEB,
)

# --- web: log-ins and requests -------------------------------------------------------------
LOGINS = Counter(
    "xjdk_logins",
    "Log-in attempts by outcome: ok, failed, locked (this failure locked the account), "
    "held (refused while locked), disabled",
    ["outcome"],
    registry=WEB,
)
HTTP_REQUESTS = Counter(
    "xjdk_http_requests",
    "HTTP requests by method, route template and status",
    ["method", "route", "status"],
    registry=WEB,
)
HTTP_SECONDS = Histogram(
    "xjdk_http_request_seconds",
    "HTTP request duration by route template",
    ["route"],
    buckets=FAST,
    registry=WEB,
)

# --- face workers --------------------------------------------------------------------------
FACE_JOBS = Counter(
    "xjdk_face_jobs",
    "Face jobs a worker answered, by kind and outcome",
    ["kind", "outcome"],
    registry=FACE,
)
FACE_JOB_COMPUTE = Histogram(
    "xjdk_face_job_compute_seconds",
    "Worker CPU time of one face job",
    ["kind"],
    buckets=SLOW,
    registry=FACE,
)
FACE_JOBS_DROPPED = Counter(
    "xjdk_face_jobs_dropped",
    "Face jobs skipped because their caller had given up (too late)",
    registry=FACE,
)
FACE_JOBS_PARKED = Counter(
    "xjdk_face_jobs_parked",
    "Face jobs parked on face:dead after too many deliveries",
    registry=FACE,
)

# --- mail sender ---------------------------------------------------------------------------
MAIL_SENT = Counter("xjdk_mail_sent", "Mails sent", registry=MAIL)
MAIL_RETRIED = Counter(
    "xjdk_mail_retried", "Mail sends that failed and will be retried", registry=MAIL
)
MAIL_FAILED = Counter("xjdk_mail_failed", "Mails given up after MAIL_MAX_ATTEMPTS", registry=MAIL)
MAIL_DUE = Gauge(
    "xjdk_mail_due",
    "Outbox mails due now and not yet sent",
    multiprocess_mode="mostrecent",
    registry=MAIL,
)


# --- the hooks -----------------------------------------------------------------------------


def answer_acked(arrived: datetime) -> None:
    ANSWERS_ACKED.inc()
    ACK_SECONDS.observe(max((datetime.now(UTC) - arrived).total_seconds(), 0.0))


def gc_pause(generation: int, seconds: float) -> None:
    GC_PAUSE_SECONDS.labels(str(generation)).observe(seconds)


def hall_refused() -> None:
    HALL_REFUSED.inc()


def hall_sample(sessions: int, entering: int, queued: int) -> None:
    HALL_SESSIONS.set(sessions)
    HALL_ENTERING.set(entering)
    HALL_QUEUED.set(queued)


def face_checked(stage: str, result: Any, seconds: float) -> None:
    """``result``: a face.client.FaceResult (passed, busy)."""
    outcome = "busy" if result.busy else "passed" if result.passed else "failed"
    FACE_CHECKS.labels(stage, outcome).inc()
    FACE_CHECK_SECONDS.labels(stage).observe(seconds)


def login(outcome: str) -> None:
    LOGINS.labels(outcome).inc()


def http_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_SECONDS.labels(route).observe(seconds)


def face_job_done(kind: str, outcome: Any) -> None:
    """``outcome``: a face.jobs.Outcome (passed, compute_ms)."""
    FACE_JOBS.labels(kind, "passed" if outcome.passed else "failed").inc()
    FACE_JOB_COMPUTE.labels(kind).observe(outcome.compute_ms / 1000)


def face_job_dropped() -> None:
    FACE_JOBS_DROPPED.inc()


def face_job_parked() -> None:
    FACE_JOBS_PARKED.inc()


def mail_pass(sent: int, retried: int, failed: int, due: int) -> None:
    MAIL_SENT.inc(sent)
    MAIL_RETRIED.inc(retried)
    MAIL_FAILED.inc(failed)
    MAIL_DUE.set(due)


# --- the face queue, read from Redis at each scrape -------------------------------------------


class FaceQueueCollector(Collector):
    """Jobs waiting, in progress and parked, and the oldest job's wait, as Redis has them
    (one reading for the whole pool, whichever worker serves the scrape)."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url

    def collect(self) -> Iterator[GaugeMetricFamily]:
        import redis

        from face.jobs import DEAD_STREAM, GROUP, STREAM, Envelope

        client = redis.Redis.from_url(self.redis_url, socket_timeout=5)
        try:
            length = int(client.xlen(STREAM))
            try:
                pending: Any = client.xpending(STREAM, GROUP)
                in_progress = int(pending["pending"]) if pending else 0
            except redis.ResponseError:  # no group yet: no worker has started
                in_progress = 0
            oldest: Any = client.xrange(STREAM, count=1)
            wait = time.time() - Envelope.of(oldest[0][1]).queued_at if oldest else 0.0
            parked = int(client.xlen(DEAD_STREAM))
        finally:
            client.close()
        for name, text, value in (
            (
                "xjdk_face_queue_waiting",
                "Face jobs not yet taken by a worker",
                length - in_progress,
            ),
            ("xjdk_face_queue_in_progress", "Face jobs taken and not yet answered", in_progress),
            ("xjdk_face_queue_parked", "Face jobs on face:dead (see FACE_MAX_DELIVERIES)", parked),
            ("xjdk_face_queue_oldest_seconds", "How long the oldest queued job has waited", wait),
        ):
            yield GaugeMetricFamily(name, text, value=max(float(value), 0.0))


# --- exposition ----------------------------------------------------------------------------


def use_multiprocess(folder: Path) -> None:
    """Before starting processes that record: an empty folder they all write to. Must run
    before those processes import prometheus-client (they are spawned, so they do)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(folder)


def multiprocess_dir() -> str:
    return os.environ.get(MULTIPROC_ENV, "")


_PID = re.compile(r"_(\d+)\.db$")


def _forget_dead_processes(folder: str) -> None:
    """A crashed process's live gauges must stop counting (its counters stay: totals)."""
    for path in glob.glob(os.path.join(folder, "gauge_live*_*.db")):
        found = _PID.search(path)
        if found is None:
            continue
        pid = int(found.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, folder)
        except PermissionError:
            pass


class _AllProcesses(Collector):
    """Every process's values from the shared folder, read at each scrape."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.files = multiprocess.MultiProcessCollector(None, path=folder)

    def collect(self) -> Iterator[Any]:
        _forget_dead_processes(self.folder)
        yield from self.files.collect()


class _ThisProcess(Collector):
    def __init__(self, role: CollectorRegistry) -> None:
        self.role = role

    def collect(self) -> Iterator[Any]:
        yield from self.role.collect()


def registry(role: CollectorRegistry, *extra: Collector) -> CollectorRegistry:
    """What a scrape of a ``role`` process (WEB, FACE, MAIL) reads: its own metrics, or
    every process's in multiprocess mode, plus ``extra`` collectors."""
    folder = multiprocess_dir()
    found = CollectorRegistry()
    found.register(_AllProcesses(folder) if folder else _ThisProcess(role))
    for collector in extra:
        found.register(collector)
    return found


def exposition(role: CollectorRegistry, *extra: Collector) -> tuple[bytes, str]:
    return generate_latest(registry(role, *extra)), CONTENT_TYPE_LATEST


def serve(port: int, host: str, role: CollectorRegistry, *extra: Collector) -> None:
    """The workers' ``/metrics``: prometheus-client's HTTP server in a daemon thread."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host, registry=registry(role, *extra))
