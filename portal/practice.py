"""【考前练习】: unlimited practice sets until the test window opens."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
