"""What many tests share besides fixtures: the test password, the settings a test app runs
with, and the steps of a browser's form (the CSRF token, log-in, a posted form, a table's rows)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx

from core.settings import Settings

TEST_PASSWORD = "Passw0rd2026"


def make_settings(data_dir: Path, db_url: str, redis_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": db_url,
        "redis_url": redis_url,
        "secret_key": "test-secret-" + uuid.uuid4().hex,
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8192,
        "public_url": "http://testserver",
        # The clip of ../shared/faces shows head turns but no open mouth (face/samples.py);
        # a test's burst is sent at once rather than filmed for seconds (test_liveness.py
        # films them: a burst that comes too soon is refused).
        "face_actions": "turn_left,turn_right",
        "face_burst_seconds": 0.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


async def csrf_of(client: httpx.AsyncClient, path: str = "/login") -> str:
    page = await client.get(path)
    found = CSRF.search(page.text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


async def login(
    client: httpx.AsyncClient, username: str, password: str = TEST_PASSWORD
) -> httpx.Response:
    token = await csrf_of(client)
    return await client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )


async def post_form(client: httpx.AsyncClient, path: str, data: dict[str, str]) -> httpx.Response:
    """Post a form the way the browser does: with the token from the page it came from."""
    token = await csrf_of(client, path)
    return await client.post(path, data={**data, "csrf_token": token})


def table_rows(html: str) -> list[str]:
    """The text of each body row of the page's table."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    return [row.get_text(" ", strip=True) for row in soup.select("table tbody tr")]
