"""A prefecture commission's 执业机构管理 and 特殊人员处理: the rules.

Renaming an institution or changing its assessment body is direct. Adding or deleting an
institution and moving a physician into or out of the staging area are filings (备案) that
take effect when the regional office approves them (``rules.filing_review``).

A new institution is created at filing time with status PENDING_ADD and linked from the
filing: the commission's list shows it as 新增待备案 at once, the duplicate-name check is one
query over real rows, and approval is a status change. Only ACTIVE institutions are offered
for registration, transfers and staging-out targets.
"""

from __future__ import annotations

from typing import Any

from tortoise.functions import Count
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core.errors import Conflict, DomainError
from core.idcard import id_number_field
from core.numbers import as_int
from models.enums import FilingKind, OrgKind, OrgStatus, ReviewStatus, StagingReason
from models.org import Account, County, Organisation
from models.physician import Filing, Physician, Transfer
from rules.actor import Actor
from rules.transition import Then, create, transition

STAGING_REASONS = (StagingReason.DEATH, StagingReason.RETIRED, StagingReason.LEFT)
STILL_STAFFED = "该执业机构内仍有个人信息留存，无法进行删除！"


class StillStaffed(DomainError):
    """Some ticked institutions still have physicians; ``names`` says which."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(STILL_STAFFED, field="institution")
        self.names = names


async def _file(
    commission: Actor, kind: FilingKind, then: Then[Filing] | None = None, **fields: Any
) -> Filing:
    """A pending filing with its audit row; ``then`` runs in the same transaction."""
    return await create(
        commission,
        Filing,
        action="filing_requested",
        values={
            "kind": kind,
            "commission_id": commission.organisation_id,
            "requested_by_id": commission.account_id,
            **fields,
        },
        to_state=ReviewStatus.PENDING,
        then=then,
        detail={
            "kind": kind.value,
            "institution": _id(fields.get("institution"), fields.get("institution_id")),
            "physician": _id(fields.get("physician"), fields.get("physician_id")),
        },
    )


def _id(obj: Any, given: int | None) -> int | None:
    return obj.id if obj is not None else given


def assessors(commission: Actor) -> QuerySet[Organisation]:
    """The assessment bodies of the commission's prefecture."""
    return Organisation.filter(
        kind=OrgKind.ASSESSOR, prefecture_id=commission.prefecture_id, status=OrgStatus.ACTIVE
    ).order_by("name")


async def clean_institution(
    commission: Actor, values: dict[str, str], *, exclude_id: int | None = None
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
        same = commission.jurisdiction.institutions().filter(name=name)
        if exclude_id is not None:
            same = same.exclude(id=exclude_id)
        if await same.exclude(status=OrgStatus.DELETED).exists():
            errors["name"] = "本地（州、市）已有同名的执业机构"
    cleaned: dict[str, Any] = {"name": name}
    raw = values.get("assessor", "")
    assessor = await assessors(commission).get_or_none(id=as_int(raw) or 0)
    if assessor is None:
        errors["assessor"] = "请选择本地（州、市）的考核机构"
    cleaned["assessor"] = assessor
    if exclude_id is None:
        raw = values.get("county", "")
        county = await County.get_or_none(
            id=as_int(raw) or 0, prefecture_id=commission.prefecture_id
        )
        if county is None:
            errors["county"] = "请选择本地（州、市）的县（市、区）"
        cleaned["county"] = county
    return cleaned, errors


async def staff_counts(ids: list[int]) -> dict[int, int]:
    """How many physicians each of these institutions holds (those with none are left out)."""
    rows = (
        await Physician.filter(institution_id__in=ids)
        .annotate(n=Count("id"))
        .group_by("institution_id")
        .values("institution_id", "n")
    )
    return {row["institution_id"]: row["n"] for row in rows}


async def update_institution(
    commission: Actor, org: Organisation, values: dict[str, str]
) -> dict[str, str]:
    """Rename / change the assessment body at once (no filing); returns field errors."""
    if org.status != OrgStatus.ACTIVE:
        return {"name": f"该机构状态为「{org.status.label}」，不能修改"}
    cleaned, errors = await clean_institution(commission, values, exclude_id=org.id)
    if errors:
        return errors
    before = {"name": org.name, "assessor": org.assessor_id}
    after = {"name": cleaned["name"], "assessor": cleaned["assessor"].id}
    if before == after:
        return {}

    async def rename_accounts(done: Organisation) -> None:
        await Account.filter(organisation_id=done.id).update(display_name=done.name)

    await transition(
        commission,
        org,
        action="institution_updated",
        from_states=[OrgStatus.ACTIVE],
        to_state=OrgStatus.ACTIVE,
        values={"name": after["name"], "assessor_id": after["assessor"]},
        then=rename_accounts,
        detail={"before": before, "after": after},
        audit_states=False,
    )
    return {}


async def request_add(commission: Actor, values: dict[str, str]) -> dict[str, str]:
    """添加执业机构申请: the institution exists at once as 新增待备案; returns field errors."""
    cleaned, errors = await clean_institution(commission, values)
    if errors:
        return errors
    county, assessor = cleaned["county"], cleaned["assessor"]
    async with in_transaction():
        org = await Organisation.create(
            kind=OrgKind.INSTITUTION,
            name=cleaned["name"],
            status=OrgStatus.PENDING_ADD,
            prefecture_id=commission.prefecture_id,
            county=county,
            assessor=assessor,
        )
        await _file(
            commission,
            FilingKind.INSTITUTION_ADD,
            institution=org,
            payload={"name": org.name, "county_id": county.id, "assessor_id": assessor.id},
        )
    return {}


async def request_delete(commission: Actor, ids: list[int]) -> list[Filing]:
    """删除执业机构申请: one filing per ticked institution, all or none. Refused at once
    while any physician remains in one of them."""
    if not ids:
        raise DomainError("请勾选需要删除的执业机构", field="institution")
    orgs = [await commission.jurisdiction.institution(i) for i in dict.fromkeys(ids)]
    for org in orgs:
        if org.status != OrgStatus.ACTIVE:
            raise DomainError(
                f"「{org.name}」当前状态为「{org.status.label}」，不能申请删除", field="institution"
            )
    staffed = set(await staff_counts([o.id for o in orgs]))
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

    async def reserve(filing: Filing) -> None:
        """The institution waits for the office as 删除待备案, if it is still active."""
        changed = await Organisation.filter(
            id=filing.institution_id, status=OrgStatus.ACTIVE
        ).update(status=OrgStatus.PENDING_DELETE)
        if not changed:
            raise Conflict()

    async with in_transaction():
        return [
            await _file(commission, FilingKind.INSTITUTION_DELETE, reserve, institution=org)
            for org in orgs
        ]


async def _one_pending(physician: Physician, field: str) -> None:
    if await Filing.exists(physician_id=physician.id, status=ReviewStatus.PENDING):
        raise DomainError("该医师已有待备案的暂存区申请，请等待备案结果", field=field)


async def request_staging_in(commission: Actor, id_number: str, reason: str) -> Filing:
    """调入暂存区申请: a physician of the prefecture, and why (death, retirement, left)."""
    number = id_number_field(id_number)
    physician = await commission.jurisdiction.physicians().get_or_none(
        id_number=number, institution_id__isnull=False
    )
    if physician is None:
        raise DomainError("本地（州、市）执业机构中没有该身份证号的医师", field="id_number")
    if reason not in [r.value for r in STAGING_REASONS]:
        raise DomainError("请选择调入暂存区的原因", field="reason")
    await _one_pending(physician, "id_number")
    if await Transfer.exists(physician_id=physician.id, status=ReviewStatus.PENDING):
        raise DomainError(
            "该医师有待审核的人员调出申请，请待调入机构处理后再申请", field="id_number"
        )
    return await _file(
        commission,
        FilingKind.STAGING_IN,
        physician=physician,
        institution_id=physician.institution_id,
        staging_reason=StagingReason(reason),
        payload={"reason": reason, "institution_id": physician.institution_id},
    )


async def request_staging_out(commission: Actor, physician_id: int, target_id: int) -> Filing:
    """调出暂存区申请: a physician of the staging area to an institution of the prefecture."""
    physician = await commission.jurisdiction.physician(physician_id)
    if physician.institution_id is not None:
        raise DomainError("该医师不在暂存区，请核实该医师是否已调入暂存区", field="physician")
    target = await commission.jurisdiction.institutions().get_or_none(
        id=target_id, status=OrgStatus.ACTIVE
    )
    if target is None:
        raise DomainError("请选择本地（州、市）内的执业机构", field="target")
    await _one_pending(physician, "physician")
    return await _file(
        commission,
        FilingKind.STAGING_OUT,
        physician=physician,
        institution=target,
        payload={"target_institution_id": target.id},
    )
