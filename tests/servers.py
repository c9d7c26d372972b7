"""Real processes for the tests that need more than the in-process app: ``xjdk serve`` web
processes (as many as a test wants, sharing the test's database and Redis), and nginx run
from the committed deploy/nginx/xjdk.conf."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from core.settings import ROOT, Settings
from tests.browser import free_port

XJDK = Path(sys.executable).with_name("xjdk")
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
)
SITE = ROOT / "deploy" / "nginx" / "xjdk.conf"


def node_env(settings: Settings, redis_url: str, **extra: str) -> dict[str, str]:
    """What a web process of the test's platform needs: the same database, Redis, secret
    and face settings as the test's own app."""
    return {
        **os.environ,
        "DATABASE_URL": settings.db_url,
        "REDIS_URL": redis_url,
        "DATA_DIR": str(settings.data_dir),
        "SECRET_KEY": settings.secret_key,
        "FACE_ACTIONS": settings.face_actions,
        "FACE_BURST_SECONDS": str(settings.face_burst_seconds),
        "ARGON2_TIME_COST": str(settings.argon2_time_cost),
        "ARGON2_MEMORY_KIB": str(settings.argon2_memory_kib),
        **extra,
    }


def web_process(
    settings: Settings,
    redis_url: str,
    port: int,
    *,
    log: IO[bytes] | None = None,
    workers: int = 1,
    **extra: str,
) -> subprocess.Popen[bytes]:
    """``xjdk serve`` on ``port``; ``extra``: more environment (LOG_FORMAT="json" …)."""
    command = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    return subprocess.Popen(
        [str(XJDK), *command],
        env=node_env(settings, redis_url, **extra),
        stdout=log or subprocess.DEVNULL,
        stderr=log or subprocess.DEVNULL,
    )


async def wait_up(url: str, proc: subprocess.Popen[bytes], **client: Any) -> None:
    """Until ``url``/readyz answers 200 (database, Redis and migrations are there)."""
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(**client) as http:
        while True:
            assert proc.poll() is None, "the process exited"
            try:
                if (await http.get(url + "/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the process did not start"
            await asyncio.sleep(0.2)


def require_nginx() -> str:
    if NGINX is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's nginx (see .ci/run)")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return NGINX


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (openssl comes with nginx's own dependencies)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _sub(pattern: str, replacement: str, text: str, count: int = 1) -> str:
    """Replace exactly ``count`` occurrences: a committed file that changes shape fails here
    rather than being tested half-rendered."""
    found = len(re.findall(pattern, text, flags=re.M))
    assert found == count, f"{pattern!r} found {found} times in {SITE.name}, expected {count}"
    return re.sub(pattern, replacement, text, flags=re.M)


@dataclass
class Nginx:
    https: str  # https://127.0.0.1:PORT
    http: str
    prefix: Path
    proc: subprocess.Popen[bytes]

    @property
    def access_log(self) -> str:
        return (self.prefix / "logs" / "xjdk.access.log").read_text(errors="replace")

    @property
    def error_log(self) -> str:
        return (self.prefix / "logs" / "error.log").read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def render_site(
    upstreams: list[int], https: int, http: int, cert: Path, key: Path, logs: Path
) -> str:
    """deploy/nginx/xjdk.conf with this machine's ports, paths and certificate."""
    site = SITE.read_text()
    site = _sub(r"^    server 127\.0\.0\.1:8001 ", f"    server 127.0.0.1:{upstreams[0]} ", site)
    site = _sub(r"^    server 127\.0\.0\.1:8002 ", f"    server 127.0.0.1:{upstreams[1]} ", site)
    site = _sub(r"^    listen 80;", f"    listen 127.0.0.1:{http};", site)
    site = _sub(r"^    listen 443 ssl http2;", f"    listen 127.0.0.1:{https} ssl http2;", site)
    site = _sub(r"^    listen \[::\]:\d+.*\n", "", site, count=2)  # no IPv6 in every sandbox
    site = _sub(r"/etc/ssl/xjdk/fullchain\.pem", str(cert), site)
    site = _sub(r"/etc/ssl/xjdk/privkey\.pem", str(key), site)
    site = _sub(r"/var/log/nginx/", f"{logs}/", site, count=2)
    return _sub(r"/srv/xjdk/static/", f"{ROOT / 'static'}/", site)


def start_nginx(prefix: Path, upstreams: list[int]) -> Nginx:
    """nginx as this user, with a main configuration of its own around the committed site."""
    binary = require_nginx()
    logs, temp = prefix / "logs", prefix / "temp"
    for folder in (logs, temp):
        folder.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed(prefix)
    https, http = free_port(), free_port()
    (prefix / "xjdk.conf").write_text(render_site(upstreams, https, http, cert, key, logs))
    mime = Path("/etc/nginx/mime.types")
    types = (
        f"include {mime};"
        if mime.is_file()
        else "types { text/css css; application/javascript js; image/svg+xml svg; }"
    )
    temps = "\n".join(
        f"    {name}_temp_path {temp / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (prefix / "nginx.conf").write_text(
        f"""daemon off;
worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {logs / "error.log"} warn;
events {{ worker_connections 4096; }}
http {{
    {types}
    default_type application/octet-stream;
{temps}
    access_log off;
    include {prefix / "xjdk.conf"};
}}
"""
    )
    conf = prefix / "nginx.conf"
    checked = subprocess.run(
        [binary, "-t", "-p", str(prefix), "-c", str(conf), "-e", str(logs / "error.log")],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(conf), "-e", str(logs / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return Nginx(f"https://127.0.0.1:{https}", f"http://127.0.0.1:{http}", prefix, proc)
