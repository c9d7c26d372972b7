"""备案审核: the regional office's pages to approve or reject the commissions' filings.

What a decision does (the institution added or deleted, the physician into or out of the
staging area, checked again inside the decision's transaction) is ``rules.filing_review``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.expressions import Case, When

from core.errors import Conflict, DomainError, NotFound
from core.numbers import as_int
from models.enums import FilingKind, ReviewStatus, Role
from models.org import Prefecture
from models.physician import Filing, Physician
from portal.acting import actor
from rules import filing_review
from rules.filing_review import subject_of
from web.endpoint import mailer, redirect, render, requires
from web.pagination import paginate
from web.sessions import get_session

GROUPS: dict[str, tuple[str, tuple[FilingKind, ...]]] = {
    "institutions": ("执业机构备案", (FilingKind.INSTITUTION_ADD, FilingKind.INSTITUTION_DELETE)),
    "staging": ("暂存区备案", (FilingKind.STAGING_IN, FilingKind.STAGING_OUT)),
}


def group_of(kind: FilingKind) -> str:
    return next(name for name, (_, kinds) in GROUPS.items() if kind in kinds)


async def _listing(request: Request, group: str, errors: dict[int, str]) -> dict[str, Any]:
    title, kinds = GROUPS[group]
    params = request.query_params
    chosen = {
        "status": params.get("status", ReviewStatus.PENDING.value),
        "kind": params.get("kind", ""),
        "prefecture": params.get("prefecture", ""),
    }
    qs = Filing.filter(kind__in=list(kinds))
    if chosen["status"] in ReviewStatus._value2member_map_:
        qs = qs.filter(status=chosen["status"])
    else:
        chosen["status"] = ""
    if chosen["kind"] in [k.value for k in kinds]:
        qs = qs.filter(kind=chosen["kind"])
    if (prefecture := as_int(chosen["prefecture"])) is not None:
        qs = qs.filter(commission__prefecture_id=prefecture)
    qs = qs.annotate(
        waiting=Case(When(status=ReviewStatus.PENDING, then="0"), default="1")
    ).select_related(
        "commission__prefecture",
        "institution__county",
        "institution__assessor",
        "physician__institution",
        "reviewed_by",
    )
    ordering = ("id",) if chosen["status"] == ReviewStatus.PENDING else ("waiting", "-id")
    page = await paginate(request, qs.order_by(*ordering))
    ids = [f.institution_id for f in page.items if f.kind == FilingKind.INSTITUTION_DELETE]
    staffed = set(
        await Physician.filter(institution_id__in=ids).values_list("institution_id", flat=True)
    )
    return {
        "group": group,
        "title": title,
        "kinds": kinds,
        "page": page,
        "chosen": chosen,
        "query": "".join(f"&{k}={quote(v)}" for k, v in chosen.items()),
        "statuses": ReviewStatus,
        "prefectures": await Prefecture.all(),
        "staffed": staffed,
        "errors": errors,
        "Kind": FilingKind,
    }


@requires(Role.OFFICE)
async def filing_list(request: Request) -> Response:
    group = request.url.path.rsplit("/", 1)[1]
    context = await _listing(request, group, {})
    return render(request, "office/filings.html", context, block="results")


@requires(Role.OFFICE)
async def decide(request: Request) -> Response:
    form = await request.form()
    filing_id = request.path_params["filing_id"]
    filing = await Filing.get_or_none(id=filing_id)
    if filing is None:
        raise NotFound()
    group = group_of(filing.kind)
    back = f"/office/filings/{group}"
    session = get_session(request)
    decision = str(form.get("decision", ""))
    try:
        if decision not in ("approve", "reject"):
            raise DomainError("请选择审核结果", field="decision")
        done = await filing_review.decide(
            actor(request),
            filing_id,
            decision == "approve",
            str(form.get("reason", "")),
            mailer=mailer(request),
            hasher=request.app.state.hasher,
        )
    except Conflict as exc:
        session.flash(exc.message, "error")
        return redirect(request, back)
    except DomainError as exc:
        # Shown next to the filing's form, and on top in case it is not on the first page.
        context = await _listing(request, group, {filing_id: exc.message})
        await filing.fetch_related("institution", "physician")
        context["error"] = f"「{subject_of(filing)}」{filing.kind.label}：{exc.message}"
        return render(request, "office/filings.html", context, status_code=400)
    for account_id in done.disabled:
        await request.app.state.sessions.end_all(account_id)
    filing = done.filing
    verdict = "备案已通过" if filing.status == ReviewStatus.APPROVED else "备案未通过"
    text = f"「{subject_of(filing)}」{filing.kind.label}{verdict}。"
    if done.password:
        text += (
            f"机构登录账号：{done.username}，临时密码：{done.password}"
            "（仅显示一次，请告知申请的地、州、市卫生健康委，登录后立即修改密码）。"
        )
    session.flash(text)
    return redirect(request, back)


routes = [
    Route("/office/filings/institutions", filing_list),
    Route("/office/filings/staging", filing_list),
    Route("/office/filings/{filing_id:int}/review", decide, methods=["POST"]),
]
