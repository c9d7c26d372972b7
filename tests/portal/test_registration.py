"""【快速注册】 through the real app, with a real face worker checking the photo."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from core.idcard import make_id_number
from core.settings import Settings
from models.enums import OrgKind, RegistrationStatus, Sex
from models.ops import AuditLog, OutboxMail
from models.org import Account, County, Organisation
from models.period import Enrollment
from models.physician import Physician
from tests import factories
from tests.face_helpers import grey_jpeg, photo
from tests.helpers import csrf_of, login


@pytest.fixture(scope="module")
async def place(app: Starlette) -> tuple[County, Organisation]:
    county = await County.get(code="653121")  # 疏附县, 喀什地区
    inst = await Organisation.create(
        kind=OrgKind.INSTITUTION,
        name="疏附县人民医院",
        prefecture_id=county.prefecture_id,
        county=county,
        address="疏附县托克扎克镇",
        phone="0998-5621234",
        contact_name="阿不都",
        contact_phone="13999887766",
        contact_email="sfxrmyy@example.com",
    )
    return county, inst


def form(where: County, inst: Organisation, **overrides: str) -> dict[str, str]:
    values = {
        "name": "买买提•艾力",
        "id_number": make_id_number("653121", date(1984, 3, 9), 135),
        "prefecture": str(where.prefecture_id),
        "county": str(where.id),
        "institution": str(inst.id),
        "practice_category": "中医",
        "practice_scope": "维医专业",
        "title": "主治医师",
        "licence_number": "110653121000123",
        "email": "maimaiti@example.com",
        "mobile": "13912345678",
        "password": "Kashgar2026",
        "confirm_password": "Kashgar2026",
    }
    values.update(overrides)
    return values


async def submit(
    client: httpx.AsyncClient, data: dict[str, str], image: bytes, kind: str = "image/jpeg"
) -> httpx.Response:
    token = await csrf_of(client, "/register")
    files = {"photo": ("photo.jpg", image, kind)}
    return await client.post("/register", data={**data, "csrf_token": token}, files=files)


async def htmx(client: httpx.AsyncClient, path: str, **params: object) -> httpx.Response:
    return await client.get(path, params=params, headers={"HX-Request": "true"})  # type: ignore[arg-type]


def field_error(html: str, field: str) -> str:
    found = re.search(rf'name="{field}".*?<p class="error"[^>]*>(.*?)</p>', html, re.S)
    return found.group(1) if found else ""


async def test_the_form_names_every_field(client: httpx.AsyncClient) -> None:
    page = await client.get("/register")
    for label in (
        "姓名",
        "身份证号",
        "所属地（州、市）",
        "所属县（市、区）",
        "执业机构",
        "执业类别",
        "执业范围",
        "职称",
        "医师执业证书编码",
        "电子邮箱",
        "手机号码",
        "登录密码",
        "插入“·”",
    ):
        assert label in page.text
    assert "喀什地区" in page.text and "维医专业" in page.text


async def test_cascading_selects_and_institution_search(
    client: httpx.AsyncClient, place: tuple[County, Organisation]
) -> None:
    county, inst = place
    options = await client.get(
        "/register/counties",
        params={"prefecture": county.prefecture_id},
        headers={"HX-Request": "true"},
    )
    assert "疏附县" in options.text and "<html" not in options.text
    found = await client.get(
        "/register/institutions",
        params={"county": county.id, "q": "人民"},
        headers={"HX-Request": "true"},
    )
    assert inst.name in found.text
    none = await client.get(
        "/register/institutions",
        params={"county": county.id, "q": "不存在"},
        headers={"HX-Request": "true"},
    )
    assert inst.name not in none.text
    facts = await client.get(
        "/register/id",
        params={"id_number": form(county, inst)["id_number"]},
        headers={"HX-Request": "true"},
    )
    assert "1984-03-09" in facts.text and "男" in facts.text
    bad = await client.get(
        "/register/id", params={"id_number": "653121198403091350"}, headers={"HX-Request": "true"}
    )
    assert "校验位" in bad.text


async def test_register_then_wait_for_review(
    client: httpx.AsyncClient, place: tuple[County, Organisation], worker: Any, settings: Settings
) -> None:
    county, inst = place
    data = form(county, inst)
    response = await submit(client, data, photo("obama.jpg"))
    assert response.status_code == 303, field_error(response.text, "photo") or response.text[-2000:]
    assert "请等待所属执业机构审核" in (await client.get("/login")).text
    doctor = await Physician.get(id_number=data["id_number"])
    assert doctor.name == "买买提·艾力"  # the look-alike dot is normalised
    assert doctor.sex == Sex.MALE and doctor.birth_date == date(1984, 3, 9)
    assert doctor.registration_status == RegistrationStatus.PENDING
    assert doctor.institution_id == inst.id and doctor.face_encoding
    assert (settings.media_path / doctor.photo).exists()
    assert await AuditLog.filter(action="registration_submitted", object_id=doctor.id).exists()
    assert (await login(client, data["id_number"], "Kashgar2026")).status_code == 303
    home = await client.get("/")
    assert "注册审核中" in home.text and inst.name in home.text

    # Registering again answers as a first registration would (an anonymous visitor learns
    # nothing about the ID number); the holder is told at the address on record.
    client.cookies.clear()
    again = await submit(client, {**data, "email": "someone.else@example.com"}, photo("obama.jpg"))
    assert again.status_code == 303
    assert "请等待所属执业机构审核" in (await client.get("/login")).text
    assert await Physician.filter(id_number=data["id_number"]).count() == 1
    told = await OutboxMail.get(to=data["email"], subject__contains="身份证号已注册")
    assert "/password/forgot" in told.body
    assert not await OutboxMail.filter(to="someone.else@example.com").exists()
    assert await AuditLog.filter(
        action="registration_duplicate", object_id=doctor.account_id
    ).exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": "Tom2"}, "name", "只能包含汉字和间隔号"),
        ({"id_number": "653121198403091350"}, "id_number", "校验位"),
        ({"id_number": "653121198402301357"}, "id_number", "出生日期"),
        ({"practice_scope": "内科专业"}, "practice_scope", "对应"),
        ({"mobile": "12345"}, "mobile", "11位手机号码"),
        ({"email": "not-an-email"}, "email", "有效的电子邮箱"),
        ({"licence_number": "12"}, "licence_number", "15位数字"),
        ({"password": "short", "confirm_password": "short"}, "password", "密码长度"),
        ({"confirm_password": "Different2026"}, "confirm_password", "不一致"),
        ({"county": ""}, "county", "请选择所属县"),
    ],
)
async def test_bad_fields_are_explained_and_nothing_is_saved(
    client: httpx.AsyncClient,
    place: tuple[County, Organisation],
    overrides: dict[str, str],
    field: str,
    message: str,
) -> None:
    county, inst = place
    number = make_id_number("653121", date(1990, 1, 2), 246)
    data = form(county, inst, **{"id_number": number, **overrides})
    before = await Account.all().count()
    response = await submit(client, data, photo("obama.jpg"))
    assert response.status_code == 400
    assert message in field_error(response.text, field), field
    assert await Account.all().count() == before


async def test_institution_of_another_county_is_refused(
    client: httpx.AsyncClient, place: tuple[County, Organisation]
) -> None:
    county, _ = place
    elsewhere = await factories.organisation(OrgKind.INSTITUTION, "650100")
    data = form(county, elsewhere, id_number=make_id_number("653121", date(1991, 5, 6), 357))
    response = await submit(client, data, photo("obama.jpg"))
    assert response.status_code == 400
    assert "所在县" in field_error(response.text, "institution")


@pytest.mark.parametrize(
    ("image", "kind", "message"),
    [
        (lambda: photo("obama_and_biden.jpg"), "image/jpeg", "请上传仅有本人的单人照片"),
        (grey_jpeg, "image/jpeg", "未能识别出人脸"),
        (lambda: b"%PDF-1.4 not a photo", "image/jpeg", "请上传 JPG 或 PNG 格式的照片"),
        (lambda: b"GIF89a", "image/gif", "JPG 或 PNG"),
        (lambda: photo("obama2.jpg"), "image/jpeg", "人脸未正对镜头"),
        (lambda: b"\xff\xd8" + b"\x00" * (11 * 1024 * 1024), "image/jpeg", "不能超过 10 MB"),
    ],
)
async def test_bad_photos_are_refused_with_the_reason(
    client: httpx.AsyncClient,
    place: tuple[County, Organisation],
    worker: Any,
    image: Any,
    kind: str,
    message: str,
) -> None:
    county, inst = place
    data = form(county, inst, id_number=make_id_number("653121", date(1992, 7, 8), 468))
    before = await Physician.all().count()
    response = await submit(client, data, image(), kind)
    assert response.status_code == 400
    assert message in field_error(response.text, "photo")
    assert await Physician.all().count() == before
    assert data["email"] in response.text  # what was typed is kept, the password is not
    assert "Kashgar2026" not in response.text


async def test_whole_journey_register_approved_enrolled(
    client: httpx.AsyncClient, place: tuple[County, Organisation], worker: Any
) -> None:
    """register → the institution approves on its page → the physician enrolls (general)."""
    county, inst = place
    reviewer = await factories.account(factories.Role.INSTITUTION, inst)
    await factories.period()
    data = form(county, inst, id_number=make_id_number("653121", date(1979, 11, 30), 579))
    assert (await submit(client, data, photo("biden.jpg"))).status_code == 303
    doctor = await Physician.get(id_number=data["id_number"])

    client.cookies.clear()
    await login(client, reviewer.username)
    token = await csrf_of(client, "/institution/registrations")
    await client.post(
        f"/institution/registrations/{doctor.id}/review",
        data={"decision": "approve", "csrf_token": token},
    )
    client.cookies.clear()
    await login(client, data["id_number"], "Kashgar2026")
    token = await csrf_of(client, "/physician/enrollment")
    enrolled = await client.post(
        "/physician/enrollment",
        data={"procedure": "general", "confirm_profile": "yes", "csrf_token": token},
    )
    assert enrolled.status_code == 303
    home = await client.get("/")
    assert "审核通过" in home.text and "一般程序 · 已报名" in home.text


async def test_returning_physician_enrolls_without_registering_again(
    client: httpx.AsyncClient, place: tuple[County, Organisation]
) -> None:
    """A physician of the last period: log in, check the profile, enroll in this period."""
    _, inst = place
    doctor = await factories.physician(inst)
    old = await factories.period()
    await Enrollment.create(period=old, physician=doctor, institution=inst, procedure="general")
    current = await factories.period()
    await login(client, doctor.id_number)
    assert (await client.get("/physician/profile")).status_code == 200
    token = await csrf_of(client, "/physician/enrollment")
    response = await client.post(
        "/physician/enrollment",
        data={"procedure": "general", "confirm_profile": "yes", "csrf_token": token},
    )
    assert response.status_code == 303
    assert await Enrollment.filter(physician_id=doctor.id, period_id=current.id).exists()


async def test_the_form_does_not_tell_which_id_numbers_are_registered(
    app: Starlette, place: tuple[County, Organisation], db: None
) -> None:
    county, inst = place
    taken = await factories.physician(inst)
    free = make_id_number("653121", date(1990, 5, 17), 271)
    transport = httpx.ASGITransport(app=app, client=("192.0.2.50", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as prober:
        answers = []
        for number in (taken.id_number, free):
            # What a prober sends: the ID number alone, or the whole form without a photo.
            for data in ({"id_number": number}, form(county, inst, id_number=number)):
                token = await csrf_of(prober, "/register")
                sent = await prober.post("/register", data={**data, "csrf_token": token})
                shown = sent.text.replace(number, "<ID>")
                shown = re.sub(r'value="[0-9a-f]{64}"|nonce="[\w-]+"', "", shown)
                answers.append((sent.status_code, shown))
        assert answers[:2] == answers[2:] and answers[0][0] == 400
        assert "已注册" not in answers[0][1] + answers[1][1]


async def test_registration_is_limited_per_address(
    app: Starlette, place: tuple[County, Organisation], db: None
) -> None:
    county, inst = place
    transport = httpx.ASGITransport(app=app, client=("192.0.2.51", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as prober:
        statuses = []
        for n in range(25):  # 25 tries in a row (REGISTER_MAX_PER_ADDRESS is 20)
            number = make_id_number("653121", date(1970, 1, 1 + n), 11)
            token = await csrf_of(prober, "/register")
            data = {**form(county, inst, id_number=number), "csrf_token": token}
            statuses.append((await prober.post("/register", data=data)).status_code)
        assert statuses == [400] * 20 + [429] * 5  # 400: no photo
        token = await csrf_of(prober, "/register")
        last = await prober.post("/register", data={**form(county, inst), "csrf_token": token})
        assert last.status_code == 429 and "注册操作过于频繁" in last.text
        assert "分钟后再试" in last.text
    other = httpx.ASGITransport(app=app, client=("192.0.2.52", 1))  # other addresses are not held
    async with httpx.AsyncClient(transport=other, base_url="http://testserver") as someone:
        token = await csrf_of(someone, "/register")
        data = {**form(county, inst), "csrf_token": token}
        assert (await someone.post("/register", data=data)).status_code == 400
