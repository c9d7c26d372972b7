"""The xjdk command, run as a newcomer would: migrate, seed-demo, create-office-account."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from core.settings import ROOT
from tools.demo import photos as demo_photos


def xjdk(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATA_DIR": str(data_dir)}
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_seed_and_office_account(tmp_path: Path) -> None:
    migrated = xjdk(tmp_path, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "数据库已迁移到最新版本" in migrated.stdout
    assert "新增行政区划 0 条" in xjdk(tmp_path, "migrate").stdout  # idempotent

    seeded = xjdk(tmp_path, "seed-demo", "--if-empty")
    assert seeded.returncode == 0, seeded.stderr
    assert "320 名医师" in seeded.stdout and "wjw650100" in seeded.stdout
    assert "份试卷" in seeded.stdout
    assert "跳过" in xjdk(tmp_path, "seed-demo", "--if-empty").stdout
    papers = xjdk(tmp_path, "generate-papers")
    assert papers.returncode == 0 and "已生成 0 份试卷" in papers.stdout  # made by the seed
    assert (
        f"{len(demo_photos.SOURCES)} 张，已提取人脸特征" in seeded.stdout
        and "已报名一般程序" in seeded.stdout
    )
    assert len(list((tmp_path / "media" / "photos" / "demo").iterdir())) == len(demo_photos.SOURCES)

    exam = xjdk(tmp_path, "demo-exam-now")
    assert exam.returncode == 0, exam.stderr
    assert "业务水平测评已开放" in exam.stdout and "进入【业务水平测评】即可开考" in exam.stdout

    weak = xjdk(tmp_path, "create-office-account", "admin", stdin="short\n")
    assert weak.returncode == 2 and "密码长度" in weak.stderr
    made = xjdk(tmp_path, "create-office-account", "admin", stdin="Admin2026x\n")
    assert made.returncode == 0, made.stderr
    again = xjdk(tmp_path, "create-office-account", "admin", stdin="Admin2026x\n")
    assert again.returncode == 1 and "账号已存在" in again.stderr

    db = sqlite3.connect(tmp_path / "xjdk.sqlite3")
    role, password_hash = db.execute(
        "SELECT role, password_hash FROM account WHERE username = 'admin'"
    ).fetchone()
    assert role == "office" and password_hash.startswith("$argon2id$")
    assert (tmp_path / "secret_key").exists()


def test_unknown_command_is_refused(tmp_path: Path) -> None:
    result = xjdk(tmp_path, "frobnicate")
    assert result.returncode == 2
