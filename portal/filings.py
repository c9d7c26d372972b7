"""【执业机构管理】 and 【特殊人员处理】 of a prefecture commission: the pages.

Renaming an institution or changing its assessment body is direct. Adding or deleting an
institution and moving a physician into or out of the staging area are filings (备案) that
take effect when the regional office approves them (portal/filing_review.py). The rules are
``rules.filings``; this module parses, authorises and renders.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from tortoise.expressions import Q

from core.errors import DomainError, NotFound
from core.idcard import IdNumberError, parse_id_number
from core.numbers import as_int, as_ints
from models.enums import FilingKind, OrgStatus, ReviewStatus, Role
from models.org import County
from models.physician import Filing, Physician
from portal.account import requires_info
from portal.acting import actor
from rules import filings as filing_rules
from rules.jurisdiction import Jurisdiction
from web.endpoint import (
    CurrentUser,
    Endpoint,
    fragment,
    redirect,
    render,
    requires,
    user,
)
from web.pagination import paginate
from web.sessions import get_session

RECENT = 10


def commission_page(endpoint: Endpoint) -> Endpoint:
    """The commission's pages: its role, and its 机构信息 complete."""
    return requires(Role.COMMISSION)(requires_info(endpoint))


# What the filings table shows of each filing (_filings_table.html).
FILING_RELATIONS = ("institution__county", "institution__assessor", "physician")


async def _recent(current: CurrentUser, kind: FilingKind) -> list[Filing]:
    return (
        await Filing.filter(commission_id=current.organisation_id, kind=kind)
        .select_related(*FILING_RELATIONS)
        .order_by("-id")
        .limit(RECENT)
    )


def _form(values: Any) -> dict[str, str]:
    return {k: str(v).strip()[:200] for k, v in values.items() if isinstance(v, str)}


# 执业机构列表 and direct edits ------------------------------------------------------------


@commission_page
async def institutions(request: Request) -> Response:
    current = user(request)
    params = request.query_params
    chosen = {k: params.get(k, "").strip()[:50] for k in ("q", "county", "status")}
    qs = Jurisdiction.of(current).institutions().select_related("county", "assessor")
    if chosen["q"]:
        qs = qs.filter(name__icontains=chosen["q"])
    if (county := as_int(chosen["county"])) is not None:
        qs = qs.filter(county_id=county)
    if chosen["status"] in OrgStatus._value2member_map_:
        qs = qs.filter(status=chosen["status"])
    else:
        qs = qs.exclude(status=OrgStatus.DELETED)
    page = await paginate(request, qs.order_by("county_id", "name"))
    context = {
        "page": page,
        "counts": await filing_rules.staff_counts([o.id for o in page.items]),
        "chosen": chosen,
        "query": "".join(f"&{k}={quote(v)}" for k, v in chosen.items() if v),
        "counties": await County.filter(prefecture_id=current.prefecture_id),
        "statuses": OrgStatus,
    }
    return render(request, "commission/institutions.html", context, block="results")


@commission_page
async def institution_edit(request: Request) -> Response:
    current = user(request)
    org = await Jurisdiction.of(current).institution(request.path_params["institution_id"])
    await org.fetch_related("county")
    values = {"name": org.name, "assessor": str(org.assessor_id or "")}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = _form(await request.form())
        errors = await filing_rules.update_institution(actor(request), org, values)
        if not errors:
            get_session(request).flash(f"「{org.name}」的信息已保存。")
            return redirect(request, "/commission/institutions")
    context = {
        "org": org,
        "values": values,
        "errors": errors,
        "assessors": await filing_rules.assessors(actor(request)),
        "count": (await filing_rules.staff_counts([org.id])).get(org.id, 0),
    }
    return render(
        request, "commission/institution_edit.html", context, status_code=400 if errors else 200
    )


# 添加执业机构申请 ----------------------------------------------------------------------------


@commission_page
async def institution_add(request: Request) -> Response:
    current = user(request)
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = _form(await request.form())
        errors = await filing_rules.request_add(actor(request), values)
        if not errors:
            get_session(request).flash(
                f"添加执业机构申请已提交：「{values['name']}」，"
                "自治区医师定期考核办公室备案通过后新增成功。"
            )
            return redirect(request, "/commission/institutions/add")
    context = {
        "values": values,
        "errors": errors,
        "counties": await County.filter(prefecture_id=current.prefecture_id),
        "assessors": await filing_rules.assessors(actor(request)),
        "recent": await _recent(current, FilingKind.INSTITUTION_ADD),
        "kind": FilingKind.INSTITUTION_ADD,
    }
    return render(
        request, "commission/institution_add.html", context, status_code=400 if errors else 200
    )


# 删除执业机构申请 ----------------------------------------------------------------------------


@commission_page
async def institution_delete(request: Request) -> Response:
    current = user(request)
    errors: dict[str, str] = {}
    blocked: list[str] = []
    if request.method == "POST":
        form = await request.form()
        raw = [str(v) for v in form.getlist("institution")]
        try:
            await filing_rules.request_delete(actor(request), as_ints(raw))
        except filing_rules.StillStaffed as exc:
            errors["institution"], blocked = exc.message, exc.names
        except NotFound:
            raise
        except DomainError as exc:
            errors["institution"] = exc.message
        else:
            get_session(request).flash("机构删除已上报！")
            return redirect(request, "/commission/institutions/delete")
    q = request.query_params.get("q", "").strip()[:50]
    qs = Jurisdiction.of(current).institutions().filter(status=OrgStatus.ACTIVE)
    if q:
        qs = qs.filter(name__icontains=q)
    page = await paginate(request, qs.select_related("county").order_by("county_id", "name"))
    context = {
        "page": page,
        "counts": await filing_rules.staff_counts([o.id for o in page.items]),
        "q": q,
        "errors": errors,
        "blocked": blocked,
        "recent": await _recent(current, FilingKind.INSTITUTION_DELETE),
        "kind": FilingKind.INSTITUTION_DELETE,
    }
    status = 400 if errors else 200
    return render(
        request, "commission/institution_delete.html", context, status_code=status, block="results"
    )


# 调入暂存区申请 ------------------------------------------------------------------------------


@commission_page
async def staging_in(request: Request) -> Response:
    current = user(request)
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    if request.method == "POST":
        values = _form(await request.form())
        try:
            await filing_rules.request_staging_in(
                actor(request), values.get("id_number", ""), values.get("reason", "")
            )
        except DomainError as exc:
            errors[exc.field or "id_number"] = exc.message
        else:
            get_session(request).flash(
                "调入暂存区申请已保存，自治区医师定期考核办公室备案通过后该医师信息进入暂存区。"
            )
            return redirect(request, "/commission/staging/in")
    found = None
    if values.get("id_number") and "id_number" not in errors:
        found = await _lookup(current, values["id_number"])
    context = {
        "values": values,
        "errors": errors,
        "found": found,
        "reasons": filing_rules.STAGING_REASONS,
        "recent": await _recent(current, FilingKind.STAGING_IN),
        "kind": FilingKind.STAGING_IN,
    }
    return render(
        request, "commission/staging_in.html", context, status_code=400 if errors else 200
    )


async def _lookup(current: CurrentUser, number: str) -> Physician | None:
    return (
        await Jurisdiction.of(current)
        .physicians()
        .filter(id_number=number.upper(), institution_id__isnull=False)
        .select_related("institution")
        .first()
    )


@requires(Role.COMMISSION)
@fragment("/commission/staging/in")
async def staging_lookup(request: Request) -> Response:
    """htmx: name and institution behind an ID number, shown for confirmation before 保存."""
    raw = request.query_params.get("id_number", "")
    context: dict[str, Any] = {"values": {}, "errors": {}}
    try:
        number = parse_id_number(raw).number
    except IdNumberError as exc:
        context["lookup_error"] = str(exc) if raw.strip() else ""
    else:
        context["found"] = await _lookup(user(request), number)
        context["looked_up"] = True
    return render(request, "commission/staging_in.html", context, block="lookup")


# 调出暂存区申请 ------------------------------------------------------------------------------


@commission_page
async def staging_out(request: Request) -> Response:
    current = user(request)
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    if request.method == "POST":
        values = _form(await request.form())
        try:
            await filing_rules.request_staging_out(
                actor(request),
                as_int(values.get("physician", "")) or 0,
                as_int(values.get("target", "")) or 0,
            )
        except NotFound:
            raise
        except DomainError as exc:
            errors[exc.field or "physician"] = exc.message
        else:
            get_session(request).flash(
                "调出暂存区申请已提交，自治区医师定期考核办公室备案通过后该医师进入指定执业机构。"
            )
            return redirect(request, "/commission/staging/out")
    q = (values.get("q") or request.query_params.get("q", "")).strip()[:50]
    match = Q(name__icontains=q)
    if len(q) <= 18:  # longer is no ID number (and more than the column holds)
        match |= Q(id_number=q.upper())
    staged = Jurisdiction.of(current).physicians().filter(institution_id__isnull=True)
    if q:
        staged = staged.filter(match)
    page = await paginate(
        request, staged.select_related("previous_institution").order_by("name", "id")
    )
    missing = ""
    if q and not page.total:
        elsewhere = await Jurisdiction.of(current).physicians().filter(match).exists()
        missing = (
            "该医师不在暂存区，请核实该医师是否已调入暂存区"
            if elsewhere
            else "未查询到结果，请核实该医师是否已调入暂存区"
        )
    targets = (
        await Jurisdiction.of(current)
        .institutions()
        .filter(status=OrgStatus.ACTIVE)
        .select_related("county")
        .order_by("county_id", "name")
    )
    context = {
        "page": page,
        "q": q,
        "missing": missing,
        "targets": targets,
        "values": values,
        "errors": errors,
        "recent": await _recent(current, FilingKind.STAGING_OUT),
        "kind": FilingKind.STAGING_OUT,
    }
    return render(
        request, "commission/staging_out.html", context, status_code=400 if errors else 200
    )


# 申请记录 ----------------------------------------------------------------------------------


@commission_page
async def filing_list(request: Request) -> Response:
    current = user(request)
    params = request.query_params
    chosen = {k: params.get(k, "").strip()[:30] for k in ("kind", "status")}
    qs = Filing.filter(commission_id=current.organisation_id)
    if chosen["kind"] in FilingKind._value2member_map_:
        qs = qs.filter(kind=chosen["kind"])
    if chosen["status"] in ReviewStatus._value2member_map_:
        qs = qs.filter(status=chosen["status"])
    page = await paginate(request, qs.select_related(*FILING_RELATIONS).order_by("-id"))
    context = {
        "page": page,
        "chosen": chosen,
        "query": "".join(f"&{k}={quote(v)}" for k, v in chosen.items() if v),
        "kinds": FilingKind,
        "statuses": ReviewStatus,
    }
    return render(request, "commission/filings.html", context, block="results")


@commission_page
async def filing_detail(request: Request) -> Response:
    current = user(request)
    filing = await Filing.get_or_none(
        id=request.path_params["filing_id"], commission_id=current.organisation_id
    ).select_related("institution__county", "institution__assessor", "physician", "reviewed_by")
    if filing is None:
        raise NotFound()
    return render(request, "commission/filing.html", {"f": filing})


routes: list[BaseRoute] = [
    Route("/commission/institutions", institutions),
    Route("/commission/institutions/add", institution_add, methods=["GET", "POST"]),
    Route("/commission/institutions/delete", institution_delete, methods=["GET", "POST"]),
    Route(
        "/commission/institutions/{institution_id:int}",
        institution_edit,
        methods=["GET", "POST"],
    ),
    Route("/commission/staging/in", staging_in, methods=["GET", "POST"]),
    Route("/commission/staging/lookup", staging_lookup),
    Route("/commission/staging/out", staging_out, methods=["GET", "POST"]),
    Route("/commission/filings", filing_list),
    Route("/commission/filings/{filing_id:int}", filing_detail),
]
