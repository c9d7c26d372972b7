"""机构账号管理: password resets of the organisations an account manages."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
