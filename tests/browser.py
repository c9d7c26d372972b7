"""Real headless Chromium for the browser tests, driven over the DevTools protocol, and a real
uvicorn serving the test's app on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from starlette.applications import Starlette

from cli import uvicorn_options
from core.settings import Settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (see .ci/run)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return CHROMIUM


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def serve(app: Starlette, settings: Settings | None = None) -> AsyncIterator[str]:
    """The app (whose lifespan the test already runs) behind a real uvicorn, configured as
    ``xjdk serve`` configures it for ``settings`` (default: the app's)."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        **uvicorn_options(settings or app.state.settings),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no start-up event to await)
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class Page:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.n = 0
        # Real alert/confirm dialogs (after ``Page.enable``): their texts, in order, each
        # answered 确定 (accept) or 取消 as ``accept_dialogs`` says.
        self.dialogs: list[str] = []
        self.accept_dialogs = True

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.n += 1
        await self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            message = json.loads(await self.ws.recv())
            if message.get("method") == "Page.javascriptDialogOpening":
                self.dialogs.append(message["params"]["message"])
                answer = {"accept": self.accept_dialogs}
                await self.ws.send(
                    json.dumps(
                        {
                            "id": -len(self.dialogs),
                            "method": "Page.handleJavaScriptDialog",
                            "params": answer,
                        }
                    )
                )
                continue
            if message.get("id") == self.n:
                if "error" in message:
                    raise RuntimeError(message["error"])
                return dict(message.get("result", {}))

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)
        for _ in range(200):
            state = await self.evaluate("document.readyState")
            if state == "complete":
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(url)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


@contextlib.asynccontextmanager
async def chromium(
    width: int = 375, height: int = 812, extra_flags: Sequence[str] = ()
) -> AsyncIterator[Page]:
    """``extra_flags`` are added to the command line (e.g. a fake camera for the exam hall)."""
    binary = require_chromium()
    port = free_port()
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        *extra_flags,
    ]
    # Chromium's helper processes may still be writing the profile while they exit.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = await asyncio.create_subprocess_exec(
            binary,
            *flags,
            f"--user-data-dir={profile}",
            f"--remote-debugging-port={port}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped together below
        )
        try:
            targets: list[dict[str, Any]] = []
            async with httpx.AsyncClient() as http:
                for _ in range(100):
                    try:
                        targets = (await http.get(f"http://127.0.0.1:{port}/json")).json()
                        if any(t["type"] == "page" for t in targets):
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.1)
            url = next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"]
            async with websockets.connect(url, max_size=None) as ws:
                page = Page(ws)
                await page.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=width,
                    height=height,
                    deviceScaleFactor=2,
                    mobile=True,
                )
                await page.call("Network.enable")
                await page.call("Runtime.enable")
                yield page
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            await proc.wait()
