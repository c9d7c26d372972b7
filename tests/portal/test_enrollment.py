"""【考试报名】 and 【报名资格审核】 across the physician, the institution and the assessor."""

from __future__ import annotations

import httpx

from core.errors import CONFLICT
from models.enums import EnrollmentStatus, OrgKind, Procedure, RegistrationStatus
from models.ops import AuditLog, OutboxMail
from models.period import Enrollment
from tests import factories
from tests.helpers import csrf_of, login

REPORT = "本周期内本人认真履行医师职责，坚持以患者为中心，" * 3


async def enroll(client: httpx.AsyncClient, **data: str) -> httpx.Response:
    token = await csrf_of(client, "/physician/enrollment")
    fields = {"confirm_profile": "yes", **data, "csrf_token": token}
    return await client.post("/physician/enrollment", data=fields)


async def review(
    client: httpx.AsyncClient, role: str, enrollment_id: int, decision: str, reason: str = ""
) -> httpx.Response:
    token = await csrf_of(client, f"/{role}/enrollments")
    return await client.post(
        f"/{role}/enrollments/{enrollment_id}/review",
        data={"decision": decision, "reason": reason, "csrf_token": token},
    )


async def test_general_enrollment_once(client: httpx.AsyncClient, db: None) -> None:
    period = await factories.period()
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    await login(client, doc.id_number)
    page = await client.get("/physician/enrollment")
    assert "点击报名" in page.text and period.name in page.text
    assert (await enroll(client, procedure="general")).status_code == 303
    row = await Enrollment.get(physician_id=doc.id)
    assert row.procedure == Procedure.GENERAL and row.status == EnrollmentStatus.SUBMITTED
    assert "一般程序报名成功" in (await client.get("/physician/enrollment")).text
    again = await enroll(client, procedure="general")
    assert again.status_code == 400 and "无需重复报名" in again.text
    assert await Enrollment.filter(physician_id=doc.id).count() == 1
    assert await AuditLog.filter(action="enrolled", object_id=row.id).exists()


async def test_outside_the_window_says_when(client: httpx.AsyncClient, db: None) -> None:
    await factories.period(registration_open=False)
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    await login(client, doc.id_number)
    assert "当前不在报名时间内" in (await client.get("/physician/enrollment")).text
    response = await enroll(client, procedure="general")
    assert response.status_code == 400 and "报名时间：" in response.text and "年" in response.text
    assert not await Enrollment.filter(physician_id=doc.id).exists()


async def test_profile_must_be_confirmed(client: httpx.AsyncClient, db: None) -> None:
    await factories.period()
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    await login(client, doc.id_number)
    page = await client.get("/physician/enrollment")
    assert "核对个人资料" in page.text and doc.practice_scope in page.text
    response = await enroll(client, procedure="general", confirm_profile="")
    assert response.status_code == 400 and "个人资料已核对" in response.text
    assert not await Enrollment.filter(physician_id=doc.id).exists()


async def test_pending_registration_cannot_enroll(client: httpx.AsyncClient, db: None) -> None:
    await factories.period()
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst, RegistrationStatus.PENDING)
    await login(client, doc.id_number)
    response = await enroll(client, procedure="general")
    assert response.status_code == 400 and "注册审核通过后方可报名" in response.text


async def test_simplified_through_both_levels_then_general(
    client: httpx.AsyncClient, db: None
) -> None:
    await factories.period()
    assessor, assessor_acct = await factories.org_with_account(OrgKind.ASSESSOR)
    inst, inst_acct = await factories.org_with_account(OrgKind.INSTITUTION, assessor=assessor)
    doc = await factories.physician(inst, name="古丽娜尔·艾买提")
    await login(client, doc.id_number)

    bad = await enroll(client, procedure="simplified", years_in_practice="x", report="短")
    assert bad.status_code == 400
    assert "执业年限" in bad.text and "无不良执业记录" in bad.text and "50–3000" in bad.text
    assert not await Enrollment.filter(physician_id=doc.id).exists()

    ok = await enroll(
        client, procedure="simplified", years_in_practice="12", no_bad_record="yes", report=REPORT
    )
    assert ok.status_code == 303
    application = await Enrollment.get(physician_id=doc.id)
    assert application.procedure == Procedure.SIMPLIFIED
    assert application.application["years_in_practice"] == 12

    client.cookies.clear()
    await login(client, assessor_acct.username)
    assert "古丽娜尔" not in (await client.get("/assessor/enrollments")).text  # not yet its turn
    early = await review(client, "assessor", application.id, "approve")
    assert early.status_code == 303
    assert CONFLICT in (await client.get("/assessor/enrollments")).text
    await application.refresh_from_db()
    assert application.status == EnrollmentStatus.SUBMITTED

    client.cookies.clear()
    await login(client, inst_acct.username)
    assert "古丽娜尔·艾买提" in (await client.get("/institution/enrollments")).text
    await review(client, "institution", application.id, "approve", "符合条件")
    await application.refresh_from_db()
    assert application.status == EnrollmentStatus.INSTITUTION_APPROVED
    late = await review(client, "institution", application.id, "reject", "晚了")
    assert late.status_code == 303
    assert "可能已被处理" in (await client.get("/institution/enrollments")).text

    client.cookies.clear()
    await login(client, assessor_acct.username)
    no_reason = await review(client, "assessor", application.id, "reject")
    assert no_reason.status_code == 303
    assert "请填写不通过的原因" in (await client.get("/assessor/enrollments")).text
    await review(client, "assessor", application.id, "reject", "述职报告内容不完整")
    await application.refresh_from_db()
    assert application.status == EnrollmentStatus.ASSESSOR_REJECTED
    assert application.assessor_reason == "述职报告内容不完整"

    mails = await OutboxMail.filter(to=doc.email).order_by("id")
    assert ["已通过执业机构审核" in mails[0].subject, "未通过" in mails[1].subject] == [True, True]
    assert "一般程序报名" in mails[1].body

    client.cookies.clear()
    await login(client, doc.id_number)
    page = await client.get("/physician/enrollment")
    assert "述职报告内容不完整" in page.text and "点击报名" in page.text
    assert "提交简易程序申请" not in page.text
    again = await enroll(
        client, procedure="simplified", years_in_practice="12", no_bad_record="yes", report=REPORT
    )
    assert again.status_code == 400 and "请在报名时间内选择一般程序报名" in again.text
    assert (await enroll(client, procedure="general")).status_code == 303
    active = await Enrollment.get(physician_id=doc.id, is_active=True)
    assert active.procedure == Procedure.GENERAL
    reviews = await AuditLog.filter(
        action="enrollment_reviewed", object_id=application.id
    ).order_by("id")
    assert [r.to_state for r in reviews] == ["institution_approved", "assessor_rejected"]


async def test_other_organisations_get_404(client: httpx.AsyncClient, db: None) -> None:
    await factories.period()
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    application = await Enrollment.create(
        period=await factories.period(),
        physician=doc,
        institution=inst,
        procedure=Procedure.SIMPLIFIED,
        application={"report": REPORT},
    )
    _, other = await factories.org_with_account(OrgKind.INSTITUTION)
    await login(client, other.username)
    assert (await review(client, "institution", application.id, "approve")).status_code == 404
    assert (await client.get("/assessor/enrollments")).status_code == 403
    await application.refresh_from_db()
    assert application.status == EnrollmentStatus.SUBMITTED


async def test_a_pending_simplified_application_is_not_shown_as_enrolled(
    client: httpx.AsyncClient, db: None
) -> None:
    """The physician, the guide and the institution's list say what it waits for."""
    await factories.period()
    inst, inst_acct = await factories.org_with_account(OrgKind.INSTITUTION)
    doc = await factories.physician(inst, name="简易待审医师")
    await login(client, doc.id_number)
    response = await enroll(
        client, procedure="simplified", years_in_practice="12", no_bad_record="yes", report=REPORT
    )
    assert response.status_code == 303
    page = (await client.get("/physician/enrollment")).text
    assert "简易程序 · 已提交申请，待执业机构审核" in page and "已报名" not in page
    home = (await client.get("/")).text
    assert "待执业机构审核" in home and "已报名" not in home

    client.cookies.clear()
    await login(client, inst_acct.username)
    listed = (await client.get("/physicians", params={"q": "简易待审医师"})).text
    assert "简易程序（已提交申请，待执业机构审核）" in listed and "已报名" not in listed
    enrollment = await Enrollment.get(physician_id=doc.id)
    assert (await review(client, "institution", enrollment.id, "approve")).status_code == 303
    listed = (await client.get("/physicians", params={"q": "简易待审医师"})).text
    assert "执业机构审核通过，待考核机构复核" in listed
