"""The web application: ``create_app(settings)`` builds it, ``app`` is what uvicorn serves."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from jinja2 import select_autoescape
from jinja2_fragments.starlette import Jinja2Blocks
from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from core import gcpolicy, metrics
from core.db import database
from core.passwords import Hasher
from core.redis import open_redis
from core.settings import ROOT, Settings
from examhall import monitor, proctoring
from examhall import pages as examhall_pages
from examhall import web as examhall_web
from examhall.hall import Hall
from face.client import FaceService
from models.enums import Role
from portal import (
    account,
    audit_log,
    auth,
    courses,
    credits,
    enrollment,
    evaluations,
    filing_review,
    filings,
    guide,
    org_accounts,
    pages,
    periods,
    physician_admin,
    practice,
    profile,
    questions,
    registration,
    registration_review,
    results,
    statistics,
    training,
    transfers,
)
from portal.menus import MENUS
from web import health
from web.access import AccessMiddleware
from web.csrf import CSRFMiddleware, csrf_token
from web.endpoint import current_user, local_time
from web.errors import HANDLERS, reject
from web.headers import SecurityHeadersMiddleware, nonce_of
from web.sessions import SessionMiddleware, SessionStore, get_session
from web.throttle import RateLimit, Throttle


def make_templates(settings: Settings) -> Jinja2Blocks:
    def context(request: Request) -> dict[str, Any]:
        session = get_session(request)
        found = current_user(request)
        return {
            "user": found,
            "menu": MENUS.get(found.role, ()) if found else (),
            "csrf_token": csrf_token(settings.secret_key, session),
            "flashes": session.pop("flash", []) if "flash" in session.data else [],
            "Role": Role,
            "csp_nonce": nonce_of(request.scope),
        }

    templates = Jinja2Blocks(directory=str(ROOT / "templates"), context_processors=[context])
    templates.env.autoescape = select_autoescape(["html"])
    templates.env.filters["local"] = local_time
    return templates


def build_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        *health.routes,
        *auth.routes,
        *pages.routes,
        *registration.routes,
        *registration_review.routes,
        *profile.routes,
        *enrollment.routes,
        *guide.routes,
        *account.routes,
        *physician_admin.routes,
        *transfers.routes,
        *evaluations.routes,
        *results.routes,
        *filings.routes,
        *filing_review.routes,
        *org_accounts.routes,
        *periods.routes,
        *statistics.routes,
        *audit_log.routes,
        *training.routes,
        *courses.routes,
        *credits.routes,
        *questions.routes,
        *practice.routes,
        *examhall_web.routes,
        *examhall_pages.routes,
        *monitor.routes,
        *proctoring.routes,
    ]
    routes.append(
        Mount("/static", StaticFiles(directory=ROOT / "static", check_dir=False), name="static")
    )
    return routes


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        handles = await open_redis(settings)
        redis = handles.text
        hasher = Hasher(settings)
        state = app.state
        state.redis = redis
        state.face = FaceService(settings, handles.binary)
        state.hasher = hasher
        state.sessions = SessionStore(redis, settings.session_idle_seconds)
        state.hall = Hall(settings, redis, state.face, touch=state.sessions.touch)
        state.monitor = monitor.Monitor(state.hall)
        state.throttle = Throttle(
            redis,
            max_account=settings.login_max_failures_account,
            max_address=settings.login_max_failures_address,
            window_seconds=settings.login_lockout_minutes * 60,
        )
        state.register_limit = RateLimit(
            redis,
            "register",
            limit=settings.register_max_per_address,
            window_seconds=settings.register_window_minutes * 60,
        )
        try:
            async with database(settings.db_url):
                state.hall.start()
                tasks = [asyncio.create_task(health.watch(state), name="health-watch")]
                timing = gcpolicy.watch(metrics.gc_pause)
                held = None
                if settings.gc_full_seconds > 0:  # core/gcpolicy.py
                    held = gcpolicy.hold_full_collections()
                    every = settings.gc_full_seconds
                    tasks.append(asyncio.create_task(gcpolicy.full_collections(every), name="gc"))
                try:
                    yield
                finally:
                    for task in tasks:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                    await state.hall.close()
                    gc.callbacks.remove(timing)
                    if held is not None:
                        gcpolicy.release(held)
        finally:
            hasher.close()
            await state.face.close()
            await handles.close()

    state = State()  # shared with the session middleware, filled in by the lifespan
    app = Starlette(
        routes=build_routes(),
        middleware=[
            Middleware(AccessMiddleware),
            Middleware(SecurityHeadersMiddleware, production=settings.production),
            Middleware(SessionMiddleware, state=state, secure=settings.production),
            Middleware(
                CSRFMiddleware,
                secret=settings.secret_key,
                max_body=settings.max_body_bytes,
                reject=reject,
            ),
        ],
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
    app.state = state
    state.settings = settings
    state.templates = make_templates(settings)
    return app


app = create_app()
