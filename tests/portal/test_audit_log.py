"""【操作日志】: newest first, Chinese action names, every filter, Beijing days, office only."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from models.enums import FilingKind, OrgKind
from models.ops import AuditLog
from models.physician import Filing
from rules import audit
from tests import factories
from tests.helpers import login, table_rows


async def logged(action: str, at: datetime, **kw: Any) -> AuditLog:
    entry = await audit.record(None, action, **kw)
    await AuditLog.filter(id=entry.id).update(created_at=at)
    return entry


async def rows(client: httpx.AsyncClient, **params: str) -> list[str]:
    page = await client.get("/office/audit", params=params)
    assert page.status_code == 200, page.text
    return table_rows(page.text)


async def test_filters_and_labels(client: httpx.AsyncClient, db: None) -> None:
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    doc = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    # 2026-03-01 16:30 UTC is 2026-03-02 00:30 in Beijing: it belongs to 3 March.
    await logged(
        "registration_rejected",
        datetime(2026, 3, 1, 16, 30, tzinfo=UTC),
        obj=doc,
        from_state="pending",
        to_state="rejected",
        reason="执业机构填写错误",
        ip="198.51.100.20",
        label="inst_audit_a",
        note="第一次",
    )
    await logged(
        "registration_approved",
        datetime(2026, 3, 1, 15, 30, tzinfo=UTC),
        obj=doc,
        from_state="pending",
        to_state="approved",
        label="inst_audit_b",
    )
    await logged("mystery_action", datetime(2026, 3, 5, 2, 0, tzinfo=UTC), label="inst_audit_c")

    await login(client, office.username)
    page = await client.get("/office/audit")
    assert "操作日志" in page.text

    mine = await rows(client, actor="inst_audit")
    assert len(mine) == 3
    assert mine[0].startswith("2026-03-05 10:00:00 inst_audit_c mystery_action")  # raw
    assert "注册审核未通过" in mine[1] and "待审核 → 未通过" in mine[1]
    assert (
        "执业机构填写错误" in mine[1] and "198.51.100.20" in mine[1] and "note：第一次" in mine[1]
    )
    assert f"医师 {doc.name}（#{doc.id}）" in mine[1]
    assert mine[1].startswith("2026-03-02 00:30:00")  # shown in Beijing time

    by_action = await rows(client, action="registration_approved", actor="inst_audit")
    assert len(by_action) == 1 and "inst_audit_b" in by_action[0]
    by_object = await rows(client, object_type="physician", object_id=str(doc.id))
    assert len(by_object) == 2
    by_day = await rows(client, actor="inst_audit", date_from="2026-03-02", date_to="2026-03-02")
    assert len(by_day) == 1 and "inst_audit_a" in by_day[0]
    first_day = await rows(client, actor="inst_audit", date_to="2026-03-01")
    assert len(first_day) == 1 and "inst_audit_b" in first_day[0]
    by_reason = await rows(client, q="填写错误")
    assert len(by_reason) == 1 and "inst_audit_a" in by_reason[0]

    fragment = await client.get(
        "/office/audit", params={"actor": "inst_audit_c"}, headers={"HX-Request": "true"}
    )
    assert "<html" not in fragment.text and "mystery_action" in fragment.text

    bad = await client.get("/office/audit", params={"date_from": "2026-13-01", "object_id": "x"})
    assert bad.status_code == 400
    assert "日期格式应为 年-月-日" in bad.text and "对象编号应为数字" in bad.text
    huge = await client.get("/office/audit", params={"object_id": "12345678901"})
    assert huge.status_code == 400 and "对象编号应为数字" in huge.text
    backwards = await client.get(
        "/office/audit", params={"date_from": "2026-03-05", "date_to": "2026-03-01"}
    )
    assert backwards.status_code == 400 and "结束日期不能早于开始日期" in backwards.text


async def test_pagination_newest_first(client: httpx.AsyncClient, db: None) -> None:
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    for n in range(55):
        await audit.record(None, "logout", label=f"paging_{n:02d}")
    await login(client, office.username)
    first = await rows(client, actor="paging_")
    assert len(first) == 50 and first[0].split()[2] == "paging_54"
    second = await rows(client, actor="paging_", page="2")
    assert len(second) == 5 and second[-1].split()[2] == "paging_00"
    assert "第 1 / 2 页" in (await client.get("/office/audit", params={"actor": "paging_"})).text


async def test_office_only(client: httpx.AsyncClient, db: None) -> None:
    for kind in (OrgKind.COMMISSION, OrgKind.INSTITUTION, OrgKind.ASSESSOR):
        _, acct = await factories.org_with_account(kind)
        client.cookies.clear()
        await login(client, acct.username)
        assert (await client.get("/office/audit")).status_code == 403


# Where audit rows are written: audit.record(actor, "action", key=…) and the rules'
# transition(…, action="…", detail={"key": …}), create(…) and event(actor, "action", …).
AUDITED = ("portal", "examhall", "core", "workers", "rules", "web")
CALL = re.compile(r"audit\.record\(|(?<![.\w])(?:transition|create|event)\(")
ACTION = re.compile(
    r"^\s*[^,]+,\s*(\"[a-z_]+\")"  # audit.record(actor, "action", …), event(actor, "action")
    r"|\baction=(\"[a-z_]+\"(?:\s+if\s+[^\n]+?\s+else\s+\"[a-z_]+\")?)"
)


def audit_calls() -> list[tuple[str, str]]:
    """(function, arguments) of every call that writes an audit row, from the source."""
    root = Path(__file__).resolve().parents[2]
    calls = []
    for package in AUDITED:
        for path in (root / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for match in CALL.finditer(text):
                depth, end = 1, match.end()
                while depth:
                    depth += {"(": 1, ")": -1}.get(text[end], 0)
                    end += 1
                calls.append((match.group(), text[match.end() : end]))
    return calls


def test_every_recorded_action_has_a_chinese_name() -> None:
    """Like an undocumented setting, an action recorded without a label fails here
    (the page would show it raw): add it to ``portal.audit_log.ACTIONS``."""
    from portal.audit_log import ACTIONS

    found = {
        action
        for _, call in audit_calls()
        for match in ACTION.finditer(call)
        for action in re.findall(r"\"([a-z_]+)\"", "".join(g for g in match.groups() if g))
    }
    root = Path(__file__).resolve().parents[2]
    for package in AUDITED:  # an action chosen before the call: action = "…"
        for path in (root / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            found |= set(re.findall(r"^\s*action = \"([a-z_]+)\"$", text, re.M))
    assert len(found) > 20
    assert sorted(found - set(ACTIONS)) == []


async def test_entries_read_as_names_and_chinese_labels(
    client: httpx.AsyncClient, db: None
) -> None:
    """No programmer keys or bare ids: 调出暂存区 to an institution by name, the new log-in by
    its user name, the filing by what it is about."""
    commission, commission_acct = await factories.org_with_account(OrgKind.COMMISSION)
    target = await factories.organisation(OrgKind.INSTITUTION, name="日志测试调入医院")
    doc = await factories.physician(None, name="日志测试医师")
    filing = await Filing.create(
        kind=FilingKind.STAGING_OUT,
        commission=commission,
        physician=doc,
        institution=target,
        requested_by=commission_acct,
    )
    await audit.record(
        None,
        "filing_approved",
        obj=filing,
        label="names_audit",
        kind="staging_out",
        to_institution=target.id,
        account_id=commission_acct.id,
        registration_resubmitted=False,
        before={"title": "主治医师", "assessor": target.id},
    )
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    await login(client, office.username)
    (row,) = await rows(client, actor="names_audit")
    assert f"备案 调出暂存区：日志测试医师（#{filing.id}）" in row
    assert "类型：调出暂存区" in row
    assert f"调入执业机构：日志测试调入医院（#{target.id}）" in row
    assert f"新建登录账号：{commission_acct.username}" in row
    assert "注册重新提交审核：否" in row
    assert f"修改前：名称：主治医师；所属考核机构：日志测试调入医院（#{target.id}）" in row
    for raw in ("kind：", "to_institution", "account_id", "staging_out"):
        assert raw not in row, raw


def test_every_recorded_detail_key_has_a_chinese_label() -> None:
    """Like the actions: a detail key recorded by the code without a label fails here."""
    from portal.audit_text import FIELD_LABELS, LABELS, REFERENCES

    calls = audit_calls()
    keys = set()
    for function, call in calls:
        if function.startswith("audit"):
            keys |= set(re.findall(r"\b([a-z_]+)=", call))
        for detail in re.findall(r"\bdetail=\{([^}]*)\}", call):
            keys |= set(re.findall(r"\"([a-z_]+)\":", detail))
    plain = {"obj", "from_state", "to_state", "reason", "ip", "label", "id"}  # id: Account.get
    assert len(calls) > 40 and "to_institution" not in keys  # set through **effects
    known = set(LABELS) | set(REFERENCES) | set(FIELD_LABELS) | plain
    assert sorted(keys - known) == []
