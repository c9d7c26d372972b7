"""【申请学分】: once, only after the required hours; the certificate; the public check of a
code, rate-limited per address."""

from __future__ import annotations

import re

import httpx
from bs4 import BeautifulSoup
from starlette.applications import Starlette

from models.enums import CourseCategory, OrgKind
from models.ops import AuditLog
from models.period import Period
from models.physician import Physician
from models.training import Course, CreditApplication, Lesson, LessonProgress
from portal import credits
from rules import credits as credit_rules
from rules import training as study
from tests import factories
from tests.helpers import csrf_of, login
from web.endpoint import LOCAL_ZONE


async def studied(period: Period, doc: Physician, category: CourseCategory, hours: int) -> None:
    course = await Course.create(
        title=f"{category.label}课程", category=category, class_hours=hours
    )
    lesson = await Lesson.create(course=course, title="全部内容", minutes=hours * 45)
    await LessonProgress.create(
        physician=doc,
        lesson=lesson,
        period=period,
        seconds_credited=hours * study.SECONDS_PER_CLASS_HOUR,
    )


async def setting() -> tuple[Period, Physician]:
    period = await factories.period()
    doc = await factories.physician(
        await factories.organisation(OrgKind.INSTITUTION), name="买买提·艾力"
    )
    await factories.enrollment(period, doc)
    return period, doc


async def apply(client: httpx.AsyncClient) -> httpx.Response:
    token = await csrf_of(client, "/physician/credits")
    return await client.post("/physician/credits", data={"csrf_token": token})


async def test_apply_once_after_the_required_hours(client: httpx.AsyncClient, db: None) -> None:
    period, doc = await setting()
    await login(client, doc.id_number)
    await studied(period, doc, CourseCategory.PUBLIC_REQUIRED, 20)
    page = await client.get("/physician/credits")
    assert "已完成 20 / 36 课时" in page.text and "还差 16 课时" in page.text
    early = await apply(client)
    assert early.status_code == 400 and "尚未完成培训" in early.text
    assert not await CreditApplication.exists(physician_id=doc.id)

    await studied(period, doc, CourseCategory.PUBLIC_ELECTIVE, 16)
    period.category_minimums = {"professional_required": 4}
    await period.save()
    short = await apply(client)
    assert short.status_code == 400 and "专业必修课还差 4 课时" in short.text
    assert "已完成 36/36 课时（专业必修课还差 4 课时）" in (await client.get("/")).text
    assert not await CreditApplication.exists(physician_id=doc.id)

    await studied(period, doc, CourseCategory.PROFESSIONAL_REQUIRED, 4)
    home = await client.get("/")
    assert 'href="/physician/credits">申请学分' in home.text
    assert (await apply(client)).status_code == 303
    found = await CreditApplication.get(physician_id=doc.id, period_id=period.id)
    assert found.credits == 6 and found.hours == 40
    assert re.fullmatch(f"[{credit_rules.CODE_ALPHABET}]{{16}}", found.verification_code)
    assert await AuditLog.exists(action="credits_applied", object_id=found.id)
    page = await client.get("/physician/credits")
    assert "已申请" in page.text and credits.shown_code(found.verification_code) in page.text

    again = await apply(client)
    assert again.status_code == 400 and "不能重复申请" in again.text
    assert await CreditApplication.filter(physician_id=doc.id).count() == 1
    assert "已申请学分" in (await client.get("/")).text


async def test_certificate_is_printable_and_only_ones_own(
    client: httpx.AsyncClient, db: None
) -> None:
    period, doc = await setting()
    application = await CreditApplication.create(
        physician=doc, period=period, hours=36, credits=6, verification_code=credit_rules.new_code()
    )
    await login(client, doc.id_number)
    page = await client.get(f"/physician/credits/{application.id}/certificate")
    assert page.status_code == 200
    soup = BeautifulSoup(page.text, "html.parser")
    facts = soup.select_one(".certificate-facts").get_text(" ", strip=True)
    assert doc.name in facts and doc.masked_id_number in facts and doc.id_number not in page.text
    assert period.name in facts and "36 课时" in facts and "自治区级I类学分 6 分" in facts
    assert credits.shown_code(application.verification_code) in facts
    profile = (await client.get("/physician/profile")).text
    assert "学分记录" in profile and f"/physician/credits/{application.id}/certificate" in profile
    issued = application.issued_at.astimezone(LOCAL_ZONE)
    assert issued.strftime("%Y年%m月%d日") in facts
    assert soup.select_one("nav.menu") is None and "data-print" in page.text
    assert "http://testserver/credits/verify" in page.text

    other = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    client.cookies.clear()
    await login(client, other.id_number)
    assert (await client.get(f"/physician/credits/{application.id}/certificate")).status_code == 404
    assert doc.name not in (await client.get("/physician/credits")).text
    _, acct = await factories.org_with_account(OrgKind.OFFICE)
    client.cookies.clear()
    await login(client, acct.username)
    denied = await client.get(f"/physician/credits/{application.id}/certificate")
    assert denied.status_code == 403


async def test_public_verification_is_rate_limited(app: Starlette, db: None) -> None:
    period, doc = await setting()
    application = await CreditApplication.create(
        physician=doc, period=period, hours=36, credits=6, verification_code=credit_rules.new_code()
    )
    transport = httpx.ASGITransport(app=app, client=("198.51.100.23", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anyone:
        form = await anyone.get("/credits/verify")
        assert form.status_code == 200 and "学分证明查验" in form.text
        typed = credits.shown_code(application.verification_code).lower().replace("-", " ")
        ok = await anyone.get("/credits/verify", params={"code": typed})
        assert ok.status_code == 200 and "验证通过" in ok.text
        assert "买****力" in ok.text and doc.name not in ok.text
        assert period.name in ok.text and "自治区级I类学分 6 分" in ok.text
        part = await anyone.get(
            "/credits/verify", params={"code": typed}, headers={"HX-Request": "true"}
        )
        assert "<html" not in part.text and "验证通过" in part.text
        for n in range(credits.VERIFY_MAX_FAILURES):
            miss = await anyone.get("/credits/verify", params={"code": f"WRONG{n:02d}"})
            assert miss.status_code == 200 and "未找到" in miss.text
        blocked = await anyone.get("/credits/verify", params={"code": typed})
        assert blocked.status_code == 429 and "查询失败次数过多" in blocked.text
    other = httpx.ASGITransport(app=app, client=("198.51.100.24", 40000))
    async with httpx.AsyncClient(transport=other, base_url="http://testserver") as elsewhere:
        assert "验证通过" in (await elsewhere.get("/credits/verify", params={"code": typed})).text


def test_masked_names() -> None:
    assert credits.masked_name("张三") == "张*"
    assert credits.masked_name("张三丰") == "张*丰"
    assert credits.masked_name("买买提·艾力") == "买****力"
    assert credits.normalised_code(" abcd-efgh ") == "ABCDEFGH"
