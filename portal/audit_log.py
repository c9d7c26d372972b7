"""【操作日志】: the office browses the audit log, newest first, filtered by action, actor,
object, date (Beijing days) and the text of the reason."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.queryset import QuerySet

from core.numbers import as_int
from models.enums import (
    AttemptStatus,
    EnrollmentStatus,
    EvaluationStatus,
    Outcome,
    RegistrationStatus,
    ReviewStatus,
    Role,
)
from models.ops import AuditLog
from portal import audit_text
from web.endpoint import LOCAL_ZONE, render, requires
from web.pagination import paginate

# Every action recorded by the code (grep "audit.record("); an unknown one is shown raw.
ACTIONS = {
    "login": "登录",
    "login_locked": "登录失败次数过多被锁定",
    "logout": "退出登录",
    "password_changed": "修改密码",
    "password_reset_requested": "申请通过邮箱找回密码",
    "password_reset": "通过邮箱链接重置密码",
    "physician_password_reset": "执业机构重置医师密码",
    "physician_photo_replaced": "执业机构更换医师照片",
    "org_password_reset": "重置机构账号密码",
    "org_info_updated": "修改机构信息",
    "org_contact_updated": "修改联系人信息",
    "registration_submitted": "提交注册",
    "registration_resubmitted": "重新提交注册",
    "registration_duplicate": "已注册的身份证号再次注册（已邮件提示本人）",
    "registration_institution_changed": "审核前更正执业机构",
    "registration_approved": "注册审核通过",
    "registration_rejected": "注册审核未通过",
    "profile_updated": "修改个人资料",
    "enrolled": "考试报名",
    "enrollment_reviewed": "报名资格审核",
    "transfer_requested": "人员调出申请",
    "transfer_approved": "同意调入",
    "transfer_rejected": "不同意调入",
    "filing_requested": "提交备案申请",
    "filing_approved": "备案审核通过",
    "filing_rejected": "备案审核未通过",
    "institution_updated": "修改执业机构",
    "evaluation_rated": "执业机构评定",
    "evaluation_confirmed": "考核机构复核确认",
    "evaluation_amended": "考核机构复核修改",
    "results_computed": "计算考核结果",
    "results_published": "公布考核结果",
    "period_created": "新建考核周期",
    "period_updated": "修改考核周期参数",
    "period_windows_updated": "设置考核阶段时间",
    "period_made_current": "设为本期考核",
    "course_created": "新建课程",
    "course_updated": "修改课程",
    "course_deleted": "删除课程",
    "course_published": "发布课程",
    "course_unpublished": "停止发布课程",
    "lesson_created": "新建课时",
    "lesson_updated": "修改课时",
    "lesson_deleted": "删除课时",
    "credits_applied": "申请学分",
    "questions_imported": "导入试题",
    "question_created": "新增试题",
    "question_edited": "修改试题",
    "question_deleted": "删除试题",
    "question_retired": "停用试题",
    "question_reactivated": "恢复使用试题",
    "face_check_approved": "监考人工通过人脸识别",
    "attempt_ended": "监考终止测评",
    "proctor_message": "监考发送消息",
    "attempt_review_accept": "异常复核：认可成绩",
    "attempt_review_void": "异常复核：成绩作废",
    "data_exported": "导出数据",
}
OBJECT_TYPES = {
    "account": "账号",
    "physician": "医师",
    "organisation": "机构",
    "transfer": "人员调动",
    "filing": "备案",
    "enrollment": "考试报名",
    "evaluation": "医师定期考核表",
    "result": "考核结果",
    "period": "考核周期",
    "course": "课程",
    "lesson": "课时",
    "question": "试题",
    "creditapplication": "学分申请",
    "attempt": "业务水平测评",
    "facecheck": "人脸识别记录",
}
STATES: dict[str, str] = {"current": "本期考核", "failed": "未通过"}
for _enum in (
    RegistrationStatus,
    EnrollmentStatus,
    EvaluationStatus,
    Outcome,
    AttemptStatus,
    ReviewStatus,  # last: the generic words win for pending / approved / rejected
):
    STATES |= {m.value: m.label for m in _enum}
FILTERS = ("action", "actor", "object_type", "object_id", "date_from", "date_to", "q")
PAGE_SIZE = 50


def parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def day_start(day: date) -> datetime:
    """00:00 of a Beijing day, in UTC."""
    return datetime.combine(day, time(0), LOCAL_ZONE).astimezone(UTC)


def filtered(chosen: dict[str, str]) -> tuple[QuerySet[AuditLog], dict[str, str]]:
    qs = AuditLog.all()
    errors: dict[str, str] = {}
    if chosen["action"]:
        qs = qs.filter(action=chosen["action"])
    if chosen["actor"]:
        qs = qs.filter(actor_label__icontains=chosen["actor"])
    if chosen["object_type"]:  # (at most the column's 40 characters: longer fails the query)
        qs = qs.filter(object_type=chosen["object_type"][:40])
    if chosen["object_id"]:
        raw = chosen["object_id"]
        if (number := as_int(raw)) is not None:
            qs = qs.filter(object_id=number)
        else:
            errors["object_id"] = "对象编号应为数字"
    days: dict[str, date] = {}
    for key in ("date_from", "date_to"):
        if chosen[key]:
            found = parse_day(chosen[key])
            if found is None:
                errors[key] = "日期格式应为 年-月-日"
            else:
                days[key] = found
    if "date_from" in days and "date_to" in days and days["date_from"] > days["date_to"]:
        errors["date_to"] = "结束日期不能早于开始日期"
    elif not errors:
        if "date_from" in days:
            qs = qs.filter(created_at__gte=day_start(days["date_from"]))
        if "date_to" in days:
            qs = qs.filter(created_at__lt=day_start(days["date_to"] + timedelta(days=1)))
    if chosen["q"]:
        qs = qs.filter(reason__icontains=chosen["q"])
    return qs.order_by("-created_at", "-id"), errors


async def choices() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The actions and object types to filter by: the known ones and any others logged."""
    present = {
        str(a)
        for a in await AuditLog.all().order_by("action").distinct().values_list("action", flat=True)
    }
    actions = [(a, ACTIONS.get(a, a)) for a in sorted(set(ACTIONS) | present)]
    logged = (
        await AuditLog.all()
        .order_by("object_type")
        .distinct()
        .values_list("object_type", flat=True)
    )
    types = {str(t) for t in logged}
    objects = [(t, OBJECT_TYPES.get(t, t)) for t in sorted((set(OBJECT_TYPES) | types) - {""})]
    return actions, objects


@requires(Role.OFFICE)
async def audit_page(request: Request) -> Response:
    chosen = {k: request.query_params.get(k, "").strip()[:60] for k in FILTERS}
    qs, errors = filtered(chosen)
    page = await paginate(request, qs.select_related("actor"), size=PAGE_SIZE)
    names = audit_text.Names()
    for e in page.items:
        audit_text.want_entry(names, e.object_type, e.object_id, e.detail)
    await names.load()
    rows = [
        {
            "entry": e,
            "action": ACTIONS.get(e.action, e.action),
            "object": OBJECT_TYPES.get(e.object_type, e.object_type),
            "object_name": audit_text.object_text(names, e.object_type, e.object_id),
            "from": STATES.get(e.from_state, e.from_state),
            "to": STATES.get(e.to_state, e.to_state),
            "detail": audit_text.detail_text(names, e.detail, e.object_type),
        }
        for e in page.items
    ]
    actions, objects = await choices()
    context = {
        "page": page,
        "rows": rows,
        "chosen": chosen,
        "errors": errors,
        "actions": actions,
        "objects": objects,
        "query": "&".join(f"{k}={quote(v)}" for k, v in chosen.items() if v),
    }
    return render(
        request,
        "office/audit.html",
        context,
        block="results",
        status_code=400 if errors else 200,
    )


routes = [Route("/office/audit", audit_page)]
