"""``xjdk backup`` and ``xjdk restore``: the database and the media in one .tar.gz.

An archive holds ``manifest.json`` (when, which database kind, the migrations applied, the
media's file count and size), the database (SQLite: a copy made with SQLite's online backup
API, consistent while the platform runs; PostgreSQL: ``pg_dump --format=custom``) and
``media/`` (photos and kept face-check frames). Redis is not in it: sessions and the hall's
live state are rebuilt from the database (README, 考场).

Restoring replaces the database (SQLite: the backup API again, into the live file;
PostgreSQL: ``pg_restore --clean --if-exists --single-transaction``) and the media folder
(unpacked beside it, then swapped in). It refuses while a web process or mail sender is
announced in Redis (core/presence.py) unless forced: they would keep serving from caches
of the state being replaced.

The archive holds every physician's ID number and photo: it is written readable by its
owner only (0600), and belongs on encrypted storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from core.settings import Settings

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
MEDIA = "media"


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why (in Chinese)."""


@dataclass
class Manifest:
    database: str  # "sqlite" or "postgres"
    created_at: str = ""
    format: int = FORMAT
    migrations: list[str] = field(default_factory=list)
    media_files: int = 0
    media_bytes: int = 0
    seconds: float = 0.0


def kind_of(db_url: str) -> str:
    if db_url.startswith("sqlite://"):
        return "sqlite"
    if db_url.startswith(("postgres://", "postgresql://", "asyncpg://", "psycopg://")):
        return "postgres"
    raise BackupError(f"不支持备份该类型的数据库：{db_url.split(':', 1)[0]}")


def sqlite_path(db_url: str) -> Path:
    return Path(db_url.removeprefix("sqlite://"))


def libpq(db_url: str) -> tuple[str, dict[str, str]]:
    """The URL pg_dump/pg_restore connect with (no password on their command line, where
    ``ps`` would show it: it goes in PGPASSWORD) and the environment to run them in.
    Tortoise's own query parameters (pool sizes) mean nothing to libpq and are dropped;
    PG* variables (PGSSLMODE …) pass through."""
    parts = urlsplit(db_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
    return f"postgresql://{user}{host}{port}{parts.path}", env


def _run(command: list[str], env: dict[str, str]) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"找不到 {command[0]}：请安装 PostgreSQL 客户端（postgresql-client）")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        # pg_* print the database's messages, never the password (it is not in the URL).
        raise BackupError(f"{command[0]} 失败：{done.stderr.strip()[-2000:]}")


def _media_files(media: Path) -> Iterator[Path]:
    if media.is_dir():
        yield from (p for p in sorted(media.rglob("*")) if p.is_file())


def applied_migrations_sqlite(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT name FROM tortoise_migrations ORDER BY name").fetchall()
    return [str(r[0]) for r in rows]


def _dump(settings: Settings, kind: str, folder: Path) -> Path:
    if kind == "sqlite":
        source = sqlite_path(settings.db_url)
        if not source.is_file():
            raise BackupError(f"数据库文件不存在：{source}")
        target = folder / SQLITE_FILE
        with (
            contextlib.closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
            contextlib.closing(sqlite3.connect(target)) as dst,
        ):
            src.backup(dst, pages=4096)  # in steps: writers are held only for a step
        return target
    url, env = libpq(settings.db_url)
    target = folder / PG_FILE
    _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}", f"--dbname={url}"], env)
    return target


async def _pg_migrations(db_url: str) -> list[str]:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect("postgresql://" + db_url.split("://", 1)[1].split("?", 1)[0])
    try:
        rows = await conn.fetch("SELECT name FROM tortoise_migrations ORDER BY name")
    finally:
        await conn.close()
    return [str(r["name"]) for r in rows]


def backup(settings: Settings, target: Path) -> tuple[Path, Manifest]:
    """Write an archive to ``target`` (a directory: a dated file in it). Returns its path."""
    started = time.monotonic()
    kind = kind_of(settings.db_url)
    now = datetime.now(UTC)
    if target.is_dir():
        target = target / f"xjdk-{now:%Y%m%d-%H%M%S}.tar.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(database=kind, created_at=now.isoformat(timespec="seconds"))
    media = settings.media_path
    partial = target.with_name(target.name + ".partial")
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".xjdk-backup-") as tmp:
        dumped = _dump(settings, kind, Path(tmp))
        manifest.migrations = (
            applied_migrations_sqlite(dumped)
            if kind == "sqlite"
            else asyncio.run(_pg_migrations(settings.db_url))
        )
        files = list(_media_files(media))
        manifest.media_files = len(files)
        manifest.media_bytes = sum(p.stat().st_size for p in files)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with (
            os.fdopen(fd, "wb") as raw,
            tarfile.open(fileobj=raw, mode="w:gz", compresslevel=1) as tar,
        ):
            tar.add(dumped, arcname=dumped.name)
            for path in files:
                tar.add(path, arcname=f"{MEDIA}/{path.relative_to(media).as_posix()}")
            manifest.seconds = round(time.monotonic() - started, 2)
            data = json.dumps(asdict(manifest), ensure_ascii=False, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(now.timestamp()), 0o600
            tar.addfile(info, fileobj=io.BytesIO(data))
    os.replace(partial, target)
    return target, manifest


def read_manifest(archive: Path) -> Manifest:
    with tarfile.open(archive, "r:gz") as tar:
        member = tar.extractfile(MANIFEST)
        if member is None:
            raise BackupError("备份文件中没有 manifest.json")
        raw = json.loads(member.read())
    if raw.get("format") != FORMAT:
        raise BackupError(f"不支持的备份格式：{raw.get('format')}")
    return Manifest(**raw)


def restore(settings: Settings, archive: Path) -> Manifest:
    """Replace the database and the media with the archive's (the caller has made sure
    nothing is running, or was told to go ahead)."""
    if not archive.is_file():
        raise BackupError(f"备份文件不存在：{archive}")
    manifest = read_manifest(archive)
    kind = kind_of(settings.db_url)
    if manifest.database != kind:
        raise BackupError(
            f"备份来自 {manifest.database} 数据库，不能恢复到当前的 {kind} 数据库（DATABASE_URL）"
        )
    media = settings.media_path
    media.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=media.parent, prefix=".xjdk-restore-") as tmp:
        folder = Path(tmp)
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(folder, filter="data")  # no absolute paths, links out or devices
        if kind == "sqlite":
            _restore_sqlite(folder / SQLITE_FILE, sqlite_path(settings.db_url))
        else:
            url, env = libpq(settings.db_url)
            _run(
                [
                    "pg_restore",
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--single-transaction",
                    "--exit-on-error",
                    f"--dbname={url}",
                    str(folder / PG_FILE),
                ],
                env,
            )
        _swap_media(folder / MEDIA, media, folder / "media-replaced")
    return manifest


def _swap_media(unpacked: Path, media: Path, old: Path) -> None:
    """The restored media in place of the current ones, which go with the temporary folder
    (two renames on one file system; a mount point is emptied and refilled instead)."""
    unpacked.mkdir(exist_ok=True)
    try:
        if media.exists():
            os.replace(media, old)
        os.replace(unpacked, media)
    except OSError:
        media.mkdir(parents=True, exist_ok=True)
        for entry in media.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        for entry in unpacked.iterdir():
            shutil.move(str(entry), media / entry.name)


def _restore_sqlite(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BackupError("备份文件中没有 SQLite 数据库")
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target, timeout=30)) as dst,
    ):
        src.backup(dst)  # one step: the live file changes in a single transaction
