"""The embedded Redis keeps its data under DATA_DIR: stopped and started again on the same
folder (what ``make run`` does across a restart), it still has a log-in's session and the
hall's live state."""

from __future__ import annotations

from pathlib import Path

from core.redis import EmbeddedRedis, client
from examhall.live import LIVE, Live
from web.sessions import Session, SessionStore


async def test_sessions_and_the_hall_survive_a_restart(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    redis = client(server.start(), decode=True, socket_timeout=5)
    session = Session("x" * 43, {}, is_new=True)
    session.login({"account_id": 7, "role": "physician", "epoch": 0})
    await SessionStore(redis, 1800).save(session)
    await Live(redis, "node-a").claim(42, "conn-1", {"physician": 9, "state": "testing"})
    await redis.aclose()
    server.stop()
    assert (tmp_path / "redis" / "appendonly.aof").stat().st_size > 0

    again = EmbeddedRedis(tmp_path)
    redis = client(again.start(), decode=True, socket_timeout=5)
    try:
        found = await SessionStore(redis, 1800).load(session.id)
        assert found is not None and found["account_id"] == 7
        live = await Live(redis, "node-b").session(42)
        assert live["node"] == "node-a" and live["conn"] == "conn-1" and live["state"] == "testing"
        assert await redis.zscore(LIVE, "42") is not None
        assert await redis.ttl(f"sess:{session.id}") > 1700  # the idle timeout goes on
    finally:
        await redis.aclose()
        again.stop()
