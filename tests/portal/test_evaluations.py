"""【医师考核】: the institution rates, veto items force 不合格, the assessor confirms or amends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from models.enums import EvaluationStatus, OrgKind, Phase, Procedure, Rating, Role
from models.ops import AuditLog
from models.org import Organisation
from models.period import Evaluation, Period, PhaseWindow
from models.physician import Physician
from tests import factories
from tests.helpers import csrf_of, login, table_rows


async def setting() -> tuple[Period, Organisation, str, str, list[Physician]]:
    """A period in its evaluation window, an assessor, an institution and two enrolled doctors."""
    period = await factories.period()
    await factories.open_window(period, Phase.EVALUATION)
    assessor, assessor_acct = await factories.org_with_account(OrgKind.ASSESSOR)
    inst = await factories.organisation(OrgKind.INSTITUTION, assessor=assessor)
    inst_acct = await factories.account(Role.INSTITUTION, inst)
    doctors = [await factories.physician(inst) for _ in range(2)]
    for doc in doctors:
        await factories.enrollment(period, doc)
    return period, inst, inst_acct.username, assessor_acct.username, doctors


async def send(client: httpx.AsyncClient, path: str, data: dict[str, Any]) -> httpx.Response:
    token = await csrf_of(client, path)
    return await client.post(path, data={**data, "csrf_token": token})


async def test_rate_confirm_and_lock(client: httpx.AsyncClient, db: None) -> None:
    period, _, inst_user, assessor_user, (doc, other) = await setting()
    late = await factories.physician(await Organisation.get(id=doc.institution_id))
    await login(client, inst_user)
    listed = table_rows((await client.get("/institution/evaluations")).text)
    assert any(doc.name in row for row in listed) and not any(late.name in r for r in listed)
    assert (await client.get(f"/institution/evaluations/{late.id}")).status_code == 404

    sheet = f"/institution/evaluations/{doc.id}"
    page = await client.get(sheet)
    assert "医师定期考核表" in page.text and "红包" in page.text
    missing = await send(client, sheet, {"ethics": "pass"})
    assert missing.status_code == 400 and "请评定工作成绩" in missing.text
    no_reason = await send(client, sheet, {"work_performance": "fail", "ethics": "pass"})
    assert no_reason.status_code == 400 and "请填写考核意见" in no_reason.text
    assert not await Evaluation.filter(physician_id=doc.id, status="institution_rated").exists()

    ok = await send(client, sheet, {"work_performance": "pass", "ethics": "pass", "comment": ""})
    assert ok.status_code == 303
    first = await Evaluation.get(physician_id=doc.id, period_id=period.id)
    assert first.status == EvaluationStatus.INSTITUTION_RATED and first.ethics == Rating.PASS
    # Revised before the assessor looks: the veto forces 职业道德 不合格 whatever was chosen.
    vetoed = {"work_performance": "pass", "ethics": "pass", "vetoes": "red_envelope"}
    assert (await send(client, sheet, vetoed)).status_code == 400  # a veto needs the facts
    vetoed["comment"] = "2026年3月收受患者红包，经查属实"
    assert (await send(client, sheet, vetoed)).status_code == 303
    revised = await Evaluation.get(id=first.id)
    assert revised.ethics == Rating.FAIL and revised.ethics_vetoes == ["red_envelope"]

    client.cookies.clear()
    await login(client, assessor_user)
    queue = table_rows((await client.get("/assessor/evaluations")).text)
    assert any(doc.name in row for row in queue) and not any(other.name in r for r in queue)
    review = f"/assessor/evaluations/{doc.id}"
    page = await client.get(review)
    assert "收受患者及其亲友财物" in page.text
    stale = await send(client, review, {"decision": "confirm", "seen": first.rated_at.isoformat()})
    assert stale.status_code == 409 or "重新复核" in stale.text
    amend = {"decision": "amend", "work_performance": "fail", "ethics": "fail"}
    refused = await send(client, review, {**amend, "seen": revised.rated_at.isoformat()})
    assert refused.status_code == 400 and "复核意见" in refused.text
    amend.update(seen=revised.rated_at.isoformat(), assessor_comment="工作量未达要求，改为不合格")
    assert (await send(client, review, amend)).status_code == 303
    done = await Evaluation.get(id=first.id)
    assert done.status == EvaluationStatus.ASSESSOR_CONFIRMED
    assert (done.assessor_work_performance, done.assessor_ethics) == (Rating.FAIL, Rating.FAIL)
    twice = await send(client, review, {"decision": "confirm", "seen": amend["seen"]})
    assert twice.status_code in (400, 409) and "已复核" in twice.text

    client.cookies.clear()
    await login(client, inst_user)
    locked = await send(client, sheet, {"work_performance": "pass", "ethics": "pass"})
    assert "复核" in locked.text
    assert (await Evaluation.get(id=first.id)).assessor_ethics == Rating.FAIL
    actions = [
        (a.action, a.to_state)
        async for a in AuditLog.filter(object_type="evaluation", object_id=first.id).order_by("id")
    ]
    assert actions == [
        ("evaluation_rated", "institution_rated"),
        ("evaluation_rated", "institution_rated"),
        ("evaluation_amended", "assessor_confirmed"),
    ]


async def test_bulk_rating_and_confirmation(client: httpx.AsyncClient, db: None) -> None:
    period, _, inst_user, assessor_user, doctors = await setting()
    simplified = await factories.physician(await Organisation.get(id=doctors[0].institution_id))
    await factories.enrollment(period, simplified, Procedure.SIMPLIFIED)
    ids = [str(d.id) for d in (*doctors, simplified)]
    await login(client, inst_user)
    token = await csrf_of(client, "/institution/evaluations")
    done = await client.post(
        "/institution/evaluations/bulk", data={"physician": ids, "csrf_token": token}
    )
    assert done.status_code == 303
    assert await Evaluation.filter(period_id=period.id, ethics=Rating.PASS).count() == 3

    client.cookies.clear()
    await login(client, assessor_user)
    token = await csrf_of(client, "/assessor/evaluations")
    await client.post("/assessor/evaluations/bulk", data={"physician": ids, "csrf_token": token})
    confirmed = Evaluation.filter(period_id=period.id, status=EvaluationStatus.ASSESSOR_CONFIRMED)
    assert await confirmed.count() == 3
    again = await client.post(
        "/assessor/evaluations/bulk", data={"physician": ids[:1], "csrf_token": token}
    )
    assert again.status_code == 303
    assert "未处理" in (await client.get("/assessor/evaluations")).text


async def test_window_and_jurisdiction(client: httpx.AsyncClient, db: None) -> None:
    period, inst, inst_user, assessor_user, (doc, _) = await setting()
    _, outsider = await factories.org_with_account(OrgKind.INSTITUTION, "653100")
    _, outsider_assessor = await factories.org_with_account(OrgKind.ASSESSOR, "653100")
    for username in (outsider.username, outsider_assessor.username):
        client.cookies.clear()
        await login(client, username)
        kind = "institution" if username == outsider.username else "assessor"
        assert (await client.get(f"/{kind}/evaluations/{doc.id}")).status_code == 404
        assert doc.name not in (await client.get(f"/{kind}/evaluations?state=")).text
    client.cookies.clear()
    await login(client, assessor_user)
    assert (await client.get(f"/institution/evaluations/{doc.id}")).status_code == 403

    # Outside the evaluation window the sheet is read-only and a post changes nothing.
    await PhaseWindow.filter(period=period, phase=Phase.EVALUATION).update(
        starts_at=datetime.now(UTC) + timedelta(days=3),
        ends_at=datetime.now(UTC) + timedelta(days=9),
    )
    client.cookies.clear()
    await login(client, inst_user)
    sheet = f"/institution/evaluations/{doc.id}"
    assert "只能查看" in (await client.get(sheet)).text
    shut = await send(client, sheet, {"work_performance": "pass", "ethics": "pass"})
    assert shut.status_code == 400 and "不在工作成绩和职业道德评定时间内" in shut.text
    assert not await Evaluation.filter(physician_id=doc.id).exclude(status="draft").exists()
    assert inst.id == doc.institution_id
