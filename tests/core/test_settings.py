from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from asgi import create_app
from core.bootstrap import load_geography
from core.settings import ROOT, Settings, SettingsError
from models.enums import OrgKind
from models.ops import OutboxMail
from tests import factories
from tests.helpers import post_form


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [name for name in Settings().documented_variables() if f"`{name}`" not in readme]
    assert missing == []


def test_environment_is_read_and_typed(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "DATA_DIR": str(tmp_path),
            "SMTP_PORT": "2525",
            "SMTP_STARTTLS": "0",
            "FACE_TOLERANCE": "0.5",
            "SECRET_KEY": "k",
        }
    )
    assert settings.data_dir == tmp_path
    assert settings.smtp_port == 2525
    assert settings.smtp_starttls is False
    assert settings.face_tolerance == 0.5
    assert settings.db_url == f"sqlite://{tmp_path / 'xjdk.sqlite3'}"


def test_secret_is_generated_once_in_development(tmp_path: Path) -> None:
    first = Settings.from_env({"DATA_DIR": str(tmp_path)})
    second = Settings.from_env({"DATA_DIR": str(tmp_path)})
    assert first.secret_key and first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_production_requires_a_secret(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Settings.from_env({"DATA_DIR": str(tmp_path), "PRODUCTION": "1"})


def test_bad_number_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SMTP_PORT"):
        Settings.from_env({"DATA_DIR": str(tmp_path), "SMTP_PORT": "twenty"})


def test_public_url_follows_host_and_port_unless_set(tmp_path: Path) -> None:
    """``PORT=8101 make run`` must not mail links to :8000, where nothing answers."""
    base = {"DATA_DIR": str(tmp_path), "SECRET_KEY": "k"}
    assert Settings.from_env(base).public_url == "http://127.0.0.1:8000"
    assert Settings.from_env({**base, "PORT": "8101"}).public_url == "http://127.0.0.1:8101"
    everywhere = Settings.from_env({**base, "HOST": "0.0.0.0", "PORT": "8101"})
    assert everywhere.public_url == "http://127.0.0.1:8101"
    named = Settings.from_env({**base, "HOST": "10.1.2.3", "PORT": "9000"})
    assert named.public_url == "http://10.1.2.3:9000"
    given = {**base, "PORT": "8101", "PUBLIC_URL": "https://xjdk.example.cn"}
    assert Settings.from_env(given).public_url == "https://xjdk.example.cn"


async def test_mailed_links_point_at_the_port_the_platform_runs_on(
    tmp_path: Path, db_url: str, redis_url: str
) -> None:
    """The app of ``PORT=8101`` mails a password-reset link to port 8101."""
    settings = Settings.from_env(
        {
            "DATA_DIR": str(tmp_path),
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": "k",
            "PORT": "8101",
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_KIB": "8192",
        }
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await load_geography()
        inst = await factories.organisation(OrgKind.INSTITUTION)
        doc = await factories.physician(inst, email="port8101@example.com")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8101") as c:
            page = await post_form(
                c, "/password/forgot", {"username": doc.id_number, "email": doc.email}
            )
            assert page.status_code == 200
        mail = await OutboxMail.get(to="port8101@example.com")
        assert "http://127.0.0.1:8101/password/reset/" in mail.body
