"""【考核信息查看】: filters by status, procedure, scope and result, and the .xlsx export."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import httpx
from openpyxl import load_workbook

import factories
from conftest import login, table_rows
from models.enums import OrgKind, Outcome, Procedure, RegistrationStatus
from models.period import Enrollment, Period, Result


async def test_filters_and_export(client: httpx.AsyncClient, db: None) -> None:
    period = await factories.period()
    inst, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    general = await factories.physician(inst, name="一般程序医师")
    simplified = await factories.physician(inst, name="简易程序医师")
    pending = await factories.physician(inst, RegistrationStatus.PENDING, name="待审医师")
    await Enrollment.create(
        period=period, physician=general, institution=inst, procedure=Procedure.GENERAL
    )
    await Enrollment.create(
        period=period, physician=simplified, institution=inst, procedure=Procedure.SIMPLIFIED
    )
    await Result.create(
        period=period,
        physician=general,
        procedure=Procedure.GENERAL,
        outcome=Outcome.QUALIFIED,
        test_score=90,
    )
    await Result.create(
        period=period,
        physician=simplified,
        procedure=Procedure.SIMPLIFIED,
        outcome=Outcome.UNQUALIFIED,
    )
    await Period.filter(id=period.id).update(results_published_at=datetime.now(UTC))
    elsewhere = await factories.physician(
        await factories.organisation(OrgKind.INSTITUTION), name="别家医师"
    )
    await login(client, acct.username)

    def names(html: str) -> list[str]:
        return sorted(row.split()[0] for row in table_rows(html))

    everyone = await client.get("/physicians")
    assert names(everyone.text) == ["一般程序医师", "待审医师", "简易程序医师"]
    assert "一般程序（已报名）" in everyone.text and "合格" in everyone.text
    by_procedure = await client.get("/physicians", params={"procedure": "simplified"})
    assert names(by_procedure.text) == ["简易程序医师"]
    by_result = await client.get("/physicians", params={"result": "qualified"})
    assert names(by_result.text) == ["一般程序医师"]
    by_status = await client.get("/physicians", params={"status": "pending"})
    assert names(by_status.text) == ["待审医师"]
    by_scope = await client.get("/physicians", params={"scope": "外科专业"})
    assert "没有符合条件的医师" in by_scope.text

    download = await client.get("/physicians/export.xlsx", params={"result": "unqualified"})
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(download.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("姓名", "身份证号", "性别")
    assert [r[0] for r in rows[1:]] == ["简易程序医师"]
    assert rows[1][1] == simplified.id_number and rows[1][-1] == "不合格"

    everything = load_workbook(io.BytesIO((await client.get("/physicians/export.xlsx")).content))
    exported = [r[0] for r in everything.active.iter_rows(min_row=2, values_only=True)]
    assert sorted(exported) == ["一般程序医师", "待审医师", "简易程序医师"]
    assert elsewhere.name not in exported and pending.name in exported
