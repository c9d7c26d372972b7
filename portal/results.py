"""【考核结果】: the office's page of a period's results (compute, publish, list, export).
The rules (how each part is judged, recomputing until published, one publication with its
mails) are ``rules.results``; this module parses, authorises and renders.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.errors import DomainError, NotFound
from core.numbers import as_int
from models.enums import Outcome, Procedure, Role
from models.org import Prefecture
from models.period import Period
from portal.acting import actor
from portal.exports import audited_export
from rules import results as rules
from rules.results import ETHICS, SIMPLIFIED, TEST, WORK
from web import xlsx
from web.endpoint import mailer, redirect, render, requires
from web.pagination import paginate
from web.sessions import get_session


async def _period(request: Request) -> Period | None:
    """The period asked for (404 when unknown), else the current one, else None."""
    raw = request.query_params.get("period", "")
    qs = Period.filter(rehearsal=False).prefetch_related("windows")
    found = await (
        qs.get_or_none(id=number)
        if (number := as_int(raw)) is not None
        else qs.filter(is_current=True).first()
    )
    if found is None and raw:
        raise NotFound()
    return found


def _chosen(request: Request) -> dict[str, str]:
    params = request.query_params
    return {k: params.get(k, "").strip()[:50] for k in ("q", "outcome", "procedure", "prefecture")}


@requires(Role.OFFICE)
async def results_page(request: Request) -> Response:
    period = await _period(request)
    if period is None:
        return render(request, "office/results.html", {"period": None})
    chosen = _chosen(request)
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = await request.form()
        action = form.get("action")
        session = get_session(request)
        try:
            if action == "compute":
                summary = await rules.compute(actor(request), period)
                session.flash(
                    f"已计算 {summary.total} 名医师的结果：合格 {summary.qualified}，"
                    f"不合格 {summary.unqualified}（其中未完成 {summary.incomplete}）。"
                )
            elif action == "publish":
                summary = await rules.publish(
                    actor(request),
                    period,
                    form.get("accept_incomplete") == "yes",
                    mailer=mailer(request),
                )
                session.flash(f"{period.name}考核结果已发布，已邮件通知 {summary.total} 名医师。")
            else:
                raise DomainError("请选择操作")
        except DomainError as exc:
            errors[exc.field or "form"] = exc.message
        else:
            return redirect(request, f"/office/results?period={period.id}")
        await period.refresh_from_db()
    page = await paginate(request, rules.filtered(period, **chosen))
    context = {
        "period": period,
        "periods": await Period.filter(rehearsal=False).order_by("-id"),
        "prefectures": await Prefecture.all(),
        "page": page,
        "chosen": chosen,
        "query": "&".join(
            f"{k}={quote(v)}" for k, v in {"period": str(period.id), **chosen}.items() if v
        ),
        "outcomes": Outcome,
        "procedures": Procedure,
        "last": await rules.last_summary(period),
        "errors": errors,
    }
    status = 400 if errors else 200
    return render(request, "office/results.html", context, status_code=status, block="results")


HEADERS = (
    "姓名",
    "身份证号",
    "所属地（州、市）",
    "执业机构",
    "考核程序",
    "测评成绩",
    "工作成绩",
    "职业道德",
    "考核结果",
    "说明",
)


@requires(Role.OFFICE)
async def results_export(request: Request) -> Response:
    period = await _period(request)
    if period is None:
        raise NotFound()
    chosen = _chosen(request)
    results = (
        await rules.filtered(period, **chosen)
        .select_related("physician__prefecture")
        .limit(xlsx.EXPORT_LIMIT)
    )
    scope = actor(request).jurisdiction
    rows = []
    for r in results:
        parts = r.parts
        first = parts.get(TEST) or parts.get(SIMPLIFIED) or {}
        rows.append(
            (
                r.physician.name,
                scope.id_number(r.physician),
                r.physician.prefecture.name,
                r.physician.institution.name if r.physician.institution else "暂存区",
                r.procedure.label,
                r.test_score if r.test_score is not None else "",
                parts.get(WORK, {}).get("text", ""),
                parts.get(ETHICS, {}).get("text", ""),
                r.outcome.label,
                "；".join(f"{k}：{p['text']}" for k, p in parts.items() if p["passed"] is not True)
                or first.get("text", ""),
            )
        )
    filters = {"period": str(period.id), **chosen}
    return await audited_export(request, f"考核结果_{period.name}", HEADERS, rows, filters)


routes = [
    Route("/office/results", results_page, methods=["GET", "POST"]),
    Route("/office/results/export.xlsx", results_export),
]
