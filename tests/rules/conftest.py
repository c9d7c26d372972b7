"""The rules' tests call rule functions directly, with an actor and a mailer built the way
the CLI builds them (no request, no HTTP)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from core.mail import Mailer
from core.settings import Settings


@pytest.fixture
def mailer(app: Starlette, settings: Settings) -> Mailer:
    """A mailer of its own templates, waking the module's real Redis."""
    return Mailer.for_settings(settings, app.state.redis)
