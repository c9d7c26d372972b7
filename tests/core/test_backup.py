"""``xjdk backup`` and ``xjdk restore`` as an operator runs them, against the test's database
(SQLite, or PostgreSQL with pg_dump/pg_restore when TEST_DATABASE_URL is set) and media:
back up, change a row and the media, restore, find the first state."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import tarfile
from pathlib import Path

from starlette.applications import Starlette

from core.settings import Settings
from models.enums import OrgKind
from models.physician import Physician
from tests import factories
from tests.servers import XJDK, node_env


async def xjdk(settings: Settings, redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [str(XJDK), *args],
        env=node_env(settings, redis_url),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_backup_then_restore_brings_back_the_database_and_the_media(
    app: Starlette, settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    doc = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    photo = settings.media_path / "photos" / f"{doc.id}-first.jpg"
    photo.parent.mkdir(parents=True, exist_ok=True)
    photo.write_bytes(b"the first photo")

    made = await xjdk(settings, redis_url, "backup", str(tmp_path))  # a folder: a dated file
    assert made.returncode == 0, made.stderr
    (archive,) = await asyncio.to_thread(lambda: list(tmp_path.glob("xjdk-*.tar.gz")))
    assert archive.stat().st_mode & 0o077 == 0  # personal data: its owner's alone
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        member = tar.extractfile("manifest.json")
        assert member is not None
        manifest = json.loads(member.read())
    assert f"media/photos/{photo.name}" in names
    kind = "sqlite" if settings.db_url.startswith("sqlite") else "postgres"
    assert manifest["database"] == kind and "0001_initial" in manifest["migrations"]
    assert manifest["media_files"] >= 1

    await Physician.filter(id=doc.id).update(name="改过的名字")
    photo.write_bytes(b"a replaced photo")
    stray = settings.media_path / "face-checks" / "later.img"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"made after the backup")

    # This module's app runs (it announces itself in Redis): no restore under its feet.
    refused = await xjdk(settings, redis_url, "restore", str(archive))
    assert refused.returncode == 1 and "平台仍在运行" in refused.stderr
    assert (await Physician.get(id=doc.id)).name == "改过的名字"

    restored = await xjdk(settings, redis_url, "restore", str(archive), "--force")
    assert restored.returncode == 0, restored.stderr
    assert "请重启" in restored.stdout
    assert (await Physician.get(id=doc.id)).name == doc.name
    assert photo.read_bytes() == b"the first photo"
    assert not stray.exists()


async def test_a_backup_of_another_database_kind_is_refused(
    app: Starlette, settings: Settings, redis_url: str, tmp_path: Path
) -> None:
    other = "postgres" if settings.db_url.startswith("sqlite") else "sqlite"
    manifest = json.dumps({"database": other, "format": 1}).encode()
    archive = tmp_path / "other.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    refused = await xjdk(settings, redis_url, "restore", str(archive), "--force")
    assert refused.returncode == 1 and "不能恢复到当前的" in refused.stderr
