"""The demo as a newcomer meets it: every physician has a registration photo made from
../shared/faces, the log-in table has an enrolled physician, ``xjdk demo-exam-now`` opens
the test, and that physician passes the live start check with the clip of the same man; the
demo 简易程序 applications have their fields filled."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from bs4 import BeautifulSoup
from starlette.applications import Starlette

from cli import DEMO_PASSWORD
from core.settings import Settings
from examhall import protocol as p
from examhall.client import HallClient
from face import samples
from models.enums import Phase, Procedure
from models.exam import FaceCheck
from models.org import Account
from models.period import Enrollment, Period
from models.physician import Physician
from tests import factories
from tests.helpers import login
from tools.demo import photos as demo_photos
from tools.demo.exam import exam_physician, open_test_now
from tools.demo.seed import seed_demo
from web.sessions import COOKIE


async def test_a_newcomer_sits_the_demo_test(
    app: Starlette, settings: Settings, client: httpx.AsyncClient, base_url: str, worker: Any
) -> None:
    photos = await demo_photos.prepare(settings)
    assert len(photos) == len(demo_photos.SOURCES)  # each one frontal face
    summary = await seed_demo(factories.password_hash(DEMO_PASSWORD), photos=photos)

    # Every physician has a photo, encoded like a registration photo, and the files exist.
    assert not await Physician.filter(photo="").exists()
    assert not await Physician.filter(face_encoding__isnull=True).exists()
    for found in photos:
        assert (settings.media_path / found.path).is_file()
    assert await FaceCheck.filter(stage="registration").count() == summary.physicians

    # The log-in table names the enrolled physician who sits the test.
    sitter = await exam_physician()
    assert sitter is not None and sitter.photo == photos[0].path  # the clip's frame
    listed = [x for x in summary.logins if x.username == sitter.id_number]
    assert listed and "已报名一般程序" in listed[0].note and "demo-exam-now" in listed[0].note

    # 注册审核 of the log-in institution shows real pictures.
    reviewer = await Account.filter(organisation_id=sitter.institution_id).first()
    assert reviewer is not None
    await login(client, reviewer.username, DEMO_PASSWORD)
    registrations = BeautifulSoup(
        (await client.get("/institution/registrations")).text, "html.parser"
    )
    pictures = [img["src"] for img in registrations.select(".review img")]
    assert pictures
    for src in pictures:
        picture = await client.get(src)
        assert picture.status_code == 200 and picture.content[:2] == b"\xff\xd8"

    # The demo 简易程序 applications carry what the form asks for.
    simplified = await Enrollment.filter(procedure=Procedure.SIMPLIFIED).all()
    assert simplified
    for enrollment in simplified:
        application = enrollment.application
        assert isinstance(application["years_in_practice"], int)
        assert application["no_bad_record"] is True and len(application["report"]) >= 50
    queue = BeautifulSoup((await client.get("/institution/enrollments")).text, "html.parser")
    facts = [dd.get_text() for dd in queue.select(".review dd")]
    assert any(f.endswith(" 年") and f[:-2].isdigit() for f in facts), facts
    assert all(r.get_text().strip() for r in queue.select(".review .report"))

    # xjdk demo-exam-now: the window is open now, and the physician starts the test.
    opened = await open_test_now(datetime.now(UTC))
    assert opened.physician is not None and opened.physician.id == sitter.id
    period = await Period.get(is_current=True).prefetch_related("windows")
    windows = {w.phase: w for w in period.windows}
    assert windows[Phase.REGISTRATION].ends_at <= windows[Phase.TEST].starts_at
    assert windows[Phase.TEST].ends_at <= windows[Phase.RESULTS].starts_at
    assert windows[Phase.EVALUATION].ends_at <= windows[Phase.RESULTS].starts_at

    client.cookies.clear()
    await login(client, sitter.id_number, DEMO_PASSWORD)
    home = BeautifulSoup((await client.get("/")).text, "html.parser")
    assert "进入测评" in [a.get_text(strip=True) for a in home.select(".step-action")]
    hall = HallClient(base_url, f"{COOKIE}={client.cookies[COOKIE]}")
    welcome = await hall.connect()
    assert welcome["check"] == p.START
    await hall.expect(p.CHECK, stage=p.START)
    assert hall.challenge is not None
    asked = [a["code"] for a in hall.challenge["actions"]]
    await hall.burst(samples.burst_for(asked) or [])  # the clip's man turns as asked
    result = await hall.expect(p.CHECK_RESULT)
    assert result["passed"], result
    await hall.expect(p.PAPER)
    await hall.close()
