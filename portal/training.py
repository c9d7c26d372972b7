"""【培训管理】: the physician's catalogue, lessons and honestly counted study time."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
