"""【题库管理】: the office imports, searches, edits and retires questions.

A question keeps its id for life. Once a paper (the test) uses it, its answer, type and
option keys are frozen (the paper's option map and the scores depend on them); wording may
still be corrected. A question used by a paper or by a practice set is never deleted, only
retired (停用): retired questions are no longer drawn. Those rules, each edit with its audit
row, are ``rules.question_bank`` (and ``rules.question_import`` for files); this module
parses, authorises and renders.
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
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from core.errors import Conflict, DomainError, NotFound
from core.numbers import as_int, as_ints
from models.enums import QuestionCategory, QuestionStatus, QuestionType, Role
from models.exam import Question
from models.practice import PRACTICE_SCOPES
from portal.acting import actor
from rules import question_bank
from rules import question_import as imports
from rules import questions as bank
from web import xlsx
from web.endpoint import redirect, render, requires
from web.pagination import paginate
from web.sessions import get_session

LIST_URL = "/office/questions"
FILTER_KEYS = ("q", "type", "category", "practice_category", "practice_scope", "difficulty")
ALL_SCOPES = sorted({s for scopes in PRACTICE_SCOPES.values() for s in scopes})
VERBS = {QuestionStatus.RETIRED: "停用", QuestionStatus.ACTIVE: "启用"}
SHOWN_ERRORS = 500  # rows of an import report shown on the page


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
    row_errors: list[imports.RowError] | None = None,
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
        "max_rows": imports.MAX_ROWS,
        "max_mb": imports.MAX_FILE_BYTES // (1024 * 1024),
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
    data = await upload.read(imports.MAX_FILE_BYTES + 1)
    filename = upload.filename
    try:
        stored, errors = await imports.import_file(filename, data, actor(request))
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
                question = await question_bank.create_question(actor(request), data)
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
                changed = await question_bank.update_question(actor(request), question, data)
            except DomainError as exc:
                errors = {exc.field or "form": exc.message}
            else:
                message = "题目已保存。" if changed else "没有修改任何内容。"
                get_session(request).flash(message, "success" if changed else "warning")
                return redirect(request, f"{LIST_URL}/{question.id}")
    in_paper, practiced = await question_bank.usage(question.id)
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
    if await question_bank.set_status(actor(request), question, status):
        get_session(request).flash(f"题目 {question.id} 已{VERBS[status]}。")
    return redirect(request, f"{LIST_URL}/{question.id}")


@requires(Role.OFFICE)
async def question_delete(request: Request) -> Response:
    question = await _question(request)
    try:
        await question_bank.delete_question(actor(request), question)
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
        done += await question_bank.set_status(actor(request), question, status)
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
