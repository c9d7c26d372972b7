"""The exam hall page: who may open it, the protocol rendered into it, and its script."""

from __future__ import annotations

import json

import httpx
from bs4 import BeautifulSoup
from starlette.applications import Starlette

from core.settings import ROOT
from examhall import protocol as p
from examhall.client import HallClient
from examhall.pages import page_protocol
from models.enums import OrgKind, Phase, Role
from models.exam import Paper, PaperItem
from models.period import Period
from rules.papers import generate_for_period
from tests import factories
from tests.helpers import login, post_form
from tests.sitting import question_bank
from web.sessions import COOKIE

SERVER_TYPES = (
    p.WELCOME,
    p.PAPER,
    p.ACK,
    p.CHECK,
    p.CHECK_RESULT,
    p.STATE,
    p.RESULT,
    p.ERROR,
    p.NOTICE,
    p.BYE,
)


async def test_a_physician_gets_the_page(client: httpx.AsyncClient, db: None) -> None:
    doc = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    await login(client, doc.id_number)
    entry = await client.get("/physician/test")
    assert entry.status_code == 303 and entry.headers["location"] == "/examhall/"

    page = await client.get("/examhall/")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    soup = BeautifulSoup(page.text, "html.parser")
    assert soup.title is not None and "业务水平测评" in soup.title.text
    assert "考试须知" in page.text and "人脸识别" in page.text

    data = soup.select_one("script#protocol")
    assert data is not None and data.get("type") == "application/json"
    rendered = json.loads(data.string or "")
    assert rendered == page_protocol()
    assert rendered["version"] == p.VERSION and rendered["path"] == p.PATH
    for key, value in p.for_page().items():
        assert rendered[key] == value
    assert rendered["codes"]["paused"] == p.PAUSED
    assert rendered["state"]["finishing"] == p.FINISHING
    assert set(rendered["final_byes"]) == {
        p.TAKEN_OVER,
        p.DONE,
        p.ENDED_BY_PROCTOR,
        p.NOT_OPEN,
        p.NOT_ELIGIBLE,
        p.LOGGED_OUT,
    }

    scripts = [s["src"] for s in soup.select("script[src]")]
    styles = [s["href"] for s in soup.select('link[rel="stylesheet"]')]
    assert "/static/js/examhall.js" in scripts
    assert "/static/css/examhall.css" in styles
    for url in [*scripts, *styles]:
        assert str(url).startswith("/static/"), url  # no CDN
        assert (await client.get(str(url))).status_code == 200
    for needed in ("camera-video", "check-shoot", "hall-submit", "hall-save", "hall-nav"):
        assert soup.find(id=needed) is not None, needed


async def test_organisations_are_refused_and_anonymous_sent_to_log_in(
    client: httpx.AsyncClient, db: None
) -> None:
    client.cookies.clear()
    anonymous = await client.get("/examhall/")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    for role, username in (await factories.one_account_per_role()).items():
        if role == Role.PHYSICIAN:
            continue
        client.cookies.clear()
        await login(client, username)
        assert (await client.get("/examhall/")).status_code == 403, role


def test_the_script_follows_the_protocol() -> None:
    """Every server message has a handler, names come from the rendered protocol, and data
    never reaches innerHTML."""
    script = (ROOT / "static" / "js" / "examhall.js").read_text()
    names = {value: key for key, value in p.for_page()["types"].items() if key != "final"}
    for kind in SERVER_TYPES:
        assert f"handlers[T.{names[kind]}]" in script, kind
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "toBlob" in script and "image/jpeg" in script
    assert "sessionStorage" in script


async def test_the_intro_shows_what_the_paper_has_after_the_office_changes_it(
    app: Starlette, client: httpx.AsyncClient, base_url: str
) -> None:
    """Papers drawn before the office changed the count, duration or pass mark are drawn
    again (nobody has started yet): the hall's 考试须知 and the paper agree."""
    await question_bank()
    period = await factories.period()
    await Period.filter(id=period.id).update(question_count=14, pass_mark=60)
    await factories.open_window(period, Phase.TEST)
    doc = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    await factories.enrollment(period, doc)
    assert await generate_for_period(await Period.get(id=period.id)) == 1
    old = await Paper.get(period_id=period.id, physician_id=doc.id)
    assert await PaperItem.filter(paper_id=old.id).count() == 14

    _, office = await factories.org_with_account(OrgKind.OFFICE)
    await login(client, office.username)
    path = f"/office/periods/{period.id}"
    assert "已生成的试卷将作废并按新参数重新生成" in (await client.get(path)).text
    changed = {
        "name": period.name,
        "question_count": "10",
        "duration_minutes": "10",
        "pass_mark": "70",
        "waiting_room_minutes": "30",
        "face_retries": "3",
        "required_hours": "36",
        "credit_points": "6",
    }
    saved = await post_form(client, path, changed)
    assert saved.status_code == 303
    shown = (await client.get("/office/periods")).text
    assert "已按新参数重新生成试卷（原 1 份作废）" in shown
    paper = await Paper.get(period_id=period.id, physician_id=doc.id)
    assert paper.id != old.id and (paper.duration_minutes, paper.pass_mark) == (10, 70)
    assert await PaperItem.filter(paper_id=paper.id).count() == 10

    client.cookies.clear()
    await login(client, doc.id_number)
    hall = HallClient(base_url, f"{COOKIE}={client.cookies[COOKIE]}")
    welcome = await hall.connect()
    assert (welcome["question_count"], welcome["duration"], welcome["pass_mark"]) == (10, 600, 70)
    await hall.close()
