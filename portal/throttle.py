"""Log-in throttling per account and per address, counted in Redis."""

from __future__ import annotations

import math
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


def minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))
