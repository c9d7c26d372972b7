"""rules.jurisdiction, called directly: what each role's actor sees, and 404 outside it."""

from __future__ import annotations

import pytest

from core.errors import NotFound
from models.enums import OrgKind, Role
from models.org import Organisation
from models.physician import Physician
from tests import factories
from tests.rules.rule_checks import actor_of, physician_actor


async def test_each_role_sees_its_own(db: None) -> None:
    body_a = await factories.organisation(OrgKind.ASSESSOR, "650100")
    body_b = await factories.organisation(OrgKind.ASSESSOR, "653100")
    inst_a, _ = await factories.org_with_account(OrgKind.INSTITUTION, "650100", assessor=body_a)
    inst_b = await factories.organisation(OrgKind.INSTITUTION, "653100", assessor=body_b)
    await factories.account(Role.ASSESSOR, body_a)
    commission_a, _ = await factories.org_with_account(OrgKind.COMMISSION, "650100")
    office, _ = await factories.org_with_account(OrgKind.OFFICE)
    doc_a = await factories.physician(inst_a)
    doc_b = await factories.physician(inst_b)
    drill = await factories.physician(inst_a)
    await Physician.filter(id=drill.id).update(rehearsal=True)  # the load tool's: nobody's

    async def sees(org: Organisation, doc: Physician) -> bool:
        actor = await actor_of(org)
        return await actor.jurisdiction.physicians().filter(id=doc.id).exists()

    for org in (inst_a, body_a, commission_a, office):
        assert await sees(org, doc_a), org.kind
        assert not await sees(org, drill), org.kind
    for org in (inst_a, body_a, commission_a):
        assert not await sees(org, doc_b), org.kind
        with pytest.raises(NotFound):
            await (await actor_of(org)).jurisdiction.physician(doc_b.id)
    assert await sees(office, doc_b)

    me = await physician_actor(doc_a)
    assert [p.id for p in await me.jurisdiction.physicians()] == [doc_a.id]
    institution = await actor_of(inst_a)
    assert [o.id for o in await institution.jurisdiction.institutions()] == [inst_a.id]
    assert institution.jurisdiction.id_number(doc_a) == doc_a.id_number
    assert (await actor_of(commission_a)).jurisdiction.id_number(doc_a) == doc_a.masked_id_number
