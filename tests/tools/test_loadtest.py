"""``xjdk loadtest`` at toy scale: a real uvicorn serving the app, a real face worker, the
real photos; the tool prepares its physicians, plays a short window and reconciles every
acknowledged answer with the database. The big runs are benchmarks (README), not tests."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from cli import build_parser
from core.settings import Settings
from models.exam import Answer, Attempt, FaceCheck
from models.org import Account, Organisation
from models.period import Period
from models.physician import Physician
from tests import factories
from tests.sitting import question_bank
from tools import loadtest
from tools.loadtest.prepare import MARK, period_name
from tools.loadtest.report import Recorder, summary


def options(url: str, **changes: Any) -> loadtest.Options:
    small = loadtest.Options(
        physicians=6,
        ramp=1.0,
        duration=8.0,
        pace=1.0,
        urls=[url],
        questions=10,
        reconnect_share=0.5,
        hidden_share=0.5,
        logins=2,
        login_concurrency=2,
        seed=7,
    )
    return dataclasses.replace(small, **changes)


async def test_a_window_with_faces(
    app: Starlette, settings: Settings, base_url: str, worker: Any, tmp_path: Path
) -> None:
    await question_bank()
    demo = await factories.period()  # the period that is current outside the rehearsal
    report = await loadtest.run(
        settings,
        app.state.redis,
        app.state.face,
        options(base_url, hidden_share=1.0, reconnect_share=0.0),
    )
    f = report["figures"]
    assert f["error_count"] == 0, f["errors"]
    assert report["reconciliation"]["ok"], report["reconciliation"]
    assert report["reconciliation"]["lost"] == 0 and report["reconciliation"]["acked"] > 6
    assert f["failed_connections"] == 0 and f["peak_sessions"] == 6
    assert f["face_ms"]["start"]["count"] == 6  # every physician, real frames
    assert f["face_ms"]["random"]["count"] == 6  # the server's random check, inside the run
    assert f["face_ms"]["submit"]["count"] == 6
    assert f["counts"]["submitted"] == 6 and f["counts"]["page_hidden"] == 6
    assert f["error_count"] == 0, f["errors"]
    assert report["logins"]["failed"] == 0 and report["logins"]["count"] == 2
    assert (await Period.get(is_current=True)).id == demo.id  # given back at the end

    attempts = await Attempt.filter(paper__period_id=report["meta"]["period_id"])
    assert len(attempts) == 6 and all(a.status == "submitted" for a in attempts)
    assert not any(a.flagged for a in attempts)

    json_path, html_path = loadtest.save(report, str(tmp_path / "run"))
    page = await asyncio.to_thread(Path(html_path).read_text)
    assert page.count("<svg") >= 7 and "<script" not in page and "通过" in page
    assert '"reconciliation"' in await asyncio.to_thread(Path(json_path).read_text)


async def test_socket_tier_alone(
    app: Starlette, settings: Settings, base_url: str, tmp_path: Path
) -> None:
    """``no_face``: the checks are passed in advance, no frame is sent, no worker needed."""
    await question_bank()
    run = options(base_url, urls=[base_url, base_url], no_face=True, logins=0)
    report = await loadtest.run(settings, app.state.redis, app.state.face, run)
    assert report["reconciliation"]["ok"], report["reconciliation"]
    f = report["figures"]
    assert f["answers_acked"] > 6 and f["error_count"] == 0, f["errors"]
    assert f["counts"]["dropped"] >= 1 and f["reconnections"]["count"] >= f["counts"]["dropped"]
    assert all(v["count"] == 0 for v in f["face_ms"].values())
    period = report["meta"]["period_id"]
    assert await FaceCheck.filter(attempt__paper__period_id=period, worker="loadtest").count() == 12
    made = report["meta"]["created"]  # the report says what the run left behind
    assert made["period"].startswith(MARK) and made["institution"].startswith(MARK)
    assert made["physicians"] == made["attempts"] == run.physicians
    assert made["face_checks_waived"] == 12
    assert f"{run.physicians} 名医师" in summary(report)


async def test_generator_processes_and_a_login_storm(
    app: Starlette, settings: Settings, base_url: str
) -> None:
    """``--processes 2``: the simulated physicians are shared by two spawned generator
    processes whose records are merged; ``--login-storm``: each logs in for real first."""
    await question_bank()
    run = options(
        base_url, processes=2, no_face=True, logins=0, login_storm=True, reconnect_share=0.0
    )
    report = await loadtest.run(settings, app.state.redis, app.state.face, run)
    f = report["figures"]
    assert report["reconciliation"]["ok"], report["reconciliation"]
    assert f["error_count"] == 0, f["errors"]
    assert f["connections"]["count"] == 6 and f["answers_acked"] > 6
    assert f["login_storm"]["count"] == 6 and f["login_storm"]["failed"] == 0
    assert report["meta"]["options"]["processes"] == 2


async def test_rehearsal_rows_stay_out_of_real_pages(
    app: Starlette, settings: Settings, base_url: str, client: Any
) -> None:
    """Whether or not --cleanup has run, the load test's period, institution and physicians
    are in no list, figure or export of the real platform."""
    from tests.helpers import login, table_rows

    await question_bank()
    _, office = await factories.org_with_account(factories.OrgKind.OFFICE)
    await login(client, office.username)
    before = table_rows((await client.get("/office/statistics")).text)
    report = await loadtest.run(
        settings, app.state.redis, app.state.face, options(base_url, no_face=True, logins=0)
    )
    rehearsal = report["meta"]["period_id"]
    assert (await Period.get(id=rehearsal)).rehearsal
    periods = (await client.get("/office/periods")).text
    assert MARK not in periods
    assert (await client.get(f"/office/periods/{rehearsal}")).status_code == 404
    assert table_rows((await client.get("/office/statistics")).text) == before  # same figures
    listed = (await client.get("/physicians", params={"q": "压测医师"})).text
    assert not [row for row in table_rows(listed) if "压测医师" in row]
    assert MARK not in (await client.get("/office/results")).text
    assert MARK not in (await client.get("/commission/institutions")).text


async def test_reconciliation_names_lost_and_unexpected_answers(
    app: Starlette, settings: Settings, base_url: str
) -> None:
    await question_bank()
    run = options(base_url, no_face=True, logins=0, duration=3.0)
    report = await loadtest.run(settings, app.state.redis, app.state.face, run)
    answer = await Answer.filter(attempt__paper__period_id=report["meta"]["period_id"]).first()
    assert answer is not None
    rec = Recorder(0.0)
    rec.acked = {answer.attempt_id: {answer.item_id: answer.seq}}
    rec.sent = {answer.attempt_id: {answer.item_id: answer.seq}}
    assert (await loadtest.reconcile(rec))["ok"]

    rec.acked[answer.attempt_id][answer.item_id] = answer.seq + 1  # acknowledged, not stored
    rec.sent[answer.attempt_id][answer.item_id] = answer.seq + 1
    found = await loadtest.reconcile(rec)
    assert not found["ok"] and found["lost"] == 1
    assert found["lost_examples"][0]["stored"] == answer.seq

    rec.acked[answer.attempt_id][answer.item_id] = answer.seq - 1  # a seq never sent
    rec.sent[answer.attempt_id][answer.item_id] = answer.seq - 1
    assert (await loadtest.reconcile(rec))["unexpected"] == 1


async def test_cleanup_removes_the_rehearsal_only(
    app: Starlette, settings: Settings, base_url: str
) -> None:
    await question_bank()
    await factories.period()  # the real current period
    run = options(base_url, no_face=True, logins=0, duration=3.0)
    await loadtest.run(settings, app.state.redis, app.state.face, run)
    current = await Period.get(is_current=True)
    others = await Physician.exclude(name__startswith="压测医师").count()
    removed = await loadtest.cleanup(app.state.redis)
    assert removed["periods"] >= 1 and removed["physicians"] > 0
    assert not await Period.filter(name__startswith=loadtest.MARK).exists()
    assert not await Organisation.filter(name__startswith=loadtest.MARK).exists()
    assert not await Account.filter(email__endswith="@loadtest.invalid").exists()
    assert await Physician.all().count() == others
    assert (await Period.get(is_current=True)).id == current.id
    assert not await app.state.redis.keys("hall:s:*")


def test_the_command_and_its_defaults() -> None:
    """Sized for a 2-core machine running `make run`: a few minutes, 200 physicians."""
    args = build_parser().parse_args(["loadtest"])
    assert (args.physicians, args.ramp, args.duration, args.pace) == (200, 60, 240, 20)
    assert args.ramp + args.duration < 8 * 60 and not args.no_face and not args.cleanup
    args = build_parser().parse_args(
        ["loadtest", "--url", "http://a:1", "--url", "http://b:2", "--no-face", "--cleanup"]
    )
    assert args.urls == ["http://a:1", "http://b:2"] and args.no_face and args.cleanup


def test_the_rehearsal_period_is_named_in_beijing_time() -> None:
    """00:15 on 30 November in Beijing is 16:15 on the 29th in UTC."""
    late = datetime(2026, 11, 29, 16, 15, tzinfo=UTC)
    name = period_name(7, late)
    assert "11-30 00:15" in name and name.startswith(MARK) and "#7" in name
