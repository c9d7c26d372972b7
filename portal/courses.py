"""【课程管理】: the office's courses and lessons."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
