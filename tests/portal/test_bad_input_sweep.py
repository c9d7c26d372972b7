"""Bad input gets a clear 4xx, never a 500: every route of the app (read from ``app.routes``,
so a new route is swept as soon as it exists), asked by every role and by an anonymous
visitor, with absurd numbers in the path, the query and the form, without the htmx header
its fragments expect, and with methods it does not take."""

from __future__ import annotations

import asyncio
import re

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from models.enums import Role
from tests import factories
from tests.helpers import csrf_of, login

PARAM = re.compile(r"{(\w+)(?::(\w+))?}")
HUGE = "99999999999999999999"
LONG = "长" * 120  # longer than the columns parameters are compared with (URL stays < 64 KB)
# Every query or form field a page reads, each given the same absurd values in turn.
FIELDS = (
    "page",
    "period",
    "prefecture",
    "county",
    "institution",
    "assessor",
    "physician",
    "target",
    "q",
    "id_number",
    "difficulty",
    "status",
    "procedure",
    "scope",
    "result",
    "kind",
    "type",
    "category",
    "practice_category",
    "practice_scope",
    "action",
    "actor",
    "object_type",
    "object_id",
    "date_from",
    "date_to",
    "count",
    "position",
    "years_in_practice",
    "question",
    "course",
    "lesson",
    "minutes",
    "class_hours",
    "question_count",
    "duration_minutes",
    "pass_mark",
    "face_retries",
    "next",
    "code",
)
ODD = ("-1", "٣", "1e309", "0x10", " 7 ", "1.5", "")
# Streams answer 200 and never end: only their refusals are swept.
STREAMS = {"/proctor/stream"}
SKIPPED_POSTS = {"/logout"}  # would end the sweeping session; tested on its own


def paths(route: Route) -> list[str]:
    """The route's path with its parameters filled in: an id that does not exist, one too
    large for any column, and for string parameters a long odd string."""

    def fill(value_int: str, value_str: str) -> str:
        return PARAM.sub(
            lambda m: value_int if m.group(2) in ("int", "id") else value_str, route.path
        )

    return sorted({fill("999999999", "x" * 300), fill(HUGE, "%00%2F..%5C")})


def query(value: str | None) -> dict[str, str]:
    """Every field set to ``value``, or (None) each field to another of the odd values."""
    if value is None:
        return {name: ODD[i % len(ODD)] for i, name in enumerate(FIELDS)}
    return dict.fromkeys(FIELDS, value)


GETS: tuple[tuple[str | None, bool], ...] = (
    ("", False),  # (the fields' value, sent as htmx)
    ("", True),
    (HUGE, False),
    (HUGE, True),
    ("²", False),
    (None, False),
    (LONG, False),
)


async def sweep_as(client: httpx.AsyncClient, routes: list[Route], token: str | None) -> list[str]:
    failures: list[str] = []

    async def ask(method: str, path: str, value: str | None = "", **kw: object) -> None:
        sent = kw.get("params") or kw.get("data")
        label = f"{method} {path} {'HX ' if kw.get('headers') else ''}{value if sent else ''!r}"
        try:
            response = await asyncio.wait_for(
                client.request(method, path, **kw),  # type: ignore[arg-type]
                1 if path in STREAMS else 20,
            )
        except TimeoutError:
            if path not in STREAMS:  # a stream that started streams on: that is its 200
                failures.append(f"{label} → no answer")
            return
        if response.status_code >= 500:
            failures.append(f"{label} → {response.status_code}")

    for route in routes:
        methods = route.methods or {"GET"}
        for path in paths(route):
            if "GET" in methods:
                for value, htmx in GETS:
                    if path in STREAMS and (value, htmx) != (HUGE, False):
                        continue  # a stream that starts costs the timeout: ask once
                    headers = {"HX-Request": "true"} if htmx else {}
                    params = query(value) if value != "" else {}
                    await ask("GET", path, value, params=params, headers=headers)
            if "GET" in methods and path not in STREAMS:  # HEAD: a GET without the body
                await ask("HEAD", path, HUGE, params=query(HUGE))
            if "POST" in methods and path not in SKIPPED_POSTS and token:
                for value, htmx in ((HUGE, False), ("²", True), (None, False), (LONG, False)):
                    headers = {"HX-Request": "true"} if htmx else {}
                    data = {**query(value), "csrf_token": token}
                    await ask("POST", path, value, data=data, headers=headers)
            for wrong in ("PUT", "POST" if "POST" not in methods else "GET"):
                if wrong == "GET" and path in STREAMS:
                    continue
                headers = {"X-CSRF-Token": token} if token else {}
                await ask(wrong, path, headers=headers)
    return failures


async def test_no_route_answers_500_to_absurd_input(app: Starlette) -> None:
    # The app's errors are answered (500), not raised into the test, so all are listed.
    transport = httpx.ASGITransport(
        app=app, client=("203.0.113.9", 50000), raise_app_exceptions=False
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await sweep(app, client)


async def sweep(app: Starlette, client: httpx.AsyncClient) -> None:
    await factories.period()
    usernames = await factories.one_account_per_role()
    routes = [r for r in app.routes if isinstance(r, Route)]
    assert len(routes) > 80, "the sweep reads the routes from the app"
    failures = await sweep_as(client, routes, await csrf_of(client))
    for role in Role:
        client.cookies.clear()
        assert (await login(client, usernames[role])).status_code == 303, role
        token = await csrf_of(client, "/account/password")
        failures += [f"{role.value}: {f}" for f in await sweep_as(client, routes, token)]
    assert not failures, f"{len(failures)} answers were 500:\n" + "\n".join(failures[:80])
