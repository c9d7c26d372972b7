"""【统计分析】: per prefecture and per institution figures with a chart."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
