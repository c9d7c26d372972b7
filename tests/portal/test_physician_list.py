"""【考核信息查看】: filters by status, procedure, scope and result, and the .xlsx export."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
from bs4 import BeautifulSoup
from openpyxl import load_workbook

from models.enums import (
    AttemptStatus,
    EvaluationStatus,
    OrgKind,
    Outcome,
    Procedure,
    Rating,
    RegistrationStatus,
)
from models.exam import Attempt, Paper
from models.period import Enrollment, Evaluation, Period, Result
from models.physician import Physician
from models.training import Course, Lesson, LessonProgress
from tests import factories
from tests.helpers import login, table_rows
from web import xlsx


async def test_filters_and_export(client: httpx.AsyncClient, db: None) -> None:
    period = await factories.period()
    inst, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    general = await factories.physician(inst, name="一般程序医师")
    simplified = await factories.physician(inst, name="简易程序医师")
    pending = await factories.physician(inst, RegistrationStatus.PENDING, name="待审医师")
    await Enrollment.create(
        period=period, physician=general, institution=inst, procedure=Procedure.GENERAL
    )
    await Enrollment.create(
        period=period, physician=simplified, institution=inst, procedure=Procedure.SIMPLIFIED
    )
    await Result.create(
        period=period,
        physician=general,
        procedure=Procedure.GENERAL,
        outcome=Outcome.QUALIFIED,
        test_score=90,
    )
    await Result.create(
        period=period,
        physician=simplified,
        procedure=Procedure.SIMPLIFIED,
        outcome=Outcome.UNQUALIFIED,
    )
    await Period.filter(id=period.id).update(results_published_at=datetime.now(UTC))
    elsewhere = await factories.physician(
        await factories.organisation(OrgKind.INSTITUTION), name="别家医师"
    )
    await login(client, acct.username)

    def names(html: str) -> list[str]:
        return sorted(row.split()[0] for row in table_rows(html))

    everyone = await client.get("/physicians")
    assert names(everyone.text) == ["一般程序医师", "待审医师", "简易程序医师"]
    assert "一般程序（已报名）" in everyone.text and "合格" in everyone.text
    by_procedure = await client.get("/physicians", params={"procedure": "simplified"})
    assert names(by_procedure.text) == ["简易程序医师"]
    by_result = await client.get("/physicians", params={"result": "qualified"})
    assert names(by_result.text) == ["一般程序医师"]
    by_status = await client.get("/physicians", params={"status": "pending"})
    assert names(by_status.text) == ["待审医师"]
    by_scope = await client.get("/physicians", params={"scope": "外科专业"})
    assert "没有符合条件的医师" in by_scope.text

    download = await client.get("/physicians/export.xlsx", params={"result": "unqualified"})
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(download.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("姓名", "身份证号", "性别")
    assert [r[0] for r in rows[1:]] == ["简易程序医师"]
    assert rows[1][1] == simplified.id_number and rows[1][-1] == "不合格"

    everything = load_workbook(io.BytesIO((await client.get("/physicians/export.xlsx")).content))
    exported = [r[0] for r in everything.active.iter_rows(min_row=2, values_only=True)]
    assert sorted(exported) == ["一般程序医师", "待审医师", "简易程序医师"]
    assert elsewhere.name not in exported and pending.name in exported


async def test_a_physicians_page_and_export_show_the_whole_assessment(
    client: httpx.AsyncClient, db: None
) -> None:
    """Training hours, the test score, the evaluation and the result, on the physician's
    page and in the .xlsx (sized columns, named by the Beijing date)."""
    period = await factories.period()
    inst, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    doc = await factories.physician(inst, name="全程记录医师")
    enrollment = await factories.enrollment(period, doc)
    paper = await Paper.create(
        period=period, physician=doc, enrollment=enrollment, duration_minutes=60, pass_mark=60
    )
    await Attempt.create(paper=paper, status=AttemptStatus.SUBMITTED, score=87)
    course = await Course.create(title="医师法", category="public_required", class_hours=6)
    lesson = await Lesson.create(course=course, title="第一讲", minutes=300)
    await LessonProgress.create(
        physician=doc, lesson=lesson, period=period, seconds_credited=5 * 45 * 60
    )
    await Evaluation.create(
        period=period,
        physician=doc,
        status=EvaluationStatus.ASSESSOR_CONFIRMED,
        work_performance=Rating.PASS,
        ethics=Rating.PASS,
        assessor_work_performance=Rating.PASS,
        assessor_ethics=Rating.FAIL,
        assessor_comment="复核发现收受红包",
    )
    await Result.create(
        period=period, physician=doc, procedure=Procedure.GENERAL, outcome=Outcome.UNQUALIFIED
    )
    await login(client, acct.username)
    page = await client.get(f"/physicians/{doc.id}")
    facts = dict(
        zip(
            [dt.get_text() for dt in BeautifulSoup(page.text, "html.parser").select("dt")],
            [dd.get_text() for dd in BeautifulSoup(page.text, "html.parser").select("dd")],
            strict=True,
        )
    )
    assert facts["培训课时"] == "5/36 课时" and facts["业务水平测评"] == "87 分"
    assert (facts["工作成绩"], facts["职业道德"]) == ("合格", "不合格")
    assert facts["考核结果"] == "尚未公布"  # an institution sees it once published
    await Period.filter(id=period.id).update(results_published_at=datetime.now(UTC))
    assert "<dt>考核结果</dt><dd>不合格</dd>" in (await client.get(f"/physicians/{doc.id}")).text

    download = await client.get("/physicians/export.xlsx", params={"q": "全程记录医师"})
    assert quote(xlsx.dated_filename("考核信息")) in download.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(download.content)).active
    assert sheet is not None
    header, row = list(sheet.iter_rows(values_only=True))
    record = dict(zip(header, row, strict=True))
    assert record["培训课时"] == "5/36 课时" and record["业务水平测评"] == "87 分"
    assert (record["工作成绩"], record["职业道德"], record["本期考核结果"]) == (
        "合格",
        "不合格",
        "不合格",
    )
    widths = {k: v.width for k, v in sheet.column_dimensions.items()}
    assert widths["A"] >= 10 and widths["B"] >= 20  # the ID number is not cut off
    assert sheet.freeze_panes == "A2"


def test_file_names_carry_the_beijing_date() -> None:
    """00:15 on 30 November in Beijing is still the 29th in UTC."""
    late = datetime(2026, 11, 29, 16, 15, tzinfo=UTC)
    assert xlsx.dated_filename("考核信息", late) == "考核信息_20261130.xlsx"


async def test_scopes_are_grouped_by_category(client: httpx.AsyncClient, db: None) -> None:
    """全科医学专业 of 口腔 is not 全科医学专业 of 临床: the filter says which."""
    inst, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    clinical = await factories.physician(inst, name="临床全科医师")
    dental = await factories.physician(inst, name="口腔全科医师")
    await Physician.filter(id=clinical.id).update(practice_scope="全科医学专业")
    await Physician.filter(id=dental.id).update(
        practice_category="口腔", practice_scope="全科医学专业"
    )
    await login(client, acct.username)
    page = await client.get("/physicians")
    soup = BeautifulSoup(page.text, "html.parser")
    groups = {
        g["label"]: [o.get_text() for o in g.select("option")]
        for g in soup.select("select[name=scope] optgroup")
    }
    assert list(groups) == ["临床", "口腔", "公共卫生", "中医"]
    assert all(len(set(scopes)) == len(scopes) for scopes in groups.values())
    found = await client.get("/physicians", params={"scope": "口腔/全科医学专业"})
    listed = [row.split()[0] for row in table_rows(found.text)]
    assert listed == ["口腔全科医师"]
    chosen = BeautifulSoup(found.text, "html.parser").select("select[name=scope] option[selected]")
    assert [o["value"] for o in chosen] == ["口腔/全科医学专业"]
