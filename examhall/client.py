"""A protocol client for the hall: what the tests and the load-test tool use to sit a test.

It keeps what a careful page keeps: every answer until it is acknowledged (resent after a
reconnect), the latest state, the paper and the messages received, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Literal, overload

import websockets
from websockets.asyncio.client import ClientConnection

from examhall import protocol as p


class HallClient:
    def __init__(
        self,
        base_url: str,
        cookie: str,
        origin: str | None = None,
        on_message: Callable[[p.ServerMessage], None] | None = None,
        inbox_limit: int | None = None,
    ) -> None:
        """``base_url`` like http://127.0.0.1:8000; ``cookie`` the session cookie header.
        ``on_message`` sees every message as it arrives (the load-test tool reacts to them
        instead of waiting for them in order); ``inbox_limit`` keeps only the latest ones."""
        self.url = base_url.replace("http", "ws", 1) + p.PATH
        self.headers = {"Cookie": cookie}
        if origin:
            self.headers["Origin"] = origin
        self.on_message = on_message
        self.ws: ClientConnection | None = None
        self.inbox: deque[p.ServerMessage] = deque(maxlen=inbox_limit)
        self.arrived = asyncio.Event()
        self.welcome: p.Welcome | None = None
        self.items: list[p.Item] = []
        self.state = ""
        self.unacked: dict[int, tuple[list[str], int]] = {}  # item -> (choice, seq)
        self.seqs: dict[int, itertools.count[int]] = {}
        self.closed_with: p.Bye | None = None
        self.challenge: p.PageChallenge | None = None  # what the pending check asks now
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> p.Welcome:
        """Open (or reopen) the socket; returns the welcome and resends unacknowledged answers."""
        self.ws = await websockets.connect(
            self.url, additional_headers=self.headers, max_size=2**22, open_timeout=20
        )
        self.closed_with = None
        self.challenge = None  # the new page gets a new challenge
        self.inbox.clear()
        self._reader = asyncio.create_task(self._read())
        with contextlib.suppress(websockets.ConnectionClosed):  # refused: the bye says why
            await self.ws.send(p.encode(p.Hello(type=p.HELLO, v=p.VERSION)))
        welcome = self.welcome = await self.expect(p.WELCOME)
        self.state = welcome["state"]
        for item, (choice, seq) in list(self.unacked.items()):
            stored = welcome["answers"].get(str(item))
            if stored and stored["seq"] >= seq:
                self.unacked.pop(item, None)
            else:
                answer = p.Answer(type=p.ANSWER, item=item, choice=choice, seq=seq)
                await self.ws.send(p.encode(answer))
        return welcome

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                message = p.decode_server(raw)
                if message["type"] == p.PAPER:
                    self.items = message["items"]
                elif message["type"] == p.STATE:
                    self.state = message["state"]
                elif message["type"] == p.ACK:
                    pending = self.unacked.get(message["item"])
                    if pending and pending[1] <= message["seq"]:
                        self.unacked.pop(message["item"], None)
                if message["type"] == p.CHECK:
                    self.challenge = message["challenge"]
                elif message["type"] == p.CHECK_RESULT or message["type"] == p.ERROR:
                    if message.get("challenge"):  # a failed try comes with the next one
                        self.challenge = message.get("challenge")
                    elif message["type"] == p.CHECK_RESULT and message["passed"]:
                        self.challenge = None
                elif message["type"] == p.BYE:
                    self.closed_with = message
                self.inbox.append(message)
                if self.on_message is not None:
                    self.on_message(message)
                self.arrived.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.arrived.set()

    @property
    def is_open(self) -> bool:
        """The socket is up and its messages are being read."""
        return self._reader is not None and not self._reader.done()

    @overload
    async def expect(
        self, kind: Literal["welcome"], within: float = ..., **match: Any
    ) -> p.Welcome: ...
    @overload
    async def expect(
        self, kind: Literal["paper"], within: float = ..., **match: Any
    ) -> p.Paper: ...
    @overload
    async def expect(self, kind: Literal["ack"], within: float = ..., **match: Any) -> p.Ack: ...
    @overload
    async def expect(
        self, kind: Literal["check"], within: float = ..., **match: Any
    ) -> p.Check: ...
    @overload
    async def expect(
        self, kind: Literal["check_result"], within: float = ..., **match: Any
    ) -> p.CheckResult: ...
    @overload
    async def expect(
        self, kind: Literal["state"], within: float = ..., **match: Any
    ) -> p.State: ...
    @overload
    async def expect(
        self, kind: Literal["result"], within: float = ..., **match: Any
    ) -> p.Result: ...
    @overload
    async def expect(
        self, kind: Literal["error"], within: float = ..., **match: Any
    ) -> p.Error: ...
    @overload
    async def expect(
        self, kind: Literal["notice"], within: float = ..., **match: Any
    ) -> p.Notice: ...
    @overload
    async def expect(self, kind: Literal["bye"], within: float = ..., **match: Any) -> p.Bye: ...
    async def expect(self, kind: str, within: float = 30.0, **match: Any) -> Any:
        """The next message of ``kind`` (and fields equal to ``match``) arriving ``within``
        seconds; messages of other kinds stay in the inbox."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            for message in list(self.inbox):
                fields: Mapping[str, object] = message
                if message["type"] == kind and all(fields.get(k) == v for k, v in match.items()):
                    self.inbox.remove(message)
                    return message
            if self._reader is not None and self._reader.done():
                raise ConnectionError(f"closed while waiting for {kind}: {self.closed_with}")
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"no {kind} {match or ''} in {within} s; got {list(self.inbox)}")
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), left)

    def received(self, kind: str) -> list[p.ServerMessage]:
        return [m for m in self.inbox if m["type"] == kind]

    async def answer(self, item: int, choice: list[str]) -> int:
        """Send an answer (kept until acknowledged); returns its seq."""
        assert self.ws is not None
        seq = next(self.seqs.setdefault(item, itertools.count(1)))
        self.unacked[item] = (choice, seq)
        await self.ws.send(p.encode(p.Answer(type=p.ANSWER, item=item, choice=choice, seq=seq)))
        return seq

    async def send(self, message: p.ClientMessage) -> None:
        assert self.ws is not None
        await self.ws.send(p.encode(message))

    async def burst(self, frames: list[bytes], challenge: str | None = None) -> None:
        """Send a burst for the pending challenge (or for ``challenge``, an id)."""
        assert self.ws is not None
        known = challenge or (self.challenge["id"] if self.challenge else "")
        await self.ws.send(p.encode_burst(known, frames))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def drop(self) -> None:
        """Cut the connection abruptly (no closing handshake), as a lost network does."""
        if self.ws is not None:
            self.ws.transport.abort()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
