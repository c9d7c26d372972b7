"""【快速注册】: a physician registers, the photo is checked by the face service, and the
registration waits for the chosen institution's review.

The page never tells an anonymous visitor whether an ID number already holds an account: a
complete form with a registered ID number gets the same answer as a new registration (after
the same work), and the account's holder is mailed at the address on record that they are
registered already and how to log in. Submissions are limited per address
(REGISTER_MAX_PER_ADDRESS): more answer 429.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.expressions import Q

from core.clock import minutes
from core.errors import DomainError
from core.idcard import IdNumberError, parse_id_number
from core.numbers import as_int
from core.passwords import RULES_TEXT, password_problem
from models.enums import OrgKind, OrgStatus
from models.org import County, Organisation, Prefecture
from models.physician import Physician
from models.practice import PRACTICE_SCOPES, TITLES, valid_scope
from rules import registration as registration_rules
from rules.actor import Actor
from rules.registration import Registration
from web.endpoint import client_ip, fragment, mailer, redirect, render
from web.sessions import get_session

NAME = re.compile(r"^[\u4e00-\u9fff]+(·[\u4e00-\u9fff]+)*$")
DOTS = str.maketrans({"•": "·", "・": "·", ".": "·", "．": "·", "∙": "·"})
MOBILE = re.compile(r"^1[3-9]\d{9}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
LICENCE = re.compile(r"^\d{15}$")


def clean_name(raw: str) -> tuple[str, str | None]:
    name = re.sub(r"\s+", "", raw).translate(DOTS)
    if not name:
        return name, "请填写姓名"
    if len(name) > 30:
        return name, "姓名不能超过30个字"
    if not NAME.match(name):
        return name, "姓名须与身份证一致，只能包含汉字和间隔号「·」"
    return name, None


def practice(form: FormData, errors: dict[str, str]) -> tuple[str, str]:
    category = str(form.get("practice_category", ""))
    scope = str(form.get("practice_scope", ""))
    if category not in PRACTICE_SCOPES:
        errors["practice_category"] = "请选择执业类别"
    elif not valid_scope(category, scope):
        errors["practice_scope"] = "请选择与执业类别对应的执业范围"
    return category, scope


def contact(form: FormData, errors: dict[str, str]) -> tuple[str, str, str, str]:
    """Title, licence number, e-mail and mobile: what a physician may update at any time."""
    title = str(form.get("title", ""))
    if title not in TITLES:
        errors["title"] = "请选择职称"
    licence = str(form.get("licence_number", "")).strip()
    if not LICENCE.match(licence):
        errors["licence_number"] = "医师执业证书编码为15位数字"
    email = str(form.get("email", "")).strip()
    if len(email) > 100 or not EMAIL.match(email):
        errors["email"] = "请填写有效的电子邮箱，审核结果将发送至该邮箱"
    mobile = str(form.get("mobile", "")).strip()
    if not MOBILE.match(mobile):
        errors["mobile"] = "请填写11位手机号码"
    return title, licence, email, mobile


async def place(
    form: FormData, errors: dict[str, str]
) -> tuple[Prefecture | None, County | None, Organisation | None]:
    def as_id(key: str) -> int | None:
        return as_int(form.get(key))

    prefecture = await Prefecture.get_or_none(id=as_id("prefecture") or 0)
    if prefecture is None:
        errors["prefecture"] = "请选择所属地（州、市）"
        return None, None, None
    county = await County.get_or_none(id=as_id("county") or 0, prefecture_id=prefecture.id)
    if county is None:
        errors["county"] = "请选择所属县（市、区）"
        return prefecture, None, None
    institution = await Organisation.get_or_none(
        id=as_id("institution") or 0,
        kind=OrgKind.INSTITUTION,
        status=OrgStatus.ACTIVE,
        county_id=county.id,
    )
    if institution is None:
        errors["institution"] = "请选择所在县（市、区）的执业机构"
    return prefecture, county, institution


async def validate(form: FormData, max_photo: int) -> tuple[Registration | None, dict[str, str]]:
    errors: dict[str, str] = {}
    name, problem = clean_name(str(form.get("name", "")))
    if problem:
        errors["name"] = problem
    id_number = None
    try:
        id_number = parse_id_number(str(form.get("id_number", "")))
    except IdNumberError as exc:
        errors["id_number"] = str(exc)
    prefecture, county, institution = await place(form, errors)
    category, scope = practice(form, errors)
    title, licence, email, mobile = contact(form, errors)
    password = str(form.get("password", ""))
    problem = password_problem(password, id_number.number if id_number else "")
    if problem:
        errors["password"] = problem
    elif password != str(form.get("confirm_password", "")):
        errors["confirm_password"] = "两次输入的密码不一致"
    photo = await upload(form, max_photo, errors)
    if errors:
        return None, errors
    assert id_number and prefecture and county and institution
    return Registration(
        name=name,
        id_number=id_number.number,
        sex=id_number.sex,
        birth_date=id_number.birth_date,
        prefecture=prefecture,
        county=county,
        institution=institution,
        practice_category=category,
        practice_scope=scope,
        title=title,
        licence_number=licence,
        email=email,
        mobile=mobile,
        password=password,
        photo=photo,
    ), errors


async def upload(form: FormData, limit: int, errors: dict[str, str]) -> bytes:
    """The uploaded photo's bytes. Its type is read from the bytes by the face workers, never
    from the file name or the browser's word; what is stored is their re-encoded JPEG."""
    upload = form.get("photo")
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["photo"] = "请上传本人近期免冠证件照"
        return b""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        errors["photo"] = f"照片不能超过 {limit // 1024 // 1024} MB，请压缩后重新上传"
        return b""
    return data


SUBMITTED = (
    "注册信息已提交，请等待所属执业机构审核，审核结果将发送至您的邮箱。"
    "若该身份证号此前已注册，系统不会重复注册，登录提示将发送至原注册邮箱。"
)


async def register(request: Request, reg: Registration) -> Physician | None:
    """Register ``reg``; the photo must hold one clear face. An ID number that holds an
    account already costs the same work, the photo check and the password hash included."""
    state = request.app.state
    checked = await state.face.check_photo(reg.photo)  # DomainError(field="photo") if not
    password_hash = await state.hasher.hash(reg.password)
    visitor = Actor.anonymous(client_ip(request))
    physician = await registration_rules.register(
        visitor, reg, password_hash, mailer=mailer(request)
    )
    if physician is not None:
        await state.face.keep_photo(physician, checked)
    return physician


async def form_context(form: Any = None) -> dict[str, Any]:
    """What the form needs: the lists, and the values typed so far (never the passwords)."""
    values = {k: v for k, v in (form or {}).items() if isinstance(v, str)}
    values.pop("password", None)
    values.pop("confirm_password", None)
    return {
        "values": values,
        "prefectures": await Prefecture.all(),
        "counties": await _counties(values.get("prefecture", "")),
        "institutions": await _institutions(values.get("county", ""), ""),
        "scopes": PRACTICE_SCOPES,
        "titles": TITLES,
        "rules": RULES_TEXT,
    }


async def _counties(prefecture: str) -> list[County]:
    number = as_int(prefecture)
    return await County.filter(prefecture_id=number) if number is not None else []


async def _institutions(county: str, q: str) -> list[Organisation]:
    number = as_int(county)
    if number is None:
        return []
    qs = Organisation.filter(kind=OrgKind.INSTITUTION, status=OrgStatus.ACTIVE, county_id=number)
    if q:
        qs = qs.filter(Q(name__icontains=q[:30]))
    return await qs.order_by("name").limit(200)


async def register_page(request: Request) -> Response:
    if request.method != "POST":  # GET, and HEAD (which the CSRF check lets through)
        return render(request, "registration/register.html", await form_context())
    state = request.app.state
    form = await request.form(max_part_size=state.settings.max_body_bytes)
    wait = await state.register_limit.hit(client_ip(request))
    if wait:
        context = {
            **await form_context(form),
            "refused": f"注册操作过于频繁，请 {minutes(wait)} 分钟后再试。",
        }
        return render(request, "registration/register.html", context, status_code=429)
    reg, errors = await validate(form, state.settings.face_max_photo_bytes)
    if reg is not None:
        try:
            await register(request, reg)
        except DomainError as exc:
            errors[exc.field or "photo"] = exc.message
    if errors:
        context = {**await form_context(form), "errors": errors}
        return render(request, "registration/register.html", context, status_code=400)
    get_session(request).flash(SUBMITTED)
    return redirect(request, "/login")


async def counties(request: Request) -> Response:
    """htmx: the counties of the chosen prefecture (and an emptied institution list)."""
    context = {
        "counties": await _counties(request.query_params.get("prefecture", "")),
        "values": {},
    }
    return render(request, "_place_select.html", context, block="county_options")


async def institutions(request: Request) -> Response:
    """htmx: the institutions of the chosen county, narrowed by the search box."""
    params = request.query_params
    found = await _institutions(params.get("county", ""), params.get("q", "").strip())
    context = {"institutions": found, "values": {}}
    return render(request, "_place_select.html", context, block="institution_options")


@fragment("/register")
async def id_facts(request: Request) -> Response:
    """htmx: what the ID number says (birth date and sex), or why it is not valid."""
    raw = request.query_params.get("id_number", "")
    context: dict[str, Any] = {"values": {}}
    if raw.strip():
        try:
            context["id_info"] = parse_id_number(raw)
        except IdNumberError as exc:
            context["id_error"] = str(exc)
    return render(request, "registration/register.html", context, block="id_facts")


routes = [
    Route("/register", register_page, methods=["GET", "POST"], name="register"),
    Route("/register/counties", counties, name="register_counties"),
    Route("/register/institutions", institutions, name="register_institutions"),
    Route("/register/id", id_facts, name="register_id"),
]
