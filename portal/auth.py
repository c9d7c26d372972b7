"""Log-in, log-out, password change and the e-mailed one-time password-reset link.

Every change of a password goes through ``rules.accounts.set_password``: it raises the
account's session epoch in the same UPDATE, which ends every other session of the account and
voids every reset link sent before (a link carries the epoch it was sent at). A temporary
password (given by a manager, or a new institution's) must be changed at the next log-in.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core import metrics
from core.passwords import MAX_LENGTH, RULES_TEXT
from models.org import Account
from portal.acting import actor, means
from rules import accounts, audit
from rules.actor import Actor
from web.endpoint import CurrentUser, client_ip, redirect, render, requires, send_mail, user
from web.sessions import PASSWORD_PAGE, get_session

MAX_FIELD = 64


def safe_next(target: str | None) -> str:
    r"""``target`` when it is a path of this site, else "/". Browsers drop tabs and line
    breaks from a URL and read a backslash as a slash, so ``/\evil.example/`` and
    ``/<tab>/evil.example/`` lead off-site just as ``//evil.example/`` does: any backslash,
    control character, scheme or host makes it "/"."""
    if not target or not target.startswith("/") or len(target) > 2000:
        return "/"
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return "/"
    parts = urlsplit(target)
    if target.startswith("//") or parts.scheme or parts.netloc:
        return "/"
    return target


async def session_user(account: Account) -> CurrentUser:
    """The session's user: who the account is (``Actor.of``), kept for every request."""
    who = await Actor.of(account)
    assert who.role is not None  # an account always has a role
    return CurrentUser(
        account_id=account.id,
        username=account.username,
        role=who.role,
        display_name=who.display_name,
        organisation_id=who.organisation_id,
        prefecture_id=who.prefecture_id,
        physician_id=who.physician_id,
    )


async def login_page(request: Request) -> Response:
    if request.method != "POST":  # GET, and HEAD (which the CSRF check lets through)
        return render(request, "login.html", {"next": request.query_params.get("next", "")})
    form = await request.form()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    context: dict[str, Any] = {"username": username, "next": target}

    def fail(message: str, status: int = 400) -> Response:
        return render(request, "login.html", {**context, "error": message}, status_code=status)

    if not username or not password:
        return fail("请输入账号和密码")
    if len(username) > MAX_FIELD or len(password) > MAX_LENGTH:
        return fail("账号或密码错误")
    state = request.app.state
    try:
        account = await accounts.log_in(
            accounts.login_name(username),
            password,
            hasher=state.hasher,
            throttle=state.throttle,
            address=client_ip(request),
            lockout_minutes=state.settings.login_lockout_minutes,
        )
    except accounts.LogInRefused as refused:
        metrics.login(refused.outcome)
        return fail(refused.message, refused.status_code)
    current = await session_user(account)
    get_session(request).login({**current.session_values(), "epoch": account.session_epoch})
    metrics.login("ok")
    if account.must_change_password:
        return redirect(request, PASSWORD_PAGE)
    return redirect(request, target)


async def logout(request: Request) -> Response:
    session = get_session(request)
    current = user(request) if "account_id" in session.data else None
    session.end()
    session.flash("您已安全退出。")
    if current:
        await audit.record(None, "logout", label=current.username, ip=client_ip(request))
    return redirect(request, "/login")


@requires()
async def change_password(request: Request) -> Response:
    account = await Account.get(id=user(request).account_id)
    context = {"rules": RULES_TEXT, "temporary": account.must_change_password}
    if request.method != "POST":  # GET, and HEAD (which the CSRF check lets through)
        return render(request, "account/password.html", context)
    form = await request.form()
    session = get_session(request)
    try:
        await accounts.change_own_password(
            actor(request),
            str(form.get("old_password", "")),
            str(form.get("new_password", "")),
            str(form.get("confirm_password", "")),
            means(request),
            keep=session,
        )
    except accounts.PasswordRefused as exc:
        return render(
            request, "account/password.html", {**context, "errors": exc.errors}, status_code=400
        )
    session.flash("密码已修改。")
    return redirect(request, "/")


def _reset_key(token: str) -> str:
    return "pwreset:" + hashlib.sha256(token.encode()).hexdigest()


async def forgot_password(request: Request) -> Response:
    if request.method != "POST":  # GET, and HEAD (which the CSRF check lets through)
        return render(request, "account/forgot.html")
    form = await request.form()
    username = str(form.get("username", "")).strip()[:MAX_FIELD]
    email = str(form.get("email", "")).strip()[:100]
    if not username or not email:
        return render(
            request,
            "account/forgot.html",
            {"error": "请填写账号和注册邮箱", "username": username, "email": email},
            status_code=400,
        )
    state = request.app.state
    address = client_ip(request)
    username = accounts.login_name(username)
    if await state.throttle.wait_seconds(username, address):
        return render(
            request, "account/forgot.html", {"error": "操作过于频繁，请稍后再试。"}, status_code=429
        )
    account = await Account.get_or_none(username=username, is_active=True)
    if account and account.email and account.email.lower() == email.lower():
        token = secrets.token_urlsafe(32)
        ttl = state.settings.password_reset_minutes * 60
        # The epoch in the link: any later password change or reset voids it.
        await state.redis.set(_reset_key(token), f"{account.id}:{account.session_epoch}", ex=ttl)
        await send_mail(
            request,
            account.email,
            "password_reset",
            name=account.display_name or account.username,
            link=f"{state.settings.public_url}/password/reset/{token}",
            minutes=state.settings.password_reset_minutes,
        )
        await audit.record(account, "password_reset_requested", obj=account, ip=address)
    else:
        await state.throttle.failed(username, address)
    # The same answer either way: the page must not reveal which accounts exist.
    return render(request, "account/forgot_sent.html")


async def reset_account(request: Request, token: str) -> Account | None:
    """The account a reset link is for, while the link is unused, unexpired and no password
    change or reset of the account has happened since it was sent."""
    stored = await request.app.state.redis.get(_reset_key(token))
    account_id, _, epoch = str(stored or "").partition(":")
    if not account_id.isdecimal() or not epoch.isdecimal():
        return None
    account = await Account.get_or_none(id=int(account_id), is_active=True)
    if account is None or account.session_epoch != int(epoch):
        return None
    return account


async def reset_password(request: Request) -> Response:
    token = request.path_params["token"]
    state = request.app.state
    account = await reset_account(request, token)
    if account is None:
        return render(request, "account/reset_invalid.html", status_code=400)
    if request.method != "POST":  # GET, and HEAD (which the CSRF check lets through)
        return render(request, "account/reset.html", {"rules": RULES_TEXT, "token": token})
    form = await request.form()
    new = str(form.get("new_password", ""))
    errors = accounts.new_password_errors(
        account.username, new, str(form.get("confirm_password", ""))
    )
    if errors:
        context = {"rules": RULES_TEXT, "token": token, "errors": errors}
        return render(request, "account/reset.html", context, status_code=400)
    if await state.redis.getdel(_reset_key(token)) is None:  # one use, even if raced
        return render(request, "account/reset_invalid.html", status_code=400)
    await accounts.reset_with_link(account, new, means(request), address=client_ip(request))
    await state.throttle.succeeded(account.username)
    get_session(request).flash("密码已重置，请使用新密码登录。")
    return redirect(request, "/login")


routes = [
    Route("/login", login_page, methods=["GET", "POST"], name="login"),
    Route("/logout", logout, methods=["POST"], name="logout"),
    Route("/account/password", change_password, methods=["GET", "POST"], name="password"),
    Route("/password/forgot", forgot_password, methods=["GET", "POST"], name="forgot"),
    Route("/password/reset/{token}", reset_password, methods=["GET", "POST"], name="reset"),
]
