"""【申请学分】: the physician's page of credits, the certificate and its public check.

The rule of applying (once, with training complete, a random verification code) is
``rules.credits``. Anyone can check a code on a public page, which is rate-limited per client
address so codes cannot be guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.errors import DomainError, NotFound
from models.enums import Role
from models.physician import Physician
from models.training import CreditApplication
from portal.acting import actor
from rules import credits as rules
from rules import training as study
from rules.credits import CODE_LENGTH
from rules.periods import current_period
from web.endpoint import client_ip, redirect, render, requires, user
from web.errors import error_page
from web.pagination import paginate
from web.sessions import get_session

VERIFY_MAX_FAILURES = 10  # per client address and window
VERIFY_WINDOW_SECONDS = 15 * 60


def shown_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalised_code(typed: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", typed.upper())[:32]


def masked_name(name: str) -> str:
    """张* / 张*丰 / 买*****力: enough to recognise, not enough to identify."""
    if len(name) <= 2:
        return name[:1] + "*" * (len(name) - 1)
    return name[0] + "*" * (len(name) - 2) + name[-1]


@requires(Role.PHYSICIAN)
async def credits_page(request: Request) -> Response:
    physician = await Physician.get(id=user(request).physician_id)
    period = await current_period()
    error = ""
    if request.method == "POST":
        try:
            if period is None:
                raise DomainError("当前没有进行中的考核周期")
            await rules.apply(actor(request), physician, period)
        except DomainError as exc:
            error = exc.message
        else:
            get_session(request).flash(
                f"已申请{period.credit_points}分自治区级I类学分，可查看并打印学分证明。"
            )
            return redirect(request, "/physician/credits")
    page = await paginate(
        request,
        CreditApplication.filter(physician_id=physician.id)
        .select_related("period")
        .order_by("-id"),
    )
    context: dict[str, Any] = {
        "period": period,
        "tally": await study.tally(physician.id, period) if period else None,
        "applied": await CreditApplication.get_or_none(
            physician_id=physician.id, period_id=period.id
        )
        if period
        else None,
        "page": page,
        "error": error,
        "shown_code": shown_code,
    }
    status = 400 if error else 200
    return render(request, "credits/index.html", context, status_code=status)


@requires(Role.PHYSICIAN)
async def certificate(request: Request) -> Response:
    found = await CreditApplication.get_or_none(
        id=request.path_params["application_id"], physician_id=user(request).physician_id
    ).select_related("physician", "period")
    if found is None:
        raise NotFound()
    context = {
        "application": found,
        "code": shown_code,
        "site": request.app.state.settings.public_url.rstrip("/"),
    }
    return render(request, "credits/certificate.html", context)


@dataclass(frozen=True)
class VerifyThrottle:
    """Failed look-ups per client address, counted in Redis like log-in failures."""

    request: Request

    @property
    def key(self) -> str:
        return f"credits:verify:fail:{client_ip(self.request)}"

    async def wait_seconds(self) -> int:
        redis = self.request.app.state.redis
        count = await redis.get(self.key)
        if count and int(count) >= VERIFY_MAX_FAILURES:
            return max(1, int(await redis.ttl(self.key)))
        return 0

    async def failed(self) -> None:
        pipe = self.request.app.state.redis.pipeline(transaction=True)
        pipe.set(self.key, 0, ex=VERIFY_WINDOW_SECONDS, nx=True)
        pipe.incr(self.key)
        await pipe.execute()


async def verify(request: Request) -> Response:
    """Public: anyone checks a certificate's code (no log-in)."""
    typed = request.query_params.get("code", "").strip()[:64]
    code = normalised_code(typed)
    context: dict[str, Any] = {"typed": typed, "searched": bool(typed), "found": None}
    if typed:
        throttle = VerifyThrottle(request)
        wait = await throttle.wait_seconds()
        if wait:
            minutes = -(-wait // 60)
            return error_page(request, 429, f"查询失败次数过多，请 {minutes} 分钟后再试。")
        found = None
        if len(code) == CODE_LENGTH:
            found = await CreditApplication.get_or_none(verification_code=code).select_related(
                "physician", "period"
            )
        if found is None:
            await throttle.failed()
        context.update(found=found, code=shown_code(code), masked=masked_name)
    return render(request, "credits/verify.html", context, block="result")


routes = [
    Route("/physician/credits", credits_page, methods=["GET", "POST"], name="credits"),
    Route("/physician/credits/{application_id:int}/certificate", certificate),
    Route("/credits/verify", verify),
]
