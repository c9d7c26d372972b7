"""【考核结果】: computed part by part, incomplete parts reported, published once, mailed."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import httpx
from openpyxl import load_workbook

from models.enums import (
    AttemptStatus,
    EnrollmentStatus,
    EvaluationStatus,
    OrgKind,
    Outcome,
    Phase,
    Procedure,
    Rating,
    Role,
)
from models.exam import Attempt, Paper
from models.ops import AuditLog, OutboxMail
from models.org import Organisation
from models.period import Enrollment, Evaluation, Period, PhaseWindow, Result
from models.physician import Physician
from tests import factories
from tests.helpers import csrf_of, login, table_rows


async def took_test(period: Period, doc: Physician, score: int, **kw: object) -> None:
    enrollment = await factories.enrollment(period, doc)
    paper = await Paper.create(
        period=period, physician=doc, enrollment=enrollment, duration_minutes=60, pass_mark=60
    )
    await Attempt.create(paper=paper, status=AttemptStatus.SUBMITTED, score=score, **kw)


async def rated(period: Period, doc: Physician, ethics: Rating = Rating.PASS) -> None:
    await Evaluation.create(
        period=period,
        physician=doc,
        status=EvaluationStatus.ASSESSOR_CONFIRMED,
        work_performance=Rating.PASS,
        ethics=ethics,
        assessor_work_performance=Rating.PASS,
        assessor_ethics=ethics,
    )


async def cohort(period: Period, inst: Organisation) -> dict[str, Physician]:
    docs = {k: await factories.physician(inst, name=f"医师{k}") for k in "ABCDEFG"}
    await took_test(period, docs["A"], 80)  # passes everything
    await took_test(period, docs["B"], 50)  # below the pass mark
    await factories.enrollment(
        period, docs["C"], Procedure.SIMPLIFIED, EnrollmentStatus.ASSESSOR_APPROVED
    )
    await factories.enrollment(  # simplified, never rated: incomplete
        period, docs["D"], Procedure.SIMPLIFIED, EnrollmentStatus.ASSESSOR_APPROVED
    )
    await factories.enrollment(period, docs["E"])  # never took the test
    await took_test(period, docs["F"], 90, flagged=True)  # proctors have not decided yet
    await factories.enrollment(period, docs["G"])
    for k in "ABEF":
        await rated(period, docs[k])
    await rated(period, docs["C"], Rating.FAIL)
    await Physician.filter(id=docs["G"].id).update(institution_id=None)  # left practice
    return docs


async def act(client: httpx.AsyncClient, period: Period, **data: str) -> httpx.Response:
    path = f"/office/results?period={period.id}"
    token = await csrf_of(client, path)
    return await client.post(path, data={**data, "csrf_token": token})


async def test_compute_publish_and_see(client: httpx.AsyncClient, db: None) -> None:
    period = await factories.period()
    inst, inst_acct = await factories.org_with_account(OrgKind.INSTITUTION)
    docs = await cohort(period, inst)
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    await login(client, office.username)

    assert (await act(client, period, action="compute")).status_code == 303
    outcomes = {r.physician_id: r async for r in Result.filter(period_id=period.id).order_by("id")}
    by_name = {k: outcomes.get(d.id) for k, d in docs.items()}
    assert by_name["G"] is None  # not practising any more
    assert by_name["A"] is not None and by_name["A"].outcome == Outcome.QUALIFIED
    assert by_name["A"].test_score == 80
    for k in "BCDEF":
        found = by_name[k]
        assert found is not None and found.outcome == Outcome.UNQUALIFIED, k
    assert by_name["E"] is not None and by_name["E"].parts["业务水平测评"]["text"] == "未参加"
    assert by_name["F"] is not None and by_name["F"].parts["业务水平测评"]["passed"] is None
    assert by_name["D"] is not None and by_name["D"].parts["工作成绩"]["passed"] is None
    page = await client.get(f"/office/results?period={period.id}")
    assert "<dt>合格</dt><dd>1 人</dd>" in page.text
    assert "考核未完成 2 人" in page.text
    assert len(table_rows(page.text)) == 6
    only = await client.get(f"/office/results?period={period.id}&outcome=qualified")
    assert [r for r in table_rows(only.text) if "医师A" in r] and len(table_rows(only.text)) == 1

    # Organisations and physicians see nothing before publication.
    client.cookies.clear()
    await login(client, inst_acct.username)
    listed = await client.get("/physicians", params={"result": "qualified"})
    assert "医师A" not in listed.text
    client.cookies.clear()
    await login(client, docs["A"].id_number)
    assert "尚未公布" in (await client.get("/physician/result")).text

    client.cookies.clear()
    await login(client, office.username)
    early = await act(client, period, action="publish", accept_incomplete="yes")
    assert early.status_code == 400 and "测评尚未结束" in early.text
    await PhaseWindow.filter(period=period, phase=Phase.TEST).update(
        starts_at=datetime.now(UTC) - timedelta(days=3),
        ends_at=datetime.now(UTC) - timedelta(days=2),
    )
    unsure = await act(client, period, action="publish")
    assert unsure.status_code == 400 and "仍有 2 名医师的考核未完成" in unsure.text
    assert (await Period.get(id=period.id)).results_published_at is None
    mails_before = await OutboxMail.filter(subject__contains="考核结果已公布").count()
    done = await act(client, period, action="publish", accept_incomplete="yes")
    assert done.status_code == 303
    assert (await Period.get(id=period.id)).results_published_at is not None
    sent = await OutboxMail.filter(subject__contains="考核结果已公布").count()
    assert sent - mails_before == 6
    assert await OutboxMail.filter(to=docs["A"].email, body__contains="合格").exists()
    again = await act(client, period, action="publish", accept_incomplete="yes")
    assert again.status_code == 400 and "已发布" in again.text
    recompute = await act(client, period, action="compute")
    assert recompute.status_code == 400 and "不能重新计算" in recompute.text
    actions = [a.action async for a in AuditLog.filter(object_type="period", object_id=period.id)]
    assert actions.count("results_published") == 1

    exported = await client.get(
        f"/office/results/export.xlsx?period={period.id}&outcome=unqualified"
    )
    sheet = load_workbook(io.BytesIO(exported.content)).active
    assert sheet is not None
    names = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert sorted(str(n) for n in names) == ["医师B", "医师C", "医师D", "医师E", "医师F"]

    client.cookies.clear()
    await login(client, docs["C"].id_number)
    mine = await client.get("/physician/result")
    assert "不合格" in mine.text and "执业机构审核、考核机构复核均通过" in mine.text
    client.cookies.clear()
    await login(client, inst_acct.username)
    listed = await client.get("/physicians", params={"result": "qualified"})
    assert "医师A" in listed.text and "医师B" not in listed.text


async def test_only_the_office(client: httpx.AsyncClient, db: None) -> None:
    period = await factories.period()
    for role, username in (await factories.one_account_per_role()).items():
        if role == Role.OFFICE:
            continue
        client.cookies.clear()
        await login(client, username)
        assert (await client.get(f"/office/results?period={period.id}")).status_code == 403
    assert not await Enrollment.filter(period_id=period.id).exists()
