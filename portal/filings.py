"""【执业机构管理】 and 【特殊人员处理】 filings, and the office's 备案审核."""

from __future__ import annotations

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
