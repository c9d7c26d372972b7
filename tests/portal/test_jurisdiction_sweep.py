"""Every route that takes an object id (an int path parameter), asked by an account of
another jurisdiction, answers 403 or 404 and changes nothing. The routes are read from the
app, so a new route is swept as soon as it exists; a new kind of path parameter must be
added to ``Side.ids``."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

import factories
from conftest import csrf_of, login
from models.enums import (
    EnrollmentStatus,
    EvaluationStatus,
    FilingKind,
    OrgKind,
    Procedure,
    Rating,
    Role,
    StagingReason,
)
from models.ops import AuditLog
from models.org import Account, Organisation
from models.period import Evaluation, Period
from models.physician import Filing, Physician, Transfer

PARAM = re.compile(r"{(\w+):int}")
# A form that gets every decision handler past its own validation to the object lookup.
FORM = {
    "decision": "approve",
    "reason": "越权测试",
    "work_performance": "pass",
    "ethics": "pass",
    "comment": "越权测试",
    "name": "越权测试机构",
}


@dataclass
class Side:
    """One prefecture's organisations, accounts and objects."""

    accounts: dict[Role, Account]
    institution: Organisation
    physician: Physician
    ids: dict[str, int]


async def side(code: str, period: Period) -> Side:
    assessor, assessor_acct = await factories.org_with_account(OrgKind.ASSESSOR, code)
    inst = await factories.organisation(OrgKind.INSTITUTION, code, assessor=assessor)
    inst_acct = await factories.account(Role.INSTITUTION, inst)
    other_inst = await factories.organisation(OrgKind.INSTITUTION, code, assessor=assessor)
    commission, commission_acct = await factories.org_with_account(OrgKind.COMMISSION, code)
    doc = await factories.physician(inst)
    enrollment = await factories.enrollment(
        period, doc, Procedure.SIMPLIFIED, EnrollmentStatus.INSTITUTION_APPROVED
    )
    evaluation = await Evaluation.create(
        period=period,
        physician=doc,
        status=EvaluationStatus.INSTITUTION_RATED,
        work_performance=Rating.PASS,
        ethics=Rating.PASS,
    )
    transfer = await Transfer.create(
        physician=doc, from_institution=inst, to_institution=other_inst, requested_by=inst_acct
    )
    filing = await Filing.create(
        kind=FilingKind.STAGING_IN,
        commission=commission,
        institution=inst,
        physician=doc,
        staging_reason=StagingReason.RETIRED,
        requested_by=commission_acct,
    )
    doc_acct = await Account.get(id=doc.account_id)
    return Side(
        accounts={
            Role.INSTITUTION: inst_acct,
            Role.ASSESSOR: assessor_acct,
            Role.COMMISSION: commission_acct,
            Role.PHYSICIAN: doc_acct,
        },
        institution=inst,
        physician=doc,
        ids={
            "physician_id": doc.id,
            "enrollment_id": enrollment.id,
            "evaluation_id": evaluation.id,
            "transfer_id": transfer.id,
            "filing_id": filing.id,
            "institution_id": inst.id,
            "organisation_id": inst.id,
            "org_id": inst.id,
            "account_id": inst_acct.id,
        },
    )


def swept_routes(app: Starlette) -> list[Route]:
    return [r for r in app.routes if isinstance(r, Route) and PARAM.search(r.path)]


async def test_other_jurisdictions_get_404(app: Starlette, client: httpx.AsyncClient) -> None:
    period = await factories.period()
    mine = await side("650100", period)
    theirs = await side("653100", period)
    routes = swept_routes(app)
    unmapped = {name for r in routes for name in PARAM.findall(r.path) if name not in theirs.ids}
    assert not unmapped, f"add these path parameters to the sweep: {sorted(unmapped)}"
    assert len(routes) >= 5

    last = await AuditLog.all().order_by("-id").first()
    audit_before = last.id if last else 0
    leaks = []
    for role, account in mine.accounts.items():
        client.cookies.clear()
        username = account.username
        assert (await login(client, username)).status_code == 303, username
        token = await csrf_of(client, "/account/password")
        for route in routes:
            path = PARAM.sub(lambda m: str(theirs.ids[m.group(1)]), route.path)
            for method in sorted(route.methods or {"GET"}):
                if method == "HEAD":
                    continue
                if method == "GET":
                    response = await client.get(path)
                else:
                    response = await client.post(path, data={**FORM, "csrf_token": token})
                if response.status_code not in (403, 404, 405):
                    leaks.append(f"{role.value} {method} {path} → {response.status_code}")
    assert not leaks, "\n".join(leaks)
    written = AuditLog.filter(id__gt=audit_before).exclude(action__in=("login", "logout"))
    assert not [a.action async for a in written]
    doc = await Physician.get(id=theirs.physician.id)
    assert doc.institution_id == theirs.institution.id
    assert (await Transfer.get(id=theirs.ids["transfer_id"])).status == "pending"
    assert (await Filing.get(id=theirs.ids["filing_id"])).status == "pending"
