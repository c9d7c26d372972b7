"""【执业机构管理】 and 【特殊人员处理】 of a prefecture commission.

Renaming an institution or changing its assessment body is direct. Adding or deleting an
institution and moving a physician into or out of the staging area are filings (备案) that
take effect when the regional office approves them (portal/filing_review.py).

A new institution is created at filing time with status PENDING_ADD and linked from the
filing: the commission's list shows it as 新增待备案 at once, the duplicate-name check is one
query over real rows, and approval is a status change. Only ACTIVE institutions are offered
for registration, transfers and staging-out targets.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from tortoise.expressions import Q
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from core.errors import Conflict, DomainError, NotFound
from core.idcard import IdNumberError, id_number_field, parse_id_number
from core.numbers import as_int, as_ints
from models.enums import FilingKind, OrgKind, OrgStatus, ReviewStatus, Role, StagingReason
from models.org import Account, County, Organisation
from models.physician import Filing, Physician, Transfer
from portal import filing_review
from portal.account import requires_info
from portal.filing_review import STILL_STAFFED
from rules import audit
from rules.jurisdiction import Jurisdiction
from web.endpoint import (
    CurrentUser,
    Endpoint,
    client_ip,
    fragment,
    redirect,
    render,
    requires,
    user,
)
from web.pagination import paginate
from web.sessions import get_session

STAGING_REASONS = (StagingReason.DEATH, StagingReason.RETIRED, StagingReason.LEFT)
RECENT = 10


class StillStaffed(DomainError):
    """Some ticked institutions still have physicians; ``names`` says which."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(STILL_STAFFED, field="institution")
        self.names = names


def commission_page(endpoint: Endpoint) -> Endpoint:
    """The commission's pages: its role, and its 机构信息 complete."""
    return requires(Role.COMMISSION)(requires_info(endpoint))


async def _file(request: Request, current: CurrentUser, kind: FilingKind, **fields: Any) -> Filing:
    filing = await Filing.create(
        kind=kind,
        commission_id=current.organisation_id,
        requested_by_id=current.account_id,
        **fields,
    )
    await audit.record(
        await Account.get(id=current.account_id),
        "filing_requested",
        obj=filing,
        to_state=ReviewStatus.PENDING.value,
        ip=client_ip(request),
        kind=kind.value,
        institution=filing.institution_id,
        physician=filing.physician_id,
    )
    return filing


def _assessors(current: CurrentUser) -> Any:
    return Organisation.filter(
        kind=OrgKind.ASSESSOR, prefecture_id=current.prefecture_id, status=OrgStatus.ACTIVE
    ).order_by("name")


async def clean_institution(
    current: CurrentUser, values: dict[str, str], *, exclude_id: int | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Name and assessment body (and the county when adding), each error next to its field."""
    errors: dict[str, str] = {}
    name = " ".join(values.get("name", "").split())
    values["name"] = name
    if not name:
        errors["name"] = "请输入机构名称"
    elif len(name) > 100:
        errors["name"] = "机构名称不能超过100个字"
    else:
        same = Jurisdiction.of(current).institutions().filter(name=name)
        if exclude_id is not None:
            same = same.exclude(id=exclude_id)
        if await same.exclude(status=OrgStatus.DELETED).exists():
            errors["name"] = "本地（州、市）已有同名的执业机构"
    cleaned: dict[str, Any] = {"name": name}
    raw = values.get("assessor", "")
    assessor = await _assessors(current).get_or_none(id=as_int(raw) or 0)
    if assessor is None:
        errors["assessor"] = "请选择本地（州、市）的考核机构"
    cleaned["assessor"] = assessor
    if exclude_id is None:
        raw = values.get("county", "")
        county = await County.get_or_none(id=as_int(raw) or 0, prefecture_id=current.prefecture_id)
        if county is None:
            errors["county"] = "请选择本地（州、市）的县（市、区）"
        cleaned["county"] = county
    return cleaned, errors


async def _counts(ids: list[int]) -> dict[int, int]:
    rows = (
        await Physician.filter(institution_id__in=ids)
        .annotate(n=Count("id"))
        .group_by("institution_id")
        .values("institution_id", "n")
    )
    return {row["institution_id"]: row["n"] for row in rows}


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
        "counts": await _counts([o.id for o in page.items]),
        "chosen": chosen,
        "query": "".join(f"&{k}={quote(v)}" for k, v in chosen.items() if v),
        "counties": await County.filter(prefecture_id=current.prefecture_id),
        "statuses": OrgStatus,
    }
    return render(request, "commission/institutions.html", context, block="results")


async def update_institution(
    request: Request, current: CurrentUser, org: Organisation, values: dict[str, str]
) -> dict[str, str]:
    """Rename / change the assessment body at once (no filing); returns field errors."""
    if org.status != OrgStatus.ACTIVE:
        return {"name": f"该机构状态为「{org.status.label}」，不能修改"}
    cleaned, errors = await clean_institution(current, values, exclude_id=org.id)
    if errors:
        return errors
    before = {"name": org.name, "assessor": org.assessor_id}
    after = {"name": cleaned["name"], "assessor": cleaned["assessor"].id}
    if before == after:
        return {}
    org.name, org.assessor = cleaned["name"], cleaned["assessor"]
    await org.save(update_fields=["name", "assessor_id"])
    await Account.filter(organisation_id=org.id).update(display_name=org.name)
    await audit.record(
        await Account.get(id=current.account_id),
        "institution_updated",
        obj=org,
        ip=client_ip(request),
        before=before,
        after=after,
    )
    return {}


@commission_page
async def institution_edit(request: Request) -> Response:
    current = user(request)
    org = await Jurisdiction.of(current).institution(request.path_params["institution_id"])
    await org.fetch_related("county")
    values = {"name": org.name, "assessor": str(org.assessor_id or "")}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = _form(await request.form())
        errors = await update_institution(request, current, org, values)
        if not errors:
            get_session(request).flash(f"「{org.name}」的信息已保存。")
            return redirect(request, "/commission/institutions")
    context = {
        "org": org,
        "values": values,
        "errors": errors,
        "assessors": await _assessors(current),
        "count": (await _counts([org.id])).get(org.id, 0),
    }
    return render(
        request, "commission/institution_edit.html", context, status_code=400 if errors else 200
    )


# 添加执业机构申请 ----------------------------------------------------------------------------


async def request_add(
    request: Request, current: CurrentUser, values: dict[str, str]
) -> dict[str, str]:
    cleaned, errors = await clean_institution(current, values)
    if errors:
        return errors
    county, assessor = cleaned["county"], cleaned["assessor"]
    async with in_transaction():
        org = await Organisation.create(
            kind=OrgKind.INSTITUTION,
            name=cleaned["name"],
            status=OrgStatus.PENDING_ADD,
            prefecture_id=current.prefecture_id,
            county=county,
            assessor=assessor,
        )
        await _file(
            request,
            current,
            FilingKind.INSTITUTION_ADD,
            institution=org,
            payload={"name": org.name, "county_id": county.id, "assessor_id": assessor.id},
        )
    return {}


@commission_page
async def institution_add(request: Request) -> Response:
    current = user(request)
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = _form(await request.form())
        errors = await request_add(request, current, values)
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
        "assessors": await _assessors(current),
        "recent": await _recent(current, FilingKind.INSTITUTION_ADD),
        "kind": FilingKind.INSTITUTION_ADD,
    }
    return render(
        request, "commission/institution_add.html", context, status_code=400 if errors else 200
    )


# 删除执业机构申请 ----------------------------------------------------------------------------


async def request_delete(request: Request, current: CurrentUser, ids: list[int]) -> list[Filing]:
    """One filing per ticked institution, all or none. Refused at once while any physician
    remains in one of them."""
    if not ids:
        raise DomainError("请勾选需要删除的执业机构", field="institution")
    orgs = [await Jurisdiction.of(current).institution(i) for i in dict.fromkeys(ids)]
    for org in orgs:
        if org.status != OrgStatus.ACTIVE:
            raise DomainError(
                f"「{org.name}」当前状态为「{org.status.label}」，不能申请删除", field="institution"
            )
    staffed = set(await _counts([o.id for o in orgs]))
    if staffed:
        raise StillStaffed([o.name for o in orgs if o.id in staffed])
    for org in orgs:
        if await Filing.exists(
            kind=FilingKind.STAGING_OUT, status=ReviewStatus.PENDING, institution_id=org.id
        ):
            raise DomainError(
                f"「{org.name}」是待备案的调出暂存区申请的调入机构，请待备案完成后再申请删除",
                field="institution",
            )
    filings = []
    async with in_transaction():
        for org in orgs:
            changed = await Organisation.filter(id=org.id, status=OrgStatus.ACTIVE).update(
                status=OrgStatus.PENDING_DELETE
            )
            if not changed:
                raise Conflict(f"「{org.name}」的状态已变化，请刷新页面后重试")
            filings.append(
                await _file(request, current, FilingKind.INSTITUTION_DELETE, institution=org)
            )
    return filings


@commission_page
async def institution_delete(request: Request) -> Response:
    current = user(request)
    errors: dict[str, str] = {}
    blocked: list[str] = []
    if request.method == "POST":
        form = await request.form()
        raw = [str(v) for v in form.getlist("institution")]
        try:
            await request_delete(request, current, as_ints(raw))
        except StillStaffed as exc:
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
        "counts": await _counts([o.id for o in page.items]),
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


async def _one_pending(physician: Physician) -> None:
    if await Filing.exists(physician_id=physician.id, status=ReviewStatus.PENDING):
        raise DomainError("该医师已有待备案的暂存区申请，请等待备案结果", field="id_number")


async def request_staging_in(
    request: Request, current: CurrentUser, id_number: str, reason: str
) -> Filing:
    number = id_number_field(id_number)
    physician = (
        await Jurisdiction.of(current)
        .physicians()
        .get_or_none(id_number=number, institution_id__isnull=False)
    )
    if physician is None:
        raise DomainError("本地（州、市）执业机构中没有该身份证号的医师", field="id_number")
    if reason not in [r.value for r in STAGING_REASONS]:
        raise DomainError("请选择调入暂存区的原因", field="reason")
    await _one_pending(physician)
    if await Transfer.exists(physician_id=physician.id, status=ReviewStatus.PENDING):
        raise DomainError(
            "该医师有待审核的人员调出申请，请待调入机构处理后再申请", field="id_number"
        )
    return await _file(
        request,
        current,
        FilingKind.STAGING_IN,
        physician=physician,
        institution_id=physician.institution_id,
        staging_reason=StagingReason(reason),
        payload={"reason": reason, "institution_id": physician.institution_id},
    )


@commission_page
async def staging_in(request: Request) -> Response:
    current = user(request)
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    if request.method == "POST":
        values = _form(await request.form())
        try:
            await request_staging_in(
                request, current, values.get("id_number", ""), values.get("reason", "")
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
        "reasons": STAGING_REASONS,
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


async def request_staging_out(
    request: Request, current: CurrentUser, physician_id: int, target_id: int
) -> Filing:
    physician = await Jurisdiction.of(current).physician(physician_id)
    if physician.institution_id is not None:
        raise DomainError("该医师不在暂存区，请核实该医师是否已调入暂存区", field="physician")
    target = (
        await Jurisdiction.of(current)
        .institutions()
        .get_or_none(id=target_id, status=OrgStatus.ACTIVE)
    )
    if target is None:
        raise DomainError("请选择本地（州、市）内的执业机构", field="target")
    if await Filing.exists(physician_id=physician.id, status=ReviewStatus.PENDING):
        raise DomainError("该医师已有待备案的暂存区申请，请等待备案结果", field="physician")
    return await _file(
        request,
        current,
        FilingKind.STAGING_OUT,
        physician=physician,
        institution=target,
        payload={"target_institution_id": target.id},
    )


@commission_page
async def staging_out(request: Request) -> Response:
    current = user(request)
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    if request.method == "POST":
        values = _form(await request.form())
        try:
            await request_staging_out(
                request,
                current,
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
    *filing_review.routes,
]
