from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import ROOT, Settings, SettingsError


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
