"""【统计分析】: the figures of a small known data set, per prefecture and per institution, for
the chosen period; the chart, the .xlsx export and the jurisdiction."""

from __future__ import annotations

import io

import httpx
import pytest_asyncio
from bs4 import BeautifulSoup
from openpyxl import load_workbook
from starlette.applications import Starlette

from models.enums import (
    AttemptStatus,
    CourseCategory,
    EnrollmentStatus,
    OrgKind,
    Outcome,
    Procedure,
    RegistrationStatus,
    Role,
)
from models.exam import Attempt, Paper
from models.org import Organisation, Prefecture
from models.period import Enrollment, Period, Result
from models.physician import Physician
from models.training import Course, Lesson, LessonProgress
from tests import factories
from tests.helpers import login, table_rows

BAYINGOLIN, AKSU = "652800", "652900"
HEADERS = "注册人数 注册审核通过 一般程序报名 简易程序报名 培训完成 参加测评 测评合格 考核合格"


async def enroll(
    period: Period,
    doc: Physician,
    procedure: Procedure,
    status: EnrollmentStatus = EnrollmentStatus.SUBMITTED,
    active: bool = True,
) -> Enrollment:
    assert doc.institution_id is not None
    return await Enrollment.create(
        period=period,
        physician=doc,
        institution_id=doc.institution_id,
        procedure=procedure,
        status=status,
        is_active=active,
    )


async def sit(
    period: Period, enrollment: Enrollment, score: int | None, status: AttemptStatus
) -> None:
    paper = await Paper.create(
        period=period,
        physician_id=enrollment.physician_id,
        enrollment=enrollment,
        duration_minutes=60,
        pass_mark=period.pass_mark,
    )
    await Attempt.create(paper=paper, status=status, score=score)


async def study(period: Period, doc: Physician, lessons: list[Lesson], *seconds: int) -> None:
    for lesson, credited in zip(lessons, seconds, strict=False):
        await LessonProgress.create(
            physician=doc, lesson=lesson, period=period, seconds_credited=credited
        )


async def result(period: Period, doc: Physician, outcome: Outcome) -> None:
    await Result.create(period=period, physician=doc, procedure=Procedure.GENERAL, outcome=outcome)


async def known_data() -> dict[str, object]:
    """Bayingolin: 康复医院 (4 physicians and one in the staging area), 人民医院 (2);
    Aksu: 第一人民医院 (1). The training requirement is 2 class hours (5400 s)."""
    old = await factories.period()
    period = await factories.period()
    await Period.filter(id=period.id).update(required_hours=2, pass_mark=60)
    period = await Period.get(id=period.id)
    course = await Course.create(
        title="医师法", category=CourseCategory.PUBLIC_REQUIRED, class_hours=4
    )
    lessons = [await Lesson.create(course=course, title=f"第{n}讲", minutes=90) for n in (1, 2)]
    a1 = await factories.organisation(OrgKind.INSTITUTION, BAYINGOLIN, name="巴州康复医院")
    a2 = await factories.organisation(OrgKind.INSTITUTION, BAYINGOLIN, name="巴州人民医院")
    b1 = await factories.organisation(OrgKind.INSTITUTION, AKSU, name="阿克苏第一人民医院")

    d1 = await factories.physician(a1)
    e1 = await enroll(period, d1, Procedure.GENERAL)
    await study(period, d1, lessons, 5400)
    await sit(period, e1, 80, AttemptStatus.SUBMITTED)
    await result(period, d1, Outcome.QUALIFIED)

    d2 = await factories.physician(a1)
    e2 = await enroll(period, d2, Procedure.GENERAL)
    await study(period, d2, lessons, 3000)
    await sit(period, e2, 40, AttemptStatus.SUBMITTED)
    await result(period, d2, Outcome.UNQUALIFIED)

    d3 = await factories.physician(a1)
    await enroll(period, d3, Procedure.SIMPLIFIED, EnrollmentStatus.INSTITUTION_REJECTED)
    await study(period, d3, lessons, 3000, 3000)  # two lessons make the 2 hours

    await factories.physician(a1, RegistrationStatus.PENDING)
    staged = await factories.physician(None, RegistrationStatus.REJECTED)
    await Physician.filter(id=staged.id).update(prefecture_id=a1.prefecture_id)

    d5 = await factories.physician(a2)
    await enroll(period, d5, Procedure.SIMPLIFIED, EnrollmentStatus.ASSESSOR_APPROVED)
    await result(period, d5, Outcome.QUALIFIED)

    d6 = await factories.physician(a2)
    e6 = await enroll(period, d6, Procedure.GENERAL, active=False)
    await sit(period, e6, None, AttemptStatus.WAITING)

    f1 = await factories.physician(b1)
    await sit(period, await enroll(period, f1, Procedure.GENERAL), 60, AttemptStatus.SUBMITTED)
    await enroll(old, f1, Procedure.SIMPLIFIED)
    return {"period": period, "old": old, "a1": a1, "a2": a2, "b1": b1}


def row_of(rows: list[str], name: str) -> str:
    found = [r for r in rows if r.startswith(name + " ")]
    assert len(found) == 1, (name, rows)
    return found[0].removeprefix(name + " ")


@pytest_asyncio.fixture(scope="module")
async def known(app: Starlette) -> dict[str, object]:
    """The module's data set, built once: every test reads its figures, none adds to them."""
    return await known_data()


async def test_statistics_of_a_known_data_set(
    client: httpx.AsyncClient, known: dict[str, object]
) -> None:
    period, old = known["period"], known["old"]
    assert isinstance(period, Period) and isinstance(old, Period)
    bayingolin = await Prefecture.get(code=BAYINGOLIN)
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    await login(client, office.username)

    page = await client.get("/office/statistics")
    assert page.status_code == 200 and "统计分析" in page.text and period.name in page.text
    assert HEADERS in " ".join(
        th.get_text() for th in BeautifulSoup(page.text, "html.parser").select("thead th")
    )
    rows = table_rows(page.text)
    assert len(rows) == 14
    assert row_of(rows, "巴音郭楞蒙古自治州") == "6 5 2 1 2 2 1 2"
    assert row_of(rows, "阿克苏地区") == "1 1 1 0 0 1 1 0"
    soup = BeautifulSoup(page.text, "html.parser")
    svg = soup.select_one("figure.chart svg")
    assert svg is not None and svg["role"] == "img"
    assert svg.select_one("title") is not None and svg.select_one("desc") is not None
    bars = [t.get_text() for t in svg.select("rect > title")]
    assert "巴音郭楞蒙古自治州 注册审核通过：5 人" in bars
    assert "巴音郭楞蒙古自治州 报名：3 人" in bars
    assert "阿克苏地区 测评合格：1 人" in bars

    earlier = table_rows((await client.get("/office/statistics", params={"period": old.id})).text)
    assert row_of(earlier, "阿克苏地区") == "1 1 0 1 0 0 0 0"

    drill = await client.get("/office/statistics", params={"prefecture": bayingolin.id})
    rows = table_rows(drill.text)
    assert row_of(rows, "巴州康复医院") == "4 3 2 0 2 2 1 1"
    assert row_of(rows, "巴州人民医院") == "2 2 0 1 0 0 0 1"
    total = BeautifulSoup(drill.text, "html.parser").select_one("tfoot tr")
    assert total is not None
    assert total.get_text(" ", strip=True) == "巴音郭楞蒙古自治州合计 6 5 2 1 2 2 1 2"
    searched = await client.get(
        "/office/statistics",
        params={"prefecture": bayingolin.id, "q": "人民"},
        headers={"HX-Request": "true"},
    )
    assert "<html" not in searched.text
    assert [r.split()[0] for r in table_rows(searched.text)] == ["巴州人民医院"]

    exported = await client.get(
        "/office/statistics/export.xlsx", params={"period": period.id, "prefecture": bayingolin.id}
    )
    assert exported.status_code == 200
    sheet = load_workbook(io.BytesIO(exported.content)).active
    assert sheet is not None
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[1][0] == "名称" and values[1][1:] == HEADERS.split()
    assert ["巴州康复医院", 4, 3, 2, 0, 2, 2, 1, 1] in values
    assert values[-1] == ["巴音郭楞蒙古自治州合计", 6, 5, 2, 1, 2, 2, 1, 2]
    overview = await client.get("/office/statistics/export.xlsx")
    sheet = load_workbook(io.BytesIO(overview.content)).active
    assert sheet is not None
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert len(values) == 2 + 14 + 1 and values[-1][0] == "合计"

    for odd in ("999999", "²", "1" * 40):
        response = await client.get("/office/statistics", params={"prefecture": odd})
        assert response.status_code == 404


async def test_commission_sees_its_own_prefecture(
    client: httpx.AsyncClient, known: dict[str, object]
) -> None:
    bayingolin = await Prefecture.get(code=BAYINGOLIN)
    aksu = await Prefecture.get(code=AKSU)
    _, commission = await factories.org_with_account(OrgKind.COMMISSION, BAYINGOLIN)
    await login(client, commission.username)
    page = await client.get("/commission/statistics")
    assert page.status_code == 200
    rows = table_rows(page.text)
    assert row_of(rows, "巴州康复医院") == "4 3 2 0 2 2 1 1"
    assert not any(r.startswith("阿克苏") for r in rows)
    own = await client.get("/commission/statistics", params={"prefecture": bayingolin.id})
    assert own.status_code == 200
    for path in ("/commission/statistics", "/commission/statistics/export.xlsx"):
        assert (await client.get(path, params={"prefecture": aksu.id})).status_code == 404
    exported = await client.get("/commission/statistics/export.xlsx")
    sheet = load_workbook(io.BytesIO(exported.content)).active
    assert sheet is not None
    names = [r[0] for r in sheet.iter_rows(values_only=True)]
    assert "巴州康复医院" in names and "阿克苏第一人民医院" not in names
    assert (await client.get("/office/statistics")).status_code == 403


async def test_other_roles_are_refused(client: httpx.AsyncClient, known: dict[str, object]) -> None:
    institution = known["a1"]
    assert isinstance(institution, Organisation)
    acct = await factories.account(Role.INSTITUTION, institution)
    await login(client, acct.username)
    for path in ("/office/statistics", "/commission/statistics", "/office/statistics/export.xlsx"):
        assert (await client.get(path)).status_code == 403


def test_chart_axis_has_round_ticks() -> None:
    from portal.statistics import axis

    assert [axis(v) for v in (1, 4, 5, 45, 100, 101, 99_999)] == [
        (1, 1),
        (1, 4),
        (2, 6),
        (20, 60),
        (50, 100),
        (50, 150),
        (50_000, 100_000),
    ]
