"""The home page of each role and the physician record."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from core.settings import ROOT
from models.enums import RegistrationStatus
from models.org import Organisation
from models.physician import Physician
from portal import physician_list
from portal.guide import guide_for
from rules.jurisdiction import Jurisdiction
from web.endpoint import ORG_ROLES, current_user, render, requires, to_login, user


async def home(request: Request) -> Response:
    current = current_user(request)
    if current is None:
        return to_login(request)
    organisation = physician = None
    if current.physician_id:
        physician = await Physician.get_or_none(id=current.physician_id).select_related(
            "institution", "previous_institution"
        )
    elif current.organisation_id:
        organisation = await Organisation.get_or_none(id=current.organisation_id)
    period, guide = await guide_for(physician) if physician else (None, [])
    context = {
        "organisation": organisation,
        "physician": physician,
        "Status": RegistrationStatus,
        "period": period,
        "guide": guide,
    }
    return render(request, "home.html", context)


@requires(*ORG_ROLES)
async def physician_detail(request: Request) -> Response:
    physician = await Jurisdiction.of(user(request)).physician(request.path_params["physician_id"])
    await physician.fetch_related("institution", "prefecture", "county")
    period, shown = await physician_list.shown_for(request)
    facts = (await physician_list.period_facts(shown, [physician.id]))[physician.id]
    context = {"physician": physician, "period": period, "facts": facts, "shown": shown}
    return render(request, "physicians/detail.html", context)


async def favicon(request: Request) -> Response:
    """Browsers ask every site for /favicon.ico, whatever the page links to."""
    return FileResponse(
        ROOT / "static" / "favicon.ico",
        media_type="image/x-icon",
        headers={"Cache-Control": "public, max-age=604800"},
    )


routes = [
    Route("/", home, name="home"),
    Route("/favicon.ico", favicon, name="favicon"),
    Route("/physicians", physician_list.physician_list, name="physicians"),
    Route("/physicians/export.xlsx", physician_list.export, name="physicians_export"),
    Route("/physicians/{physician_id:int}", physician_detail, name="physician"),
]
