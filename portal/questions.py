"""【题库管理】: the office imports, searches, edits and retires questions."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
