"""在线监考 in real headless Chromium: after the server's live updates the per-prefecture and
per-institution tables still put every number under its own column header."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette

from models.enums import AttemptStatus, OrgKind
from models.exam import Attempt, Paper
from models.period import Period
from tests import factories
from tests.browser import Page, chromium, serve
from tests.helpers import login
from web.sessions import COOKIE

# Header text → cell text of each body row of a table, as the reader sees them.
TABLE = """(function (id) {
  var table = document.getElementById(id);
  var heads = Array.from(table.tHead.rows[0].cells).map(function (c) { return c.textContent; });
  return Array.from(table.tBodies[0].rows).map(function (row) {
    var cells = {};
    Array.from(row.cells).forEach(function (c, i) { cells[heads[i]] = c.textContent; });
    return cells;
  });
})"""


async def attempts(period: Period, statuses: list[AttemptStatus]) -> None:
    """One attempt per status, nobody connected, at one new institution of Urumqi."""
    inst = await factories.organisation(OrgKind.INSTITUTION, name="乌鲁木齐市监考测试医院")
    for status in statuses:
        doc = await factories.physician(inst)
        enrollment = await factories.enrollment(period, doc)
        paper = await Paper.create(
            period=period,
            physician=doc,
            enrollment=enrollment,
            duration_minutes=60,
            pass_mark=60,
        )
        await Attempt.create(paper=paper, status=status)


async def updated(page: Page) -> None:
    """Wait for the first server-sent update to have been drawn."""
    for _ in range(100):
        if str(
            await page.evaluate("document.getElementById('live-status').textContent")
        ).startswith("实时"):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the monitor never received a live update")


@pytest.mark.parametrize("width", [375, 1280])
async def test_live_tables_keep_numbers_under_their_headers(
    app: Starlette, client: httpx.AsyncClient, width: int
) -> None:
    period = await factories.period()
    # 1 disconnected (waiting, no socket), 2 submitted, 3 ended: sorted keys would put them
    # under 答题中, 已交卷 and 人脸识别中 instead.
    await attempts(
        period,
        [AttemptStatus.WAITING] + [AttemptStatus.SUBMITTED] * 2 + [AttemptStatus.ENDED] * 3,
    )
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    await login(client, office.username)
    async with serve(app) as base, chromium(width) as page:
        await page.call("Network.setCookie", name=COOKIE, value=client.cookies[COOKIE], url=base)
        await page.goto(base + "/proctor/")
        await updated(page)
        await asyncio.sleep(1.2)  # a second push redraws the tables again
        expected = {
            "候考中": "0",
            "答题中": "0",
            "人脸识别中": "0",
            "已断开": "1",
            "已交卷": "2",
            "已终止": "3",
            "待处理异常": "0",
        }
        for table, key in (("by-prefecture", "地（州、市）"), ("by-institution", "执业机构")):
            rows = await page.evaluate(f"{TABLE}({table!r})")
            mine = [r for r in rows if r[key] in ("乌鲁木齐市", "乌鲁木齐市监考测试医院")]
            assert len(mine) == 1, rows
            assert {k: v for k, v in mine[0].items() if k != key} == expected, mine[0]
        assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
