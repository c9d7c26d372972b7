"""【课程管理】: the office's courses and lessons, validated, sanitised, audited; a course
with study progress is unpublished, never deleted; nobody else may use the pages."""

from __future__ import annotations

from typing import Any

import httpx
from bs4 import BeautifulSoup

from models.enums import OrgKind, Role
from models.ops import AuditLog
from models.training import Course, Lesson, LessonProgress
from rules import courses as catalogue
from tests import factories
from tests.helpers import csrf_of, login, table_rows

COURSE = {
    "title": "传染病防治法解读",
    "category": "public_required",
    "class_hours": "2",
    "practice_category": "",
    "practice_scope": "",
    "description": "法定传染病报告与处置",
    "sort": "0",
    "is_published": "yes",
}


async def office(client: httpx.AsyncClient) -> None:
    _, acct = await factories.org_with_account(OrgKind.OFFICE)
    client.cookies.clear()
    await login(client, acct.username)


async def send(client: httpx.AsyncClient, path: str, data: dict[str, Any]) -> httpx.Response:
    token = await csrf_of(client, path)
    return await client.post(path, data={**data, "csrf_token": token})


async def post_from(
    client: httpx.AsyncClient, page: str, path: str, data: dict[str, Any]
) -> httpx.Response:
    token = await csrf_of(client, page)
    return await client.post(path, data={**data, "csrf_token": token})


async def test_create_validate_and_edit_a_course(client: httpx.AsyncClient, db: None) -> None:
    await office(client)
    count = await Course.all().count()
    bad = await send(
        client,
        "/office/courses/new",
        {**COURSE, "title": "", "class_hours": "21", "practice_scope": "内科专业"},
    )
    assert bad.status_code == 400
    for message in ("请填写课程名称", "课时须为 1–20 的整数", "请先选择执业类别"):
        assert message in bad.text
    mismatch = await send(
        client,
        "/office/courses/new",
        {**COURSE, "practice_category": "口腔", "practice_scope": "内科专业"},
    )
    assert mismatch.status_code == 400 and "执业范围不属于口腔类别" in mismatch.text
    assert await Course.all().count() == count

    made = await send(
        client,
        "/office/courses/new",
        {**COURSE, "practice_category": "临床", "practice_scope": "内科专业"},
    )
    assert made.status_code == 303
    course = await Course.get(title=COURSE["title"])
    assert made.headers["location"] == f"/office/courses/{course.id}"
    assert course.class_hours == 2 and course.practice_scope == "内科专业" and course.is_published
    assert await AuditLog.exists(action="course_created", object_id=course.id)

    page = await client.get(f"/office/courses/{course.id}")
    assert "尚未添加课时" in page.text and "与课程 2 课时（90 分钟）不一致" in page.text
    edit = {**COURSE, "title": "传染病防治法（2025 修订）解读", "class_hours": "1"}
    edit.pop("is_published")
    assert (await send(client, f"/office/courses/{course.id}", edit)).status_code == 303
    course = await Course.get(id=course.id)
    assert course.title.startswith("传染病防治法（2025") and not course.is_published
    log = await AuditLog.get(action="course_updated", object_id=course.id)
    assert log.detail["after"]["class_hours"] == 1 and log.detail["before"]["class_hours"] == 2


async def test_lessons_are_sanitised_previewed_and_checked(
    client: httpx.AsyncClient, db: None
) -> None:
    await office(client)
    course = await Course.create(
        title="医疗质量安全核心制度", category="public_required", class_hours=1
    )
    new = f"/office/courses/{course.id}/lessons/new"
    lesson: dict[str, Any] = {
        "title": "首诊负责制度",
        "body": '<h3>要点</h3><p onclick="steal()">首诊医师负责<script>alert(1)</script></p>'
        '<a href="javascript:alert(1)">x</a><table><tr><td>表格</td></tr></table>',
        "video_url": "ftp://video.example.cn/a.mp4",
        "minutes": "30",
        "sort": "0",
    }
    bad = await send(client, new, lesson)
    assert bad.status_code == 400 and "http:// 或 https://" in bad.text
    assert "onclick" not in bad.text.split('id="preview"')[1]  # the preview is sanitised
    assert not await Lesson.exists(course_id=course.id)

    preview = await post_from(
        client,
        new,
        "/office/courses/preview",
        {**lesson, "video_url": "https://v.example.cn/1.mp4"},
    )
    assert preview.status_code == 200 and "<html" not in preview.text
    assert "<h3>要点</h3>" in preview.text and "<script" not in preview.text
    assert "onclick" not in preview.text and "javascript:" not in preview.text
    assert '<video class="lesson-video" src="https://v.example.cn/1.mp4"' in preview.text

    lesson["video_url"] = "https://www.example.cn/watch?v=1"
    assert (await send(client, new, lesson)).status_code == 303
    saved = await Lesson.get(course_id=course.id)
    assert saved.body.startswith("<h3>要点</h3><p>首诊医师负责</p>") and "script" not in saved.body
    page = await client.get(f"/office/courses/{course.id}")
    assert "首诊负责制度" in page.text and "合计 30 分钟" in page.text
    assert "与课程 1 课时（45 分钟）不一致" in page.text
    edit_page = await client.get(f"/office/courses/lessons/{saved.id}")
    assert (
        'href="https://www.example.cn/watch?v=1"' in edit_page.text
        and "<video" not in edit_page.text
    )

    changed = await send(client, f"/office/courses/lessons/{saved.id}", {**lesson, "minutes": "45"})
    assert changed.status_code == 303
    page = await client.get(f"/office/courses/{course.id}")
    assert "不一致" not in page.text
    assert await AuditLog.exists(action="lesson_updated", object_id=saved.id)
    zero = await send(client, f"/office/courses/lessons/{saved.id}", {**lesson, "minutes": "0"})
    assert zero.status_code == 400 and "学习时长须为" in zero.text
    assert (await Lesson.get(id=saved.id)).minutes == 45


async def test_list_search_filter_and_bulk_publish(client: httpx.AsyncClient, db: None) -> None:
    await office(client)
    for n in range(23):
        await Course.create(
            title=f"选修课{n:02d}", category="public_elective", class_hours=1, sort=n
        )
    await Course.create(
        title="口腔门诊感染控制",
        category="professional_required",
        class_hours=2,
        practice_category="口腔",
    )
    first = await client.get("/office/courses", params={"category": "public_elective"})
    rows = table_rows(first.text)
    assert (
        len(rows) == 20 and "第 1 / 2 页" in first.text and "category=public_elective" in first.text
    )
    second = await client.get(
        "/office/courses", params={"category": "public_elective", "page": "2"}
    )
    assert len(table_rows(second.text)) == 3
    found = await client.get(
        "/office/courses", params={"q": "感染控制"}, headers={"HX-Request": "true"}
    )
    assert "<html" not in found.text and table_rows(found.text) == [
        "口腔门诊感染控制 专业必修课 2 口腔 0 个，0 分钟 时长不符 已发布"
    ]
    dental = await client.get("/office/courses", params={"practice_category": "口腔", "q": "口腔"})
    assert len(table_rows(dental.text)) == 1

    ids = [str(c.id) for c in await Course.filter(title__startswith="选修课").limit(3)]
    none = await post_from(
        client, "/office/courses", "/office/courses/bulk", {"action": "unpublish"}
    )
    assert none.status_code == 303
    done = await post_from(
        client, "/office/courses", "/office/courses/bulk", {"action": "unpublish", "course": ids}
    )
    assert done.status_code == 303
    assert await Course.filter(id__in=ids, is_published=False).count() == 3
    assert await AuditLog.filter(action="course_unpublished", object_id__in=ids).count() == 3
    stopped = await client.get("/office/courses", params={"published": "no", "q": "选修课"})
    assert [r.endswith("已停用") for r in table_rows(stopped.text)] == [True] * 3


async def test_a_course_with_progress_is_not_deleted(client: httpx.AsyncClient, db: None) -> None:
    await office(client)
    period = await factories.period()
    doc = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    studied = await Course.create(title="已学课程", category="public_required", class_hours=1)
    lesson = await Lesson.create(course=studied, title="第一讲", minutes=45)
    await LessonProgress.create(physician=doc, lesson=lesson, period=period, seconds_credited=60)
    page = f"/office/courses/{studied.id}"
    refused = await post_from(client, page, f"{page}/delete", {})
    assert refused.status_code == 303
    assert "不能删除，请改为停用" in (await client.get(page)).text
    assert await Course.exists(id=studied.id)
    lesson_page = f"/office/courses/lessons/{lesson.id}"
    await post_from(client, lesson_page, f"{lesson_page}/delete", {})
    assert await Lesson.exists(id=lesson.id)
    assert "不能删除" in (await client.get(lesson_page)).text

    unpublished = await post_from(client, page, f"{page}/publish", {"publish": "no"})
    assert unpublished.status_code == 303
    assert not (await Course.get(id=studied.id)).is_published
    assert await LessonProgress.exists(lesson_id=lesson.id)  # the credited time stays
    assert await AuditLog.exists(action="course_unpublished", object_id=studied.id)
    await post_from(client, page, f"{page}/publish", {"publish": "yes"})
    assert (await Course.get(id=studied.id)).is_published

    empty = await Course.create(title="空课程", category="public_elective", class_hours=1)
    spare = await Lesson.create(course=empty, title="草稿", minutes=45)
    spare_page = f"/office/courses/lessons/{spare.id}"
    assert (await post_from(client, spare_page, f"{spare_page}/delete", {})).status_code == 303
    assert not await Lesson.exists(id=spare.id)
    gone = await post_from(
        client, f"/office/courses/{empty.id}", f"/office/courses/{empty.id}/delete", {}
    )
    assert gone.status_code == 303 and gone.headers["location"] == "/office/courses"
    assert not await Course.exists(id=empty.id)
    assert await AuditLog.exists(action="course_deleted", object_id=empty.id)
    assert (await client.get(f"/office/courses/{empty.id}")).status_code == 404


async def test_only_the_office_manages_courses(client: httpx.AsyncClient, db: None) -> None:
    course = await Course.create(title="仅办公室可见", category="public_required", class_hours=1)
    usernames = await factories.one_account_per_role()
    for role in (Role.PHYSICIAN, Role.INSTITUTION, Role.ASSESSOR, Role.COMMISSION):
        client.cookies.clear()
        await login(client, usernames[role])
        for path in ("/office/courses", "/office/courses/new", f"/office/courses/{course.id}"):
            assert (await client.get(path)).status_code == 403, (role, path)
        token = await csrf_of(client, "/")
        posted = await client.post(
            f"/office/courses/{course.id}/delete", data={"csrf_token": token}
        )
        assert posted.status_code == 403
    assert await Course.exists(id=course.id)


async def test_the_lesson_editor_keeps_what_it_offers(client: httpx.AsyncClient, db: None) -> None:
    """The page loads the editor from /static/vendor with the server's allow-list, and what
    the editor makes (headings 2–4, bold, italic, quotes, lists, links, tables) is kept."""
    await office(client)
    course = await Course.create(title="编辑器课程", category="public_required", class_hours=1)
    new = f"/office/courses/{course.id}/lessons/new"
    page = BeautifulSoup((await client.get(new)).text, "html.parser")
    assert page.select_one("#f-body")["data-allowed-tags"] == catalogue.editor_allow_list()
    scripts = [s["src"] for s in page.select("script[src]")]
    assert scripts.index("/static/vendor/jodit/jodit.min.js") < scripts.index(
        "/static/js/lesson-editor.js"
    )
    for asset in ("/static/vendor/jodit/jodit.min.js", "/static/vendor/jodit/jodit.min.css"):
        assert (await client.get(asset)).status_code == 200, "run make vendor"
    body = (
        "<h2>一、总则</h2><h3>（一）适用范围</h3><h4>1. 定义</h4>"
        "<p><strong>加粗</strong><b>也加粗</b><em>强调</em><i>斜体</i></p>"
        "<blockquote>引用条文</blockquote><ul><li>要点</li></ul>"
        '<table style="width:100%"><tbody><tr><th colspan="2">表头</th></tr></tbody></table>'
        '<h1>一级标题</h1><p><u>下划线</u><span style="color:red">红字</span></p>'
    )
    lesson = {"title": "格式", "body": body, "video_url": "", "minutes": "45", "sort": "0"}
    assert (await send(client, new, lesson)).status_code == 303
    saved = (await Lesson.get(course_id=course.id)).body
    for kept in (
        "<h2>一、总则</h2>",
        "<h3>（一）适用范围</h3>",
        "<h4>1. 定义</h4>",
        "<strong>加粗</strong><b>也加粗</b><em>强调</em><i>斜体</i>",
        "<blockquote>引用条文</blockquote>",
        '<table><tbody><tr><th colspan="2">表头</th></tr></tbody></table>',
    ):
        assert kept in saved, kept
    assert "<h1>" not in saved and "<u>" not in saved and "style" not in saved
    assert "一级标题" in saved and "下划线" in saved and "红字" in saved  # the text stays
