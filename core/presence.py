"""Which platform processes are running, as Redis knows it: each web process and mail
sender renews a key every few seconds (gone ``TTL`` seconds after it stops or dies).
``xjdk restore`` reads them before it overwrites a database that someone is using."""

from __future__ import annotations

import os
import socket

import redis.asyncio as aioredis

PREFIX = "xjdk:alive:"
TTL = 30
EVERY = 10  # seconds between renewals


def key(role: str) -> str:
    return f"{PREFIX}{role}:{socket.gethostname()}:{os.getpid()}"


async def announce(redis: aioredis.Redis, role: str) -> None:
    await redis.set(key(role), "1", ex=TTL)


async def forget(redis: aioredis.Redis, role: str) -> None:
    await redis.delete(key(role))


async def running(redis: aioredis.Redis) -> list[str]:
    """``role:host:pid`` of every process announced within the last ``TTL`` seconds."""
    found = [k async for k in redis.scan_iter(match=PREFIX + "*", count=1000)]
    names = [k.decode() if isinstance(k, bytes) else str(k) for k in found]
    return sorted(n.removeprefix(PREFIX) for n in names)
