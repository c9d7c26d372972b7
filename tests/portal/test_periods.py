"""【考核周期管理】: parameters validated next to each field, windows in Beijing time stored in UTC,
exactly one current period, exam parameters frozen once the test has begun."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx

from models.enums import OrgKind, Phase, Procedure, Role
from models.exam import Attempt, Paper
from models.ops import AuditLog
from models.period import Enrollment, Period, PhaseWindow
from tests import factories
from tests.factories import PERIOD_PARAMETERS as PARAMETERS
from tests.factories import PERIOD_WINDOWS as WINDOWS
from tests.helpers import csrf_of, login, post_form, table_rows


async def office_login(client: httpx.AsyncClient) -> None:
    _, acct = await factories.org_with_account(OrgKind.OFFICE)
    client.cookies.clear()
    await login(client, acct.username)


async def test_create_validates_every_field_and_changes_nothing(
    client: httpx.AsyncClient, db: None
) -> None:
    await office_login(client)
    assert "考核周期管理" in (await client.get("/office/periods")).text
    before = await Period.all().count()
    bad = {
        **PARAMETERS,
        "name": "",
        "question_count": "5",
        "duration_minutes": "300",
        "pass_mark": "0",
        "face_retries": "x",
        "waiting_room_minutes": "²",
        "credit_points": "６",  # a full-width digit is a digit
        "min_public_required": "40",
    }
    response = await post_form(client, "/office/periods/new", bad)
    assert response.status_code == 400
    text = response.text
    assert "请填写考核周期名称" in text
    assert "试题数量须为 10–200 之间的整数" in text
    assert "考试时长须为 10–240 之间的整数" in text
    assert "合格分数线须为 1–100 之间的整数" in text
    assert "人脸识别重试次数须为 0–10 之间的整数" in text
    assert "候考室开放时间须为 0–120 之间的整数" in text and "授予学分须为" not in text
    assert "合计（52）不能超过培训学时要求（36）" in text
    assert 'value="300"' in text  # what was typed stays in the form
    assert await Period.all().count() == before

    created = await post_form(client, "/office/periods/new", PARAMETERS)
    assert created.status_code == 303
    period = await Period.get(name=PARAMETERS["name"])
    assert created.headers["location"] == f"/office/periods/{period.id}/windows"
    assert (period.question_count, period.duration_minutes, period.pass_mark) == (100, 60, 60)
    assert period.category_minimums == {"professional_required": 12, "public_required": 6}
    assert not period.is_current
    assert await AuditLog.exists(action="period_created", object_id=period.id)

    again = await post_form(client, "/office/periods/new", PARAMETERS)
    assert again.status_code == 400 and "已有同名的考核周期" in again.text

    edited = await post_form(
        client, f"/office/periods/{period.id}", {**PARAMETERS, "pass_mark": "70"}
    )
    assert edited.status_code == 303
    assert (await Period.get(id=period.id)).pass_mark == 70
    entry = await AuditLog.get(action="period_updated", object_id=period.id)
    assert entry.detail == {"before": {"pass_mark": 60}, "after": {"pass_mark": 70}}
    assert (await client.get("/office/periods/999999")).status_code == 404


async def test_windows_round_trip_in_beijing_time(client: httpx.AsyncClient, db: None) -> None:
    await office_login(client)
    period = await Period.create(name="窗口测试周期")
    path = f"/office/periods/{period.id}/windows"
    saved = await post_form(client, path, WINDOWS)
    assert saved.status_code == 303
    test = await PhaseWindow.get(period_id=period.id, phase=Phase.TEST)
    assert test.starts_at == datetime(2026, 6, 1, 1, 0, tzinfo=UTC)  # 09:00 in Urumqi's clock
    assert test.ends_at == datetime(2026, 6, 7, 10, 0, tzinfo=UTC)
    assert await PhaseWindow.filter(period_id=period.id).count() == len(Phase)
    page = (await client.get(path)).text
    for value in WINDOWS.values():
        assert f'value="{value}"' in page
    listed = "\n".join(table_rows((await client.get("/office/periods")).text))
    assert "业务水平测评 2026-06-01 09:00 2026-06-07 18:00" in listed
    assert await AuditLog.exists(action="period_windows_updated", object_id=period.id)
    found = await client.get(
        "/office/periods", params={"q": "窗口"}, headers={"HX-Request": "true"}
    )
    assert "<html" not in found.text and "窗口测试周期" in found.text
    assert (
        "没有名称包含“无此周期”的考核周期"
        in (await client.get("/office/periods", params={"q": "无此周期"})).text
    )

    async def refused(changes: dict[str, str], message: str) -> None:
        response = await post_form(client, path, {**WINDOWS, **changes})
        assert response.status_code == 400, changes
        assert message in response.text, changes
        unchanged = await PhaseWindow.get(id=test.id)
        assert (unchanged.starts_at, unchanged.ends_at) == (test.starts_at, test.ends_at)

    await refused({"test_end": "2026-06-01T08:00"}, "结束时间须晚于开始时间")
    await refused({"test_start": "2026-02-28T09:00"}, "业务水平测评不能早于培训开始")
    await refused({"test_start": "2026-04-30T09:00"}, "须在注册报名结束之后开始")
    await refused({"test_end": "2026-06-01T09:30"}, "不能短于考试时长（60分钟）")
    await refused({"results_start": "2026-07-01T09:00"}, "结果公布须在工作成绩和职业道德评定结束后")
    await refused({"evaluation_start": "2026-02-10T09:00"}, "评定不能早于注册报名开始")
    await refused({"training_start": ""}, "请填写培训及考前练习的开始时间")
    await refused({"evaluation_end": "2026/07/15"}, "时间格式应为")

    unchanged = await post_form(client, path, WINDOWS)
    assert unchanged.status_code == 303
    assert "阶段时间没有变化" in (await client.get("/office/periods")).text


async def test_exactly_one_current_period(client: httpx.AsyncClient, db: None) -> None:
    await office_login(client)
    old = await factories.period()
    new = await factories.period()
    await Period.filter(id=new.id).update(is_current=False)
    await Period.filter(id=old.id).update(is_current=True)
    bare = await Period.create(name="未设置时间的周期")

    refused = await post_form(client, f"/office/periods/{bare.id}/current", {})
    assert refused.status_code == 303
    assert "请先设置未设置时间的周期全部阶段的时间" in (await client.get("/office/periods")).text
    assert not (await Period.get(id=bare.id)).is_current

    made = await post_form(client, f"/office/periods/{new.id}/current", {})
    assert made.status_code == 303
    assert await Period.filter(is_current=True).values_list("id", flat=True) == [new.id]
    entry = await AuditLog.get(action="period_made_current", object_id=new.id)
    assert entry.detail == {"previous": [old.id]}
    assert "已将" in (await client.get("/office/periods")).text

    await post_form(client, f"/office/periods/{old.id}/current", {})
    assert await Period.filter(is_current=True).values_list("id", flat=True) == [old.id]

    # Two offices clicking at once: one of the two wins, never both.
    token = await csrf_of(client, "/office/periods")
    await asyncio.gather(
        *(
            client.post(f"/office/periods/{p.id}/current", data={"csrf_token": token})
            for p in (new, old, new, old)
        )
    )
    assert len(await Period.filter(is_current=True).values_list("id", flat=True)) == 1


async def test_exam_parameters_freeze_once_the_test_began(
    client: httpx.AsyncClient, db: None
) -> None:
    await office_login(client)
    period = await factories.period()
    await Period.filter(id=period.id).update(is_current=False)
    institution = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(institution)
    enrollment = await Enrollment.create(
        period=period, physician=doc, institution=institution, procedure=Procedure.GENERAL
    )
    paper = await Paper.create(
        period=period, physician=doc, enrollment=enrollment, duration_minutes=60, pass_mark=60
    )
    path = f"/office/periods/{period.id}"
    assert "试卷已经生成" in (await client.get(path)).text
    await Attempt.create(paper=paper)
    page = await client.get(path)
    assert "测评参数" in page.text and "不能再修改" in page.text

    values = {**PARAMETERS, "name": period.name}
    response = await post_form(client, path, {**values, "pass_mark": "50"})
    assert response.status_code == 400
    assert "本周期已有医师参加业务水平测评，测评参数不能再修改" in response.text
    assert (await Period.get(id=period.id)).pass_mark == 60

    # The disabled inputs are not sent; the rest can still change.
    exam = ("question_count", "duration_minutes", "pass_mark", "waiting_room_minutes")
    kept = {k: v for k, v in values.items() if k not in exam}
    response = await post_form(client, path, {**kept, "face_retries": "", "credit_points": "8"})
    assert response.status_code == 303
    stored = await Period.get(id=period.id)
    assert (stored.credit_points, stored.pass_mark) == (8, 60)

    windows = f"/office/periods/{period.id}/windows"
    shown = await client.get(windows)
    moved = await post_form(client, windows, {**WINDOWS, "test_start": "2026-06-02T09:00"})
    assert shown.status_code == 200
    assert moved.status_code == 400 and "测评开始时间不能再修改" in moved.text


async def test_only_the_office(client: httpx.AsyncClient, db: None) -> None:
    _, acct = await factories.org_with_account(OrgKind.COMMISSION)
    period = await Period.create(name="权限测试周期")
    client.cookies.clear()
    await login(client, acct.username)
    assert acct.role == Role.COMMISSION
    for path in ("/office/periods", "/office/periods/new", f"/office/periods/{period.id}"):
        assert (await client.get(path)).status_code == 403
