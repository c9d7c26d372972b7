"""The 温馨提示 guide on the physician's home page, 【考核结果】 and 【操作说明】."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
from bs4 import BeautifulSoup

import factories
from conftest import login
from models.enums import OrgKind, Outcome, Procedure
from models.period import Enrollment, Result
from models.training import Course, Lesson, LessonProgress


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
    assert states["培训"] == "已完成 0/36 课时"
    assert states["考前练习"] == "可不限次数练习"
    assert states["业务水平测评"].startswith("未开始")
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
    assert states["培训"] == "已完成 2/36 课时"


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
