"""The workers' ``/metrics``, served by ``xjdk worker face|mail --metrics-port`` as an operator
starts them (JSON logs on): face jobs done, their compute time and the queue as Redis has it;
mails sent and due."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from core.mail import enqueue
from core.settings import Settings
from face import samples
from models.enums import MailStatus
from models.ops import OutboxMail
from tests.browser import free_port
from tests.servers import XJDK, node_env


async def scrape(port: int) -> dict[str, float]:
    """Unlabelled samples by name, labelled ones as name{k=v,...}."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            found[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return found


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


async def up(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, "the worker exited"
        try:
            await scrape(port)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)


@pytest_asyncio.fixture
async def started(
    settings: Settings, redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[str, int, Path]]:
    """A worker of the kind the test names (``start``), stopped with SIGTERM at the end."""
    procs: list[subprocess.Popen[bytes]] = []

    async def start(kind: str, *args: str) -> tuple[int, Path]:
        port, log = free_port(), tmp_path / f"{kind}.log"
        command = [str(XJDK), "worker", kind, "--metrics-port", str(port), *args]
        env = node_env(settings, redis_url, LOG_FORMAT="json")
        proc = spawn(command, env, log)
        procs.append(proc)
        await up(port, proc)
        return port, log

    yield start  # type: ignore[misc]
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=30)


async def test_face_worker_metrics(app: Starlette, started: Any) -> None:
    port, log = await started("face", "--processes", "1")
    before = await scrape(port)
    assert before["xjdk_face_queue_waiting"] == 0 and "xjdk_face_queue_parked" in before
    checked = await app.state.face.check_photo(samples.registration_photo())
    assert checked.passed
    after = await scrape(port)
    assert after["xjdk_face_jobs_total{kind=photo,outcome=passed}"] == 1
    assert after["xjdk_face_job_compute_seconds_count{kind=photo}"] == 1
    assert after["xjdk_face_job_compute_seconds_sum{kind=photo}"] > 0
    assert after["xjdk_face_queue_in_progress"] == 0
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert any(line["role"] == "face" and "已启动" in line["message"] for line in lines)


async def test_mail_worker_metrics(app: Starlette, started: Any) -> None:
    port, log = await started("mail")
    env = app.state.templates.env
    mail = await enqueue(
        env, "m@example.com", "password_reset", app.state.redis, name="张三", link="L", minutes=30
    )
    for _ in range(100):
        if (await OutboxMail.get(id=mail.id)).status == MailStatus.SENT:
            break
        await asyncio.sleep(0.1)
    for _ in range(50):  # the pass's counts are recorded right after it
        samples_ = await scrape(port)
        if samples_["xjdk_mail_sent_total"] >= 1:
            break
        await asyncio.sleep(0.1)
    assert samples_["xjdk_mail_sent_total"] == 1
    assert samples_["xjdk_mail_due"] == 0 and samples_["xjdk_mail_failed_total"] == 0
    assert "process_resident_memory_bytes" in samples_
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert any(line["role"] == "mail" and "已启动" in line["message"] for line in lines)
    assert "m@example.com" not in log.read_text()
