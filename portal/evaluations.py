"""【医师考核】: the 医师定期考核表, rated by the institution, confirmed by the assessor."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
