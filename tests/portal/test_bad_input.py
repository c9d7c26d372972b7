"""Bad input gets a clear answer, never a 500 or a dropped connection: fragment URLs opened
as pages, absurd numbers, a period name no sheet title may hold, an off-site ``next``, an
.xlsx zip bomb (issue 16). ``test_bad_input_sweep`` does the same for every route."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from openpyxl import load_workbook
from starlette.applications import Starlette

from core.numbers import as_int
from models.enums import OrgKind, Role
from models.ops import AuditLog
from models.period import Period
from rules.question_import import MAX_INFLATED_BYTES
from rules.questions import EXAMPLES, HEADER
from tests import factories
from tests.helpers import TEST_PASSWORD, csrf_of, login
from web.xlsx import sheet_title, workbook

HUGE = "99999999999999999999"


@pytest_asyncio.fixture
async def lenient(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client to which the app's own errors come back as answers (500), not exceptions."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 1), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


def test_numbers_are_bounded_in_one_place() -> None:
    assert as_int("42") == 42 and as_int(" 7 ") == 7 and as_int("４２") == 42
    for absurd in (HUGE, "1234567890", "²", "1e309", "0x10", "-1", "", None, 3):
        assert as_int(absurd) is None, absurd
    assert as_int("-12", -9999, 9999) == -12 and as_int("61", high=60) is None


async def test_fragment_urls_opened_as_pages_go_to_their_page(
    lenient: httpx.AsyncClient, db: None
) -> None:
    users = await factories.one_account_per_role()
    number = "653121198403091350"
    asked = {
        None: [(f"/register/id?id_number={number}", "/register")],
        Role.INSTITUTION: [
            (f"/institution/transfers/lookup?id_number={number}", "/institution/transfers/out"),
            ("/institution/transfers/targets?q=医院", "/institution/transfers/out"),
        ],
        Role.COMMISSION: [
            (f"/commission/staging/lookup?id_number={number}", "/commission/staging/in")
        ],
    }
    for role, urls in asked.items():
        lenient.cookies.clear()
        if role:
            await login(lenient, users[role])
        for url, page in urls:
            opened = await lenient.get(url)
            assert opened.status_code == 303 and opened.headers["location"] == page, url
            assert (await lenient.get(page)).status_code == 200
            partial = await lenient.get(url, headers={"HX-Request": "true"})
            assert partial.status_code == 200 and "<html" not in partial.text, url


async def test_huge_numbers_in_the_query_are_no_error(lenient: httpx.AsyncClient, db: None) -> None:
    users = await factories.one_account_per_role()
    await factories.period()
    asked = {
        None: ["/register/counties?prefecture=", "/register/institutions?county="],
        Role.OFFICE: [
            "/office/results?period=",
            "/office/results?prefecture=",
            "/office/questions?q=",
            "/office/statistics?prefecture=",
            "/physicians?page=",
        ],
        Role.COMMISSION: ["/commission/institutions?county=", "/commission/staging/out?q="],
    }
    for role, urls in asked.items():
        lenient.cookies.clear()
        if role:
            await login(lenient, users[role])
        for url in urls:
            for value in (HUGE, "²", "-5"):
                answer = await lenient.get(url + value)
                assert answer.status_code in (200, 404), (url, value, answer.status_code)
    assert (await lenient.get(f"/physicians/{HUGE}")).status_code == 404


async def test_period_name_no_sheet_title_may_hold(client: httpx.AsyncClient, db: None) -> None:
    assert sheet_title("考核结果_2027/2028[第一期]*?") == "考核结果_2027_2028_第一期___"
    assert sheet_title("'" + "长" * 40 + "'") == "长" * 31
    period = await Period.create(name="2027/2028[第一期]*?:\\")
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    await login(client, office.username)
    exported = await client.get(f"/office/results/export.xlsx?period={period.id}")
    assert exported.status_code == 200
    book = load_workbook(io.BytesIO(exported.content))
    assert book.sheetnames == ["考核结果_2027_2028_第一期_____"]
    assert "2027_2028" in exported.headers["content-disposition"]


@pytest.mark.parametrize(
    "target",
    [
        "/\\evil.example/",
        "/\t/evil.example/",
        "/\n/evil.example/",
        "//evil.example/",
        "https://evil.example/",
        "javascript:alert(1)",
        "/\r/evil.example/",
    ],
)
async def test_next_is_a_path_of_this_site(
    client: httpx.AsyncClient, db: None, target: str
) -> None:
    _, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    client.cookies.clear()
    data = {"username": acct.username, "password": TEST_PASSWORD, "next": target}
    plain = await client.post("/login", data={**data, "csrf_token": await csrf_of(client)})
    assert plain.status_code == 303 and plain.headers["location"] == "/"
    client.cookies.clear()
    token = await csrf_of(client)
    htmx = await client.post(
        "/login", data={**data, "csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert htmx.headers["HX-Redirect"] == "/"


async def test_next_keeps_a_path_of_this_site(client: httpx.AsyncClient, db: None) -> None:
    _, acct = await factories.org_with_account(OrgKind.INSTITUTION)
    data = {"username": acct.username, "password": TEST_PASSWORD, "next": "/physicians?page=2"}
    kept = await client.post("/login", data={**data, "csrf_token": await csrf_of(client)})
    assert kept.headers["location"] == "/physicians?page=2"


def zip_bomb() -> bytes:
    """A real .xlsx whose sheet inflates to about 40 MB of rows from about 200 KB."""
    legit = zipfile.ZipFile(io.BytesIO(workbook("题库", HEADER, [EXAMPLES[0]])))
    row = (
        "<row>"
        + "".join(f'<c t="inlineStr"><is><t>{i % 10}</t></is></c>' for i in range(14))
        + "</row>"
    )
    sheet = (
        '<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
        'spreadsheetml/2006/main"><sheetData>'
        + row * (40 * 1024 * 1024 // len(row))
        + "</sheetData></worksheet>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        for member in legit.infolist():
            content = (
                sheet.encode() if member.filename.endswith("sheet1.xml") else legit.read(member)
            )
            bomb.writestr(member.filename, content)
    return out.getvalue()


async def test_xlsx_zip_bomb_is_refused_before_it_is_inflated(
    client: httpx.AsyncClient, db: None
) -> None:
    bomb = zip_bomb()
    inflated = sum(m.file_size for m in zipfile.ZipFile(io.BytesIO(bomb)).infolist())
    assert len(bomb) < 300_000 and inflated > MAX_INFLATED_BYTES
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    await login(client, office.username)
    token = await csrf_of(client, "/office/questions")
    started = time.monotonic()
    refused = await client.post(
        "/office/questions/import",
        data={"csrf_token": token},
        files={"file": ("题库.xlsx", bomb)},
    )
    assert time.monotonic() - started < 3
    assert refused.status_code == 400 and "解压后内容过大" in refused.text
    assert not await AuditLog.filter(action="questions_imported").exists()


async def test_head_with_a_form_changes_nothing(client: httpx.AsyncClient, db: None) -> None:
    """HEAD is a safe method (no CSRF check), so no page may treat it as a POST."""
    _, acct = await factories.org_with_account(OrgKind.ASSESSOR)
    await login(client, acct.username)
    new = "Hotan2026x"
    form = {"old_password": TEST_PASSWORD, "new_password": new, "confirm_password": new}
    head = await client.request("HEAD", "/account/password", data=form)
    assert head.status_code == 200
    client.cookies.clear()
    assert (await login(client, acct.username)).status_code == 303  # the old password holds
    assert not await AuditLog.filter(action="password_changed", actor_id=acct.id).exists()
