"""An organisation asking for another's physician gets 404, for every organisation role."""

from __future__ import annotations

import httpx

from models.enums import OrgKind, RegistrationStatus
from tests import factories
from tests.helpers import login, table_rows


async def test_jurisdiction_of_each_role(client: httpx.AsyncClient, db: None) -> None:
    # Urumqi: assessor A with institution A; Kashgar: assessor B with institution B.
    assessor_a, assessor_a_acct = await factories.org_with_account(OrgKind.ASSESSOR, "650100")
    assessor_b, assessor_b_acct = await factories.org_with_account(OrgKind.ASSESSOR, "653100")
    inst_a, inst_a_acct = await factories.org_with_account(
        OrgKind.INSTITUTION, "650100", assessor=assessor_a
    )
    inst_b, inst_b_acct = await factories.org_with_account(
        OrgKind.INSTITUTION, "653100", assessor=assessor_b
    )
    _, commission_a_acct = await factories.org_with_account(OrgKind.COMMISSION, "650100")
    _, commission_b_acct = await factories.org_with_account(OrgKind.COMMISSION, "653100")
    _, office_acct = await factories.org_with_account(OrgKind.OFFICE)
    doc_a = await factories.physician(inst_a, name="阿依古丽·买买提")
    doc_b = await factories.physician(inst_b, name="王建国")

    cases = [
        (inst_a_acct, doc_a, doc_b),
        (inst_b_acct, doc_b, doc_a),
        (assessor_a_acct, doc_a, doc_b),
        (assessor_b_acct, doc_b, doc_a),
        (commission_a_acct, doc_a, doc_b),
        (commission_b_acct, doc_b, doc_a),
    ]
    for acct, own, other in cases:
        client.cookies.clear()
        await login(client, acct.username)
        mine = await client.get(f"/physicians/{own.id}")
        assert mine.status_code == 200, acct.username
        assert own.name in mine.text
        theirs = await client.get(f"/physicians/{other.id}")
        assert theirs.status_code == 404, acct.username
        assert other.name not in theirs.text
        # Searched by name: the list's first page may be full of other tests' physicians.
        listing = await client.get("/physicians", params={"q": own.name})
        assert any(own.name in row for row in table_rows(listing.text))
        listing = await client.get("/physicians", params={"q": other.name})
        assert not any(other.name in row for row in table_rows(listing.text))

    client.cookies.clear()
    await login(client, office_acct.username)
    for doc in (doc_a, doc_b):
        assert (await client.get(f"/physicians/{doc.id}")).status_code == 200
    # An id no table can hold is a plain 404 (not an integer overflow in the database).
    assert (await client.get("/physicians/99999999999")).status_code == 404


async def test_physicians_cannot_browse_physicians(client: httpx.AsyncClient, db: None) -> None:
    inst = await factories.organisation(OrgKind.INSTITUTION)
    doc = await factories.physician(inst)
    await login(client, doc.id_number)
    assert (await client.get(f"/physicians/{doc.id}")).status_code == 403


async def test_list_search_filter_and_pagination(client: httpx.AsyncClient, db: None) -> None:
    inst, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    for n in range(23):
        status = RegistrationStatus.PENDING if n % 2 else RegistrationStatus.APPROVED
        await factories.physician(inst, status=status, name=f"分页医师{n:02d}")
    await login(client, acct.username)
    first = await client.get("/physicians")
    assert "第 1 / 2 页，共 23 条" in first.text
    assert len(table_rows(first.text)) == 20
    second = await client.get("/physicians?page=2")
    assert len(table_rows(second.text)) == 3
    found = await client.get("/physicians", params={"q": "分页医师07"})
    assert [r.split()[0] for r in table_rows(found.text)] == ["分页医师07"]
    pending = await client.get("/physicians", params={"status": "pending"})
    assert "共 11 条" in pending.text
    partial = await client.get("/physicians", params={"q": "分页"}, headers={"HX-Request": "true"})
    assert "<html" not in partial.text and "分页医师" in partial.text
    assert partial.headers["Vary"] == "HX-Request"
