"""【考核结果】: the office computes results and publishes them."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
