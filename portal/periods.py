"""【考核周期管理】: the office's periods and their phase windows."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
