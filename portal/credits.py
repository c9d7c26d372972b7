"""【申请学分】: credits after the required hours, the certificate and its public check."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
