"""Logs: one JSON object per line with LOG_FORMAT=json from a real ``xjdk serve`` (request id
honoured or made, route template, status, duration, account id), plain text by default, and
never the ID number a physician logs in with, nor a session cookie, even inside an error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
from starlette.applications import Starlette

from core.settings import Settings
from models.enums import OrgKind
from tests import factories
from tests.browser import free_port
from tests.helpers import CSRF, TEST_PASSWORD
from tests.servers import wait_up, web_process
from web.sessions import COOKIE


async def test_json_lines_of_a_web_process(
    app: Starlette, settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    doc = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "web.log").open("wb") as log:
        proc = web_process(settings, redis_url, port, log=log, LOG_FORMAT="json")
        try:
            await wait_up(url, proc)
            async with httpx.AsyncClient(base_url=url) as http:
                page = await http.get("/login", params={"next": f"/x?q={doc.id_number}"})
                token = CSRF.search(page.text)
                assert token is not None
                form = {"username": doc.id_number, "csrf_token": token[1]}
                wrong = await http.post("/login", data={**form, "password": "nope-2026"})
                assert wrong.status_code == 400
                right = await http.post(
                    "/login",
                    data={**form, "password": TEST_PASSWORD},
                    headers={"X-Request-ID": "trace-42.a_b"},
                )
                assert right.status_code == 303
                assert right.headers["x-request-id"] == "trace-42.a_b"  # honoured
                odd = await http.get("/", headers={"X-Request-ID": "two words"})
                made = odd.headers["x-request-id"]
                assert made != "two words" and len(made) == 32  # replaced
                await http.get(f"/physicians/{doc.id}")
                cookie = http.cookies[COOKIE]
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    text = (tmp_path / "web.log").read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is JSON
    assert all({"time", "level", "logger", "message", "role"} <= set(line) for line in lines)
    assert {line["role"] for line in lines} == {"web"}
    access = {line["request_id"]: line for line in lines if line["logger"] == "xjdk.access"}
    posted = access["trace-42.a_b"]
    assert posted["method"] == "POST" and posted["route"] == "/login"
    assert posted["status"] == 303 and posted["account_id"] == doc.account_id
    assert isinstance(posted["duration_ms"], float) and posted["duration_ms"] > 0
    assert access[made]["route"] == "/" and access[made]["account_id"] == doc.account_id
    detail = [line for line in access.values() if line["route"].startswith("/physicians/")]
    assert detail and detail[0]["route"] == "/physicians/{physician_id:int}"
    assert any(line["status"] == 400 and line["account_id"] is None for line in access.values())
    for secret in (doc.id_number, cookie, TEST_PASSWORD, "nope-2026"):
        assert secret not in text


def test_text_by_default_and_nothing_personal_in_an_error(tmp_path: Path) -> None:
    script = """
import logging
from core import logs
from core.settings import Settings
logs.setup(Settings(secret_key="k", log_format=FORMAT), "cli")
log = logging.getLogger("xjdk.test")
token = logs.request_id.set("req-1")
log.info("登录 %s", "65312119800101001X")
try:
    raise ValueError("duplicate key (id_number)=(653121198001010013) cookie xjdk_session=abc_DEF-1")
except ValueError:
    log.exception("failed")
"""
    for fmt in ("text", "json"):
        done = subprocess.run(
            [sys.executable, "-c", script.replace("FORMAT", repr(fmt))],
            capture_output=True,
            text=True,
            check=True,
        )
        out = done.stderr
        assert "65312119800101001X" not in out and "653121198001010013" not in out
        assert "abc_DEF-1" not in out and "[身份证号已隐去]" in out
        if fmt == "text":
            first = out.splitlines()[0]
            assert " INFO cli[" in first and "xjdk.test [req-1]: 登录 [身份证号已隐去]" in first
        else:
            records = [json.loads(line) for line in out.splitlines()]
            assert records[0]["request_id"] == "req-1" and records[0]["role"] == "cli"
            assert "ValueError" in records[1]["exc_info"]
