"""Live sessions in Redis: who is in the hall, on which node, in which state.

Per attempt a hash ``hall:s:{attempt}`` (node, connection, state, stage, last heartbeat,
failed checks, page-hidden events, flags and who the physician is), the sorted set
``hall:live`` (attempt → last heartbeat) for counts, and the stream ``hall:events`` that feeds
the proctor monitor. Everything here can be lost: a reconnecting page rewrites its hash from
the database, which holds every answer, time, check and score.

Nodes talk to each other through one channel per node, ``hall:node:{node}``: a second
connection for an attempt tells the node holding the first one to close it, and proctors'
actions reach the node that holds the physician's socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

SESSION = "hall:s:{}"
LIVE = "hall:live"
EVENTS = "hall:events"
NODE_CHANNEL = "hall:node:{}"
EVENTS_MAXLEN = 200_000
SESSION_TTL = 6 * 3600  # a session hash outlives any window, then goes

# Claim the attempt for a connection (ARGV: node, connection, TTL, now, the attempt id, then
# field/value pairs of who the physician is) and put it in the live set, in one round trip;
# answer the previous holder (node, connection) if any.
CLAIM = """
local old_node = redis.call('HGET', KEYS[1], 'node')
local old_conn = redis.call('HGET', KEYS[1], 'conn')
redis.call('HSET', KEYS[1], 'node', ARGV[1], 'conn', ARGV[2], 'connected', '1',
           'last_heartbeat', ARGV[4])
for i = 6, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
return {old_node or '', old_conn or ''}
"""
# Mark the attempt disconnected, only if this connection still holds it.
RELEASE = """
if redis.call('HGET', KEYS[1], 'conn') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'connected', '0')
  return 1
end
return 0
"""

Handler = Callable[[dict[str, Any]], Awaitable[None]]


class Live:
    def __init__(self, redis: aioredis.Redis, node: str) -> None:
        """``redis`` decodes responses (text)."""
        self.redis = redis
        self.node = node
        self._claim = redis.register_script(CLAIM)
        self._release = redis.register_script(RELEASE)
        self._listener: asyncio.Task[None] | None = None

    async def claim(self, attempt_id: int, conn: str, info: dict[str, Any]) -> tuple[str, str]:
        pairs = [x for field, value in _flat(info).items() for x in (field, value)]
        args = [self.node, conn, SESSION_TTL, time.time(), str(attempt_id), *pairs]
        old_node, old_conn = await self._claim(keys=[SESSION.format(attempt_id), LIVE], args=args)
        return str(old_node), str(old_conn)

    async def release(self, attempt_id: int, conn: str) -> bool:
        released = bool(await self._release(keys=[SESSION.format(attempt_id)], args=[conn]))
        if released:
            await self.redis.zrem(LIVE, str(attempt_id))
        return released

    async def update(self, attempt_id: int, **fields: Any) -> None:
        await self.redis.hset(SESSION.format(attempt_id), mapping=_flat(fields))

    async def count(self, attempt_id: int, field: str, by: int = 1) -> int:
        """Add to a count of the live hash; the new count."""
        return int(await self.redis.hincrby(SESSION.format(attempt_id), field, by))

    async def session(self, attempt_id: int) -> dict[str, str]:
        found = await self.redis.hgetall(SESSION.format(attempt_id))
        return {str(k): str(v) for k, v in found.items()}

    async def publish_events(self, events: list[tuple[int, str, dict[str, Any]]]) -> None:
        """Feed the monitor, in one round trip for all of them."""
        pipe = self.redis.pipeline(transaction=False)
        for attempt_id, kind, detail in events:
            pipe.xadd(
                EVENTS,
                {
                    "attempt": attempt_id,
                    "kind": kind,
                    "detail": json.dumps(detail, ensure_ascii=False, default=str),
                },
                maxlen=EVENTS_MAXLEN,
                approximate=True,
            )
        await pipe.execute()

    async def beat(self, attempt_ids: list[int], now: float) -> None:
        """Heartbeats of many sittings at once: their last heartbeat and the live set."""
        pipe = self.redis.pipeline(transaction=False)
        for attempt_id in attempt_ids:
            pipe.hset(SESSION.format(attempt_id), "last_heartbeat", now)
        pipe.zadd(LIVE, {str(a): now for a in attempt_ids})
        await pipe.execute()

    async def tell(self, node: str, message: dict[str, Any]) -> None:
        """Send a control message to the node that holds an attempt's socket."""
        await self.redis.publish(NODE_CHANNEL.format(node), json.dumps(message))

    async def live_count(self, stale_seconds: float = 60) -> int:
        return int(await self.redis.zcount(LIVE, time.time() - stale_seconds, "+inf"))

    def listen(self, handler: Handler) -> None:
        """Deliver this node's control messages to ``handler`` until ``close``."""
        self._listener = asyncio.create_task(self._listen(handler))

    async def _listen(self, handler: Handler) -> None:
        channel = NODE_CHANNEL.format(self.node)
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(channel)
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=5.0
                        )
                        if message is not None:
                            await handler(json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis restarted or unreachable: subscribe again shortly
                await asyncio.sleep(1)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener


def _flat(fields: dict[str, Any]) -> dict[Any, Any]:
    flat: dict[Any, Any] = {}  # what redis-py accepts as hash fields
    for k, v in fields.items():
        if v is None:
            continue
        if isinstance(v, bool):
            flat[k] = int(v)
        elif isinstance(v, (int, float, str)):
            flat[k] = v
        else:
            flat[k] = json.dumps(v, ensure_ascii=False)
    return flat
