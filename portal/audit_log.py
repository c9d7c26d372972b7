"""【操作日志】: the office browses the audit log."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
