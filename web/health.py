"""What the balancer and the monitoring read: ``/healthz``, ``/readyz`` and ``/metrics``.

- ``/healthz``: the process lives and its event loop answers; no I/O at all.
- ``/readyz``: the database and Redis answer (each within ``CHECK_SECONDS``) and every
  committed migration is applied; 503 otherwise, with which check failed (never why: an
  error's text could name a host or a password).
- ``/metrics``: Prometheus' text format (core/metrics.py), to METRICS_ALLOW_IPS only
  (404 to anyone else; nginx refuses it to the public as well).

None of them reads or writes a session, sets a cookie or counts against a rate limit
(``OPS_PATHS``, skipped by the session middleware); none shows anything personal.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from tortoise import connections

from core import metrics, presence
from core.db import APP_LABEL
from core.settings import Settings

log = logging.getLogger(__name__)

OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
CHECK_SECONDS = 2.0
SAMPLE_SECONDS = 1.0
NO_STORE = {"Cache-Control": "no-store"}


def committed_migrations() -> set[str]:
    folder = resources.files("models.migrations")
    return {
        entry.name.removesuffix(".py")
        for entry in folder.iterdir()
        if entry.name.endswith(".py") and entry.name[:4].isdigit()
    }


async def applied_migrations() -> set[str]:
    rows = await connections.get("default").execute_query_dict(
        f"SELECT name FROM tortoise_migrations WHERE app = '{APP_LABEL}'"
    )
    return {str(row["name"]) for row in rows}


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok", headers=NO_STORE)


async def _check(name: str, work: Awaitable[Any]) -> str:
    try:
        await asyncio.wait_for(work, CHECK_SECONDS)
    except Exception as exc:  # the reason goes to the log, never to the answer
        log.warning("readiness check %s failed: %s", name, type(exc).__name__)
        return "error"
    return "ok"


async def _migrations() -> None:
    missing = committed_migrations() - await applied_migrations()
    if missing:
        raise LookupError(f"{len(missing)} migration(s) not applied")


async def readyz(request: Request) -> Response:
    async def database() -> None:
        await connections.get("default").execute_query("SELECT 1")

    checks = {
        "database": await _check("database", database()),
        "redis": await _check("redis", request.app.state.redis.ping()),
    }
    checks["migrations"] = (
        await _check("migrations", _migrations()) if checks["database"] == "ok" else "unknown"
    )
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
        headers=NO_STORE,
    )


def metrics_allowed(settings: Settings, host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in settings.metrics_networks)


async def metrics_page(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not metrics_allowed(settings, request.client.host if request.client else ""):
        return PlainTextResponse("Not Found", status_code=404, headers=NO_STORE)
    sample_hall(request.app.state.hall)  # this process's figures: exact now
    body, content_type = metrics.exposition(metrics.WEB)
    return Response(body, media_type=content_type, headers=NO_STORE)


def sample_hall(hall: Any) -> None:
    """The hall's admission figures (examhall/hall.py), read where the hall keeps them."""
    metrics.hall_sample(len(hall.sittings), hall.entering, hall.queued)


async def watch(state: Any) -> None:
    """Per web process, for as long as it runs: the hall's gauges kept current (in
    multiprocess mode a scrape reads them from the other processes' files), and this
    process announced in Redis, where ``xjdk restore`` looks before overwriting."""
    beat = 0.0
    try:
        while True:
            sample_hall(state.hall)
            beat -= SAMPLE_SECONDS
            if beat <= 0:
                with contextlib.suppress(Exception):  # Redis away: /readyz says so
                    await presence.announce(state.redis, "web")
                beat = presence.EVERY
            await asyncio.sleep(SAMPLE_SECONDS)
    finally:
        metrics.hall_sample(0, 0, 0)
        with contextlib.suppress(Exception):
            await presence.forget(state.redis, "web")


routes: list[BaseRoute] = [
    Route("/healthz", healthz),
    Route("/readyz", readyz),
    Route("/metrics", metrics_page),
]
