"""【题库管理】: the office imports, searches, edits and retires questions.

A question keeps its id for life. Once a paper (the test) uses it, its answer, type and
option keys are frozen (the paper's option map and the scores depend on them); wording may
still be corrected. A question used by a paper or by a practice set is never deleted, only
retired (停用): retired questions are no longer drawn. Imports, edits, retirements and deletions
are audited.
"""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from core import questions as bank
from core.errors import Conflict, DomainError, NotFound
from core.numbers import as_int, as_ints
from models.enums import QuestionCategory, QuestionStatus, QuestionType, Role
from models.exam import PaperItem, Question
from models.org import Account
from models.practice import PRACTICE_SCOPES
from models.training import PracticeAnswer
from rules import audit
from web import xlsx
from web.endpoint import CurrentUser, client_ip, redirect, render, requires, user
from web.pagination import paginate
from web.sessions import get_session

LIST_URL = "/office/questions"
FILTER_KEYS = ("q", "type", "category", "practice_category", "practice_scope", "difficulty")
ALL_SCOPES = sorted({s for scopes in PRACTICE_SCOPES.values() for s in scopes})
VERBS = {QuestionStatus.RETIRED: "停用", QuestionStatus.ACTIVE: "启用"}
SHOWN_ERRORS = 500  # rows of an import report shown on the page


async def _actor(current: CurrentUser) -> Account:
    return await Account.get(id=current.account_id)


async def usage(question_id: int) -> tuple[bool, bool]:
    """(used by a paper, used by a practice set)."""
    return (
        await PaperItem.exists(question_id=question_id),
        await PracticeAnswer.exists(question_id=question_id),
    )


async def import_questions(
    current: CurrentUser, filename: str, data: bytes, ip: str = ""
) -> tuple[int, list[bank.RowError]]:
    stored, errors = await bank.import_file(filename, data)
    if stored:
        await audit.record(
            await _actor(current), "questions_imported", ip=ip, count=stored, filename=filename
        )
    return stored, errors


async def create_question(current: CurrentUser, data: bank.QuestionData, ip: str = "") -> Question:
    other = await Question.get_or_none(fingerprint=data.fingerprint)
    if other is not None:
        raise DomainError(f"与题库中已有的题目重复（题目编号 {other.id}）", field="stem")
    try:
        question = await Question.create(**data.values())
    except IntegrityError as exc:
        raise Conflict("与题库中已有的题目重复，请刷新后查看") from exc
    await audit.record(await _actor(current), "question_created", obj=question, ip=ip)
    return question


async def update_question(
    current: CurrentUser, question: Question, data: bank.QuestionData, ip: str = ""
) -> list[str]:
    """Save an edit; returns the names of the changed fields (nothing changed: [])."""
    in_paper, _ = await usage(question.id)
    keys = [o["key"] for o in data.options]
    if in_paper and (
        data.type != question.type
        or data.answer != question.answer
        or keys != [o["key"] for o in question.options]
    ):
        raise DomainError(
            "该题已用于业务水平测评试卷，不能修改答案、题型或选项个数（只能修改文字）。"
            "如答案有误，请停用本题后新增一道正确的题目",
            field="answer",
        )
    other = await Question.filter(fingerprint=data.fingerprint).exclude(id=question.id).first()
    if other is not None:
        raise DomainError(f"与题库中已有的题目重复（题目编号 {other.id}）", field="stem")
    values = data.values()
    changed = {k: v for k, v in values.items() if getattr(question, k) != v}
    if not changed:
        return []
    try:
        await Question.filter(id=question.id).update(**changed)
    except IntegrityError as exc:
        raise Conflict("与题库中已有的题目重复，请刷新后查看") from exc
    names = sorted(k for k in changed if k != "fingerprint")
    await audit.record(
        await _actor(current),
        "question_edited",
        obj=question,
        ip=ip,
        fields=names,
        answer_before=question.answer if "answer" in changed else None,
        answer_after=data.answer if "answer" in changed else None,
    )
    return names


async def set_status(
    current: CurrentUser, question: Question, status: QuestionStatus, ip: str = ""
) -> bool:
    """停用 / 启用. Returns False when the question already had that status."""
    changed = await Question.filter(id=question.id).exclude(status=status).update(status=status)
    if changed:
        await audit.record(
            await _actor(current),
            "question_retired" if status == QuestionStatus.RETIRED else "question_reactivated",
            obj=question,
            from_state=question.status.value,
            to_state=status.value,
            ip=ip,
        )
    return bool(changed)


async def delete_question(current: CurrentUser, question: Question, ip: str = "") -> None:
    if any(await usage(question.id)):
        raise Conflict("该题已被试卷或考前练习使用，不能删除；如不再使用，请停用")
    try:
        await Question.filter(id=question.id).delete()
    except IntegrityError as exc:  # used in between
        raise Conflict("该题刚被试卷或考前练习使用，不能删除；如不再使用，请停用") from exc
    await audit.record(
        await _actor(current), "question_deleted", obj=question, ip=ip, stem=question.stem[:200]
    )


# --- pages ---------------------------------------------------------------------------


def _chosen(request: Request) -> dict[str, str]:
    params = request.query_params
    chosen = {k: params.get(k, "").strip()[:50] for k in (*FILTER_KEYS, "status")}
    if not chosen["status"]:
        chosen["status"] = QuestionStatus.ACTIVE.value
    return chosen


def _filtered(chosen: dict[str, str]) -> QuerySet[Question]:
    qs = Question.all()
    text = chosen["q"]
    if text:
        match = Q(stem__icontains=text)
        if (number := as_int(text)) is not None:  # a question number (题目编号) finds it too
            match |= Q(id=number)
        qs = qs.filter(match)
    if chosen["type"] in QuestionType._value2member_map_:
        qs = qs.filter(type=chosen["type"])
    if chosen["category"] in QuestionCategory._value2member_map_:
        qs = qs.filter(category=chosen["category"])
    if chosen["practice_category"] in PRACTICE_SCOPES:
        qs = qs.filter(practice_category=chosen["practice_category"])
    if chosen["practice_scope"] == "-":  # the whole category: no scope
        qs = qs.filter(category=QuestionCategory.PROFESSIONAL, practice_scope="")
    elif chosen["practice_scope"] in ALL_SCOPES:
        qs = qs.filter(practice_scope=chosen["practice_scope"])
    if chosen["difficulty"] in ("1", "2", "3"):
        qs = qs.filter(difficulty=int(chosen["difficulty"]))
    if chosen["status"] in QuestionStatus._value2member_map_:  # "all": both
        qs = qs.filter(status=chosen["status"])
    return qs.order_by("-id")


async def _list_page(
    request: Request,
    *,
    file_error: str = "",
    row_errors: list[bank.RowError] | None = None,
    filename: str = "",
    status_code: int = 200,
) -> Response:
    chosen = _chosen(request)
    page = await paginate(request, _filtered(chosen))
    counts = {
        s: await Question.filter(status=s).count()
        for s in (QuestionStatus.ACTIVE, QuestionStatus.RETIRED)
    }
    context: dict[str, Any] = {
        "page": page,
        "chosen": chosen,
        "query": "&".join(f"{k}={quote(v)}" for k, v in chosen.items() if v),
        "types": QuestionType,
        "categories": QuestionCategory,
        "statuses": QuestionStatus,
        "scopes": PRACTICE_SCOPES,
        "counts": counts,
        "file_error": file_error,
        "row_errors": (row_errors or [])[:SHOWN_ERRORS],
        "error_total": len(row_errors or []),
        "filename": filename,
        "max_rows": bank.MAX_ROWS,
        "max_mb": bank.MAX_FILE_BYTES // (1024 * 1024),
        "header": bank.HEADER,
    }
    return render(
        request, "office/questions.html", context, status_code=status_code, block="results"
    )


@requires(Role.OFFICE)
async def question_list(request: Request) -> Response:
    return await _list_page(request)


@requires(Role.OFFICE)
async def question_import(request: Request) -> Response:
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _list_page(request, file_error="请选择要导入的题库文件", status_code=400)
    data = await upload.read(bank.MAX_FILE_BYTES + 1)
    filename = upload.filename
    try:
        stored, errors = await import_questions(user(request), filename, data, client_ip(request))
    except DomainError as exc:
        return await _list_page(request, file_error=exc.message, filename=filename, status_code=400)
    if errors:
        return await _list_page(request, row_errors=errors, filename=filename, status_code=400)
    get_session(request).flash(f"已导入 {stored} 道题。")
    return redirect(request, LIST_URL)


@requires(Role.OFFICE)
async def template_download(request: Request) -> Response:
    if request.url.path.endswith(".xlsx"):
        return await xlsx.download("题库导入模板", bank.HEADER, bank.EXAMPLES)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(bank.HEADER)
    writer.writerows(bank.EXAMPLES)
    return Response(
        ("\ufeff" + out.getvalue()).encode(),  # the BOM makes Excel read it as UTF-8
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote('题库导入模板.csv')}"
        },
    )


async def _question(request: Request) -> Question:
    found = await Question.get_or_none(id=request.path_params["question_id"])
    if found is None:
        raise NotFound()
    return found


def _form_context(
    question: Question | None, values: dict[str, str], errors: dict[str, str]
) -> dict[str, Any]:
    return {
        "question": question,
        "values": values,
        "errors": errors,
        "types": QuestionType,
        "categories": QuestionCategory,
        "scopes": PRACTICE_SCOPES,
        "keys": bank.KEYS,
    }


@requires(Role.OFFICE)
async def question_new(request: Request) -> Response:
    values: dict[str, str] = {"type": QuestionType.SINGLE.label, "difficulty": "2"}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        values = {k: str(form.get(k, "")) for k in bank.FIELDS}
        data, errors = bank.check(values)
        if data is not None:
            try:
                question = await create_question(user(request), data, client_ip(request))
            except DomainError as exc:
                errors = {exc.field or "form": exc.message}
            else:
                get_session(request).flash(f"已新增题目（编号 {question.id}）。")
                return redirect(request, LIST_URL)
    context = _form_context(None, values, errors)
    return render(
        request, "office/questions_edit.html", context, status_code=400 if errors else 200
    )


@requires(Role.OFFICE)
async def question_edit(request: Request) -> Response:
    question = await _question(request)
    values = bank.values_of(question)
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        values = {k: str(form.get(k, "")) for k in bank.FIELDS}
        data, errors = bank.check(values)
        if data is not None:
            try:
                changed = await update_question(user(request), question, data, client_ip(request))
            except DomainError as exc:
                errors = {exc.field or "form": exc.message}
            else:
                message = "题目已保存。" if changed else "没有修改任何内容。"
                get_session(request).flash(message, "success" if changed else "warning")
                return redirect(request, f"{LIST_URL}/{question.id}")
    in_paper, practiced = await usage(question.id)
    context = _form_context(question, values, errors)
    context.update(in_paper=in_paper, practiced=practiced, statuses=QuestionStatus)
    return render(
        request, "office/questions_edit.html", context, status_code=400 if errors else 200
    )


@requires(Role.OFFICE)
async def question_status(request: Request) -> Response:
    question = await _question(request)
    form = await request.form()
    action = str(form.get("action", ""))
    if action not in ("retire", "activate"):
        raise DomainError("请选择停用或启用")
    status = QuestionStatus.RETIRED if action == "retire" else QuestionStatus.ACTIVE
    if await set_status(user(request), question, status, client_ip(request)):
        get_session(request).flash(f"题目 {question.id} 已{VERBS[status]}。")
    return redirect(request, f"{LIST_URL}/{question.id}")


@requires(Role.OFFICE)
async def question_delete(request: Request) -> Response:
    question = await _question(request)
    try:
        await delete_question(user(request), question, client_ip(request))
    except Conflict as exc:
        get_session(request).flash(exc.message, "error")
        return redirect(request, f"{LIST_URL}/{question.id}")
    get_session(request).flash(f"题目 {question.id} 已删除。")
    return redirect(request, LIST_URL)


@requires(Role.OFFICE)
async def question_bulk(request: Request) -> Response:
    """批量停用 / 启用 the ticked questions."""
    form = await request.form()
    ids = as_ints(form.getlist("question"))
    action = str(form.get("action", ""))
    session = get_session(request)
    back = str(form.get("back", "")) or LIST_URL
    if not back.startswith(LIST_URL):
        back = LIST_URL
    if not ids:
        session.flash("请先勾选题目", "error")
        return redirect(request, back)
    if action not in ("retire", "activate"):
        session.flash("请选择批量停用或批量启用", "error")
        return redirect(request, back)
    status = QuestionStatus.RETIRED if action == "retire" else QuestionStatus.ACTIVE
    done = 0
    for question in await Question.filter(id__in=ids):
        done += await set_status(user(request), question, status, client_ip(request))
    session.flash(f"已{VERBS[status]} {done} 道题。")
    return redirect(request, back)


routes = [
    Route(LIST_URL, question_list, name="questions"),
    Route(f"{LIST_URL}/import", question_import, methods=["POST"]),
    Route(f"{LIST_URL}/template.xlsx", template_download),
    Route(f"{LIST_URL}/template.csv", template_download),
    Route(f"{LIST_URL}/new", question_new, methods=["GET", "POST"]),
    Route(f"{LIST_URL}/bulk", question_bulk, methods=["POST"]),
    Route(f"{LIST_URL}/{{question_id:int}}", question_edit, methods=["GET", "POST"]),
    Route(f"{LIST_URL}/{{question_id:int}}/status", question_status, methods=["POST"]),
    Route(f"{LIST_URL}/{{question_id:int}}/delete", question_delete, methods=["POST"]),
]
