"""The 温馨提示 guide on the physician's home page, 【考核结果】 and 【操作说明】."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from bs4 import BeautifulSoup

from models.enums import (
    EnrollmentStatus,
    EvaluationStatus,
    OrgKind,
    Outcome,
    Phase,
    Procedure,
    Rating,
    RegistrationStatus,
)
from models.period import Enrollment, Evaluation, PhaseWindow, Result
from models.physician import Physician
from models.training import Course, Lesson, LessonProgress
from tests import factories
from tests.helpers import csrf_of, login


def guide(html: str) -> list[tuple[str, str]]:
    soup = BeautifulSoup(html, "html.parser")
    return [
        (
            li.select_one(".step-title").get_text(strip=True),
            li.select_one(".step-state").get_text(strip=True),
        )
        for li in soup.select("ol.guide li")
    ]


async def test_steps_in_order_with_their_state(client: httpx.AsyncClient, db: None) -> None:
    period = await factories.period()
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    await login(client, doc.id_number)
    steps = guide((await client.get("/")).text)
    assert [title for title, _ in steps] == [
        "注册审核",
        "考试报名",
        "培训",
        "考前练习",
        "业务水平测评",
        "工作成绩和职业道德评定",
        "考核结果",
    ]
    states = dict(steps)
    assert states["注册审核"] == "审核通过"
    assert states["考试报名"].startswith("未报名（报名时间：")
    assert states["培训"] == "已完成 0/36 课时；报名成功后方可参加培训，请先到【考试报名】报名"
    assert states["考前练习"].startswith("报名成功后方可使用考前练习")
    assert states["业务水平测评"].startswith("未报名一般程序，不能参加（测评时间：")
    assert states["考核结果"] == "尚未公布"

    await Enrollment.create(
        period=period, physician=doc, institution=inst, procedure=Procedure.GENERAL
    )
    course = await Course.create(title="医师法解读", category="public_required", class_hours=4)
    lesson = await Lesson.create(course=course, title="第一讲", minutes=90)
    await LessonProgress.create(
        physician=doc, lesson=lesson, period=period, seconds_credited=2 * 45 * 60 + 100
    )
    states = dict(guide((await client.get("/")).text))
    assert states["考试报名"] == "一般程序 · 已报名"
    assert states["培训"].startswith("已完成 2/36 课时；当前不在培训时间内")
    assert states["考前练习"].startswith("可不限次数练习")
    assert states["业务水平测评"].startswith("未开始（测评时间：")
    # No registered photo: the guide says beforehand that the face checks cannot pass, and
    # how to get one.
    assert "您还没有注册照片" in states["业务水平测评"] and "【更换照片】" in states["业务水平测评"]
    await Physician.filter(id=doc.id).update(face_encoding=b"\x00" * 1024)
    states = dict(guide((await client.get("/")).text))
    assert "注册照片" not in states["业务水平测评"]


async def test_results_only_after_publication(client: httpx.AsyncClient, db: None) -> None:
    period = await factories.period()
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    await Result.create(
        period=period,
        physician=doc,
        procedure=Procedure.GENERAL,
        outcome=Outcome.QUALIFIED,
        test_score=86,
        parts={
            "业务水平测评": {"passed": True, "text": "86 分（合格线 60 分）"},
            "工作成绩": {"passed": True, "text": "合格"},
            "职业道德": {"passed": True, "text": "合格"},
        },
    )
    await login(client, doc.id_number)
    before = await client.get("/physician/result")
    assert "尚未公布" in before.text and "86 分" not in before.text
    period.results_published_at = datetime.now(UTC)
    await period.save()
    after = await client.get("/physician/result")
    assert "合格" in after.text and "86 分" in after.text and "职业道德" in after.text
    assert dict(guide((await client.get("/")).text))["考核结果"] == "已公布"


async def test_help_page_is_for_physicians(client: httpx.AsyncClient, db: None) -> None:
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    await login(client, doc.id_number)
    page = await client.get("/physician/help")
    assert page.status_code == 200
    assert len(re.findall(r"<h2>", page.text)) >= 6 and "人脸识别" in page.text


def actions(html: str) -> dict[str, str]:
    """Step title → the action it offers ("" when none)."""
    soup = BeautifulSoup(html, "html.parser")
    found = {}
    for li in soup.select("ol.guide li"):
        link = li.select_one(".step-action")
        found[li.select_one(".step-title").get_text(strip=True)] = (
            link.get_text(strip=True) if link else ""
        )
    return found


async def test_each_action_only_when_it_can_be_taken(client: httpx.AsyncClient, db: None) -> None:
    """No 进入测评 for a physician who is not enrolled, no 去报名 once the window closed."""
    period = await factories.period()
    await factories.open_window(period, Phase.TEST)
    inst = await factories.organisation(OrgKind.INSTITUTION)
    rejected = await factories.physician(None, RegistrationStatus.REJECTED)
    await login(client, rejected.id_number)
    offered = actions((await client.get("/")).text)
    assert offered["业务水平测评"] == "" and offered["考试报名"] == ""
    assert offered["注册审核"] == "查看个人资料"
    states = dict(guide((await client.get("/")).text))
    assert states["考试报名"].startswith("注册审核通过后方可报名")
    assert states["业务水平测评"].startswith("未报名一般程序，不能参加")

    late = await factories.physician(inst)
    await PhaseWindow.filter(period=period, phase=Phase.REGISTRATION).update(
        starts_at=datetime.now(UTC) - timedelta(days=30),
        ends_at=datetime.now(UTC) - timedelta(days=2),
    )
    client.cookies.clear()
    await login(client, late.id_number)
    html = (await client.get("/")).text
    assert actions(html)["考试报名"] == "" and actions(html)["业务水平测评"] == ""
    assert "本期报名已结束（报名时间：" in dict(guide(html))["考试报名"]

    enrolled = await factories.physician(inst)
    await factories.enrollment(period, enrolled)
    client.cookies.clear()
    await login(client, enrolled.id_number)
    html = (await client.get("/")).text
    assert actions(html)["业务水平测评"] == "进入测评"
    assert dict(guide(html))["业务水平测评"].startswith("进行中（测评时间：")


async def test_results_show_the_reasons_and_only_periods_taken_part_in(
    client: httpx.AsyncClient, db: None
) -> None:
    past = await factories.period()
    past.results_published_at = datetime.now(UTC)
    await past.save()
    period = await factories.period()
    await PhaseWindow.filter(period=period, phase=Phase.TEST).update(
        starts_at=datetime.now(UTC) - timedelta(days=3),
        ends_at=datetime.now(UTC) - timedelta(days=2),
    )
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    await factories.enrollment(
        period, doc, Procedure.SIMPLIFIED, EnrollmentStatus.ASSESSOR_APPROVED
    )
    await Evaluation.create(
        period=period,
        physician=doc,
        status=EvaluationStatus.ASSESSOR_CONFIRMED,
        work_performance=Rating.PASS,
        ethics=Rating.FAIL,
        ethics_vetoes=["red_envelope"],
        institution_comment="2026年3月收受患者红包500元",
        assessor_work_performance=Rating.PASS,
        assessor_ethics=Rating.FAIL,
    )
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    await login(client, office.username)
    token = await csrf_of(client, f"/office/results?period={period.id}")
    published = await client.post(
        f"/office/results?period={period.id}",
        data={"action": "publish", "accept_incomplete": "yes", "csrf_token": token},
    )
    assert published.status_code == 303

    client.cookies.clear()
    await login(client, doc.id_number)
    page = (await client.get("/physician/result")).text
    assert past.name not in page and "本期无您的考核结果" not in page
    assert period.name in page
    assert "不合格（否决项：在诊疗活动中索要、收受患者及其亲友财物" in page
    assert "考核意见：2026年3月收受患者红包500元" in page
