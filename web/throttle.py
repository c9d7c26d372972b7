"""Log-in throttling per account and per address, and plain rate limits, counted in Redis."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis


@dataclass(frozen=True)
class Throttle:
    redis: aioredis.Redis
    max_account: int
    max_address: int
    window_seconds: int

    def _keys(self, username: str, address: str) -> tuple[str, str]:
        return f"login:fail:acct:{username.upper()}", f"login:fail:addr:{address}"

    async def wait_seconds(self, username: str, address: str) -> int:
        """Seconds until this log-in may be tried again (0: now)."""
        acct, addr = self._keys(username, address)
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(acct)
        pipe.ttl(acct)
        pipe.get(addr)
        pipe.ttl(addr)
        acct_n, acct_ttl, addr_n, addr_ttl = await pipe.execute()
        wait = 0
        if acct_n and int(acct_n) >= self.max_account:
            wait = max(wait, int(acct_ttl))
        if addr_n and int(addr_n) >= self.max_address:
            wait = max(wait, int(addr_ttl))
        return wait

    async def failed(self, username: str, address: str) -> int:
        """Count a failure; returns how many tries the account has left."""
        acct, addr = self._keys(username, address)
        pipe = self.redis.pipeline(transaction=True)
        # The window starts at the first failure: SET NX fixes the TTL, INCR keeps it.
        pipe.set(acct, 0, ex=self.window_seconds, nx=True)
        pipe.incr(acct)
        pipe.set(addr, 0, ex=self.window_seconds, nx=True)
        pipe.incr(addr)
        _, acct_n, _, _ = await pipe.execute()
        return max(self.max_account - int(acct_n), 0)

    async def succeeded(self, username: str) -> None:
        await self.redis.delete(self._keys(username, "")[0])


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` tries of ``name`` per address in a fixed window of ``window_seconds``
    that starts at the first try."""

    redis: aioredis.Redis
    name: str
    limit: int
    window_seconds: int

    async def hit(self, address: str) -> int:
        """Count a try; returns the seconds to wait when it is one too many (0: go ahead)."""
        key = f"rate:{self.name}:{address}"
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(key, 0, ex=self.window_seconds, nx=True)
        pipe.incr(key)
        pipe.ttl(key)
        _, count, ttl = await pipe.execute()
        return max(int(ttl), 1) if int(count) > self.limit else 0
