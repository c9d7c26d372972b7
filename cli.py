"""The ``xjdk`` command: migrate, seed-demo, create-office-account, serve, worker, run,
backup, restore and the rest (``xjdk --help``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from core import logs
from core.settings import Settings
from core.signals import StopFlag

log = logging.getLogger("xjdk")

DEMO_PASSWORD = "xjdk2026"


async def _with_db(settings: Settings, work: Callable[[], Awaitable[Any]]) -> Any:
    from core.db import database

    async with database(settings.db_url):
        return await work()


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from core.bootstrap import load_geography
    from core.db import migrate

    asyncio.run(migrate(settings.db_url))
    added = asyncio.run(_with_db(settings, load_geography))
    print(f"数据库已迁移到最新版本（新增行政区划 {added} 条）。")
    return 0


async def _database_is_empty(settings: Settings) -> bool:
    from models.org import Organisation

    return not await _with_db(settings, Organisation.exists)


def cmd_seed_demo(settings: Settings, args: argparse.Namespace) -> int:
    from core.passwords import Hasher
    from tools.demo import photos as demo_photos
    from tools.demo.logins import format_logins
    from tools.demo.seed import seed_demo

    if args.if_empty and not asyncio.run(_database_is_empty(settings)):
        print("数据库已有数据，跳过演示数据。")
        return 0
    hasher = Hasher(settings)
    password_hash = hasher.hash_sync(DEMO_PASSWORD)  # one hash shared by every demo account
    hasher.close()
    photos = asyncio.run(demo_photos.prepare(settings))  # each source photo encoded once
    summary = asyncio.run(_with_db(settings, lambda: seed_demo(password_hash, photos=photos)))
    print(
        f"演示数据：{summary.organisations} 个机构，{summary.physicians} 名医师，"
        f"{summary.questions} 道试题，{summary.courses} 门课程，{summary.papers} 份试卷。"
    )
    if photos:
        print(f"演示医师的注册照片取自 {demo_photos.FACES}（{len(photos)} 张，已提取人脸特征）。")
    else:
        print(f"未找到 {demo_photos.FACES} 的照片：演示医师没有注册照片，不能参加测评。")
    print(format_logins(summary, DEMO_PASSWORD))
    return 0


def cmd_demo_exam_now(settings: Settings, args: argparse.Namespace) -> int:
    """Open the current period's test window now (see tools/demo/exam.py)."""
    from datetime import UTC, datetime

    from core.errors import DomainError
    from tools.demo.exam import open_test_now
    from web.endpoint import local_time

    try:
        opened = asyncio.run(_with_db(settings, lambda: open_test_now(datetime.now(UTC))))
    except DomainError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    when = f"{local_time(opened.starts_at)} 至 {local_time(opened.ends_at)}"
    print(f"{opened.period.name}的业务水平测评已开放：{when}（北京时间）。")
    print(f"新生成 {opened.papers} 份试卷；报名和考前练习已随测评开始而结束。")
    sitter = opened.physician
    if sitter is not None:
        print(
            f"以演示医师 {sitter.name} 登录（账号 {sitter.id_number}，密码 {DEMO_PASSWORD}），"
            "进入【业务水平测评】即可开考。"
        )
        print(
            "人脸识别比对的是该医师的注册照片：可先用其执业机构账号在【考核信息查看】中"
            "为其【更换照片】为您本人的正面照，或在【在线监考】中由监考账号人工通过。"
        )
    return 0


def cmd_create_office_account(settings: Settings, args: argparse.Namespace) -> int:
    from core.bootstrap import create_office_account
    from core.errors import DomainError
    from core.passwords import Hasher, password_problem

    if sys.stdin.isatty():
        password = getpass.getpass("密码：")
        if getpass.getpass("再次输入密码：") != password:
            print("两次输入的密码不一致。", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\n")
    problem = password_problem(password, args.username)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    hasher = Hasher(settings)
    password_hash = hasher.hash_sync(password)
    hasher.close()
    try:
        asyncio.run(_with_db(settings, lambda: create_office_account(args.username, password_hash)))
    except DomainError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    print(f"已创建自治区医师定期考核办公室账号 {args.username}。")
    return 0


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How every uvicorn of the platform runs (``serve``, hence ``run``, and the tests' real
    servers): no ``Server`` header, and X-Forwarded-* believed from FORWARDED_ALLOW_IPS only
    (uvicorn's own default trusts 127.0.0.1, so anyone on the host could pick an address)."""
    from examhall.protocol import MAX_MESSAGE_BYTES

    trusted = [a.strip() for a in settings.forwarded_allow_ips.split(",") if a.strip()]
    return {
        "ws_max_size": MAX_MESSAGE_BYTES,  # a burst of face-check frames is the largest
        "server_header": False,
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": ",".join(trusted),
    }


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from core import metrics

    workers = args.workers or settings.web_workers
    shared = None
    if workers > 1:  # every worker records into one folder; /metrics adds them up
        shared = Path(tempfile.mkdtemp(prefix="xjdk-metrics-web-"))
        metrics.use_multiprocess(shared)
    try:
        uvicorn.run(
            "asgi:app",
            host=args.host or settings.host,
            port=args.port or settings.port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            ws="websockets-sansio",
            ws_per_message_deflate=False,
            ws_ping_interval=20,
            ws_ping_timeout=20,
            backlog=4096,
            log_config=logs.log_config(settings, "web"),
            access_log=False,  # web/access.py logs route templates, never raw paths
            **uvicorn_options(settings),
        )
    finally:
        if shared is not None:
            shutil.rmtree(shared, ignore_errors=True)
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    import uvloop

    from core import metrics, presence
    from core.db import database
    from core.redis import open_redis
    from workers import mail

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        handles = await open_redis(settings)
        async with database(settings.db_url):
            task = asyncio.create_task(mail.run(settings, handles.text, stop))
            log.info("邮件发送进程已启动（pid %s）", os.getpid())
            await stop.wait()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(Exception):
                await presence.forget(handles.text, "mail")
        await handles.close()

    if args.kind == "face":
        return run_face_workers(settings, args.processes, args.metrics_port, args.metrics_host)
    if args.metrics_port:
        metrics.serve(args.metrics_port, args.metrics_host, metrics.MAIL)
    uvloop.run(main())
    return 0


def run_face_workers(
    settings: Settings, processes: int, metrics_port: int = 0, metrics_host: str = "127.0.0.1"
) -> int:
    """``processes`` spawned workers; SIGTERM or Ctrl-C stops them all. With
    ``metrics_port``, this process serves their metrics added up, and the queue's."""
    from core.redis import EmbeddedRedis
    from face.worker import start_workers

    embedded = None
    url = settings.redis_url
    if not url:
        embedded = EmbeddedRedis(settings.data_dir)
        url = embedded.start()
    shared = None
    if metrics_port:
        from core import metrics

        shared = Path(tempfile.mkdtemp(prefix="xjdk-metrics-face-"))
        metrics.use_multiprocess(shared)  # before the workers start: they inherit it
        metrics.serve(metrics_port, metrics_host, metrics.FACE, metrics.FaceQueueCollector(url))
    procs = start_workers(settings, url, processes)
    log.info("人脸识别进程已启动：%s 个", processes)
    stopping = StopFlag()
    while not stopping():
        for index, proc in enumerate(procs):
            if not proc.is_alive():  # a crashed worker is replaced; its job is claimed again
                log.warning("人脸识别进程 %s 已退出（%s），重新启动", proc.pid, proc.exitcode)
                procs[index] = start_workers(settings, url, 1)[0]
        time.sleep(1)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(timeout=10)
    if embedded:
        embedded.stop()
    if shared is not None:
        shutil.rmtree(shared, ignore_errors=True)
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Everything a newcomer needs, in the foreground; Ctrl-C stops every process started."""
    from core.redis import EmbeddedRedis

    if cmd_migrate(settings, args):
        return 1
    cmd_seed_demo(settings, argparse.Namespace(if_empty=True))
    env = dict(os.environ)
    embedded = None
    if not settings.redis_url:
        embedded = EmbeddedRedis(settings.data_dir)
        env["REDIS_URL"] = embedded.start()
        print(f"内置 Redis 已启动：{env['REDIS_URL']}")
    exe = [sys.executable, "-m", "cli"]
    children = [
        subprocess.Popen([*exe, "serve"], env=env),
        subprocess.Popen([*exe, "worker", "mail"], env=env),
        subprocess.Popen(
            [*exe, "worker", "face", "--processes", str(settings.face_workers)], env=env
        ),
    ]
    url = f"http://{settings.host}:{settings.port}/"
    print(f"\n平台已启动：{url}\n演示账号的密码均为 {DEMO_PASSWORD}（见上表）。按 Ctrl-C 停止。")
    print(
        "立即体验业务水平测评：另开终端运行 .venv/bin/xjdk demo-exam-now"
        "（使用相同的 DATA_DIR），再以上表中“已报名一般程序”的医师登录。\n"
    )
    stopping = StopFlag()
    try:
        while not stopping() and all(c.poll() is None for c in children):
            time.sleep(0.5)
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        if embedded:
            embedded.stop()
        print("所有进程已停止。")
    return 0 if stopping() else 1


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    """The database and the media in one archive (core/backup.py)."""
    from core.backup import BackupError, backup

    started = time.monotonic()
    target = Path(args.path)
    if args.path.endswith(("/", os.sep)):  # a folder, even one that does not exist yet
        target.mkdir(parents=True, exist_ok=True)
    try:
        path, manifest = backup(settings, target)
    except BackupError as exc:
        print(exc, file=sys.stderr)
        return 1
    size = path.stat().st_size / 1024 / 1024
    print(
        f"已备份到 {path}（{size:.1f} MB，{manifest.database} 数据库，"
        f"媒体文件 {manifest.media_files} 个，用时 {time.monotonic() - started:.2f} 秒）。"
    )
    return 0


async def _running_processes(settings: Settings) -> list[str]:
    from core import presence
    from core.redis import open_redis

    handles = await open_redis(settings)
    try:
        return await presence.running(handles.text)
    finally:
        await handles.close()


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    """Replace the database and the media with an archive's; refused while the platform
    runs, unless ``--force``."""
    from core.backup import BackupError, restore

    running = asyncio.run(_running_processes(settings))
    if running and not args.force:
        print(
            "平台仍在运行，拒绝恢复（会覆盖正在使用的数据库）。请先停止以下进程，"
            "或确认后加 --force：\n  " + "\n  ".join(running),
            file=sys.stderr,
        )
        return 1
    started = time.monotonic()
    try:
        manifest = restore(settings, Path(args.path))
    except BackupError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(
        f"已从 {args.path} 恢复（备份于 {manifest.created_at}，媒体文件 {manifest.media_files} 个，"
        f"用时 {time.monotonic() - started:.2f} 秒）。"
    )
    if running:
        print("仍在运行的进程使用的是恢复前的缓存：请重启各 Web 进程和邮件发送进程。")
    return 0


def cmd_generate_papers(settings: Settings, args: argparse.Namespace) -> int:
    """Draw the papers of the current period's general-procedure physicians (idempotent)."""
    from core.errors import DomainError
    from models.period import Period
    from rules.papers import generate_for_period

    async def work() -> int | None:
        period = await Period.filter(is_current=True).first()
        return await generate_for_period(period) if period else None

    try:
        made = asyncio.run(_with_db(settings, work))
    except DomainError as exc:
        print(exc.message, file=sys.stderr)
        return 1
    if made is None:
        print("没有当前考核周期。", file=sys.stderr)
        return 1
    print(f"已生成 {made} 份试卷。")
    return 0


def cmd_bench_face(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from tools import face_bench

    figures = face_bench.run(args.checks, args.processes, settings)
    print(face_bench.report(figures))
    if args.json:
        print(json.dumps(figures, ensure_ascii=False, indent=2))
    return 0


def cmd_loadtest(settings: Settings, args: argparse.Namespace) -> int:
    """The exam-window spike rehearsal (tools/loadtest/)."""
    from tools import loadtest

    fields = vars(args)
    names = loadtest.Options.__dataclass_fields__
    options = loadtest.Options(**{k: v for k, v in fields.items() if k in names and v is not None})
    options.urls = args.urls or [f"http://{settings.host}:{settings.port}"]
    return loadtest.main(settings, options, clean=args.cleanup)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xjdk", description="新疆医师定期考核综合管理平台")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations and load the geography")
    seed = sub.add_parser("seed-demo", help="load the demo region and print the demo log-ins")
    seed.add_argument("--if-empty", action="store_true", help="only when the database is empty")
    office = sub.add_parser("create-office-account", help="create a regional-office log-in")
    office.add_argument("username")
    serve = sub.add_parser("serve", help="run the web app with uvicorn")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    worker = sub.add_parser("worker", help="run a background worker")
    worker.add_argument("kind", choices=["mail", "face"])
    worker.add_argument("--processes", type=int, default=1, help="face: worker processes")
    worker.add_argument("--metrics-port", type=int, default=0, help="serve /metrics (0: none)")
    worker.add_argument("--metrics-host", default="127.0.0.1", help="address of /metrics")
    sub.add_parser("run", help="migrate, seed, start Redis, web and workers (make run)")
    sub.add_parser("generate-papers", help="draw the current period's papers ahead of the test")
    backup = sub.add_parser("backup", help="the database and the media in one .tar.gz")
    backup.add_argument("path", help="the archive to write, or a folder for a dated one")
    restore = sub.add_parser("restore", help="replace the database and the media from a backup")
    restore.add_argument("path", help="the archive written by xjdk backup")
    restore.add_argument("--force", action="store_true", help="even while processes run")
    sub.add_parser("demo-exam-now", help="demo: open the current period's test window now")
    bench = sub.add_parser("bench-face", help="benchmark the face pipeline against the library")
    bench.add_argument("--checks", type=int, default=60, help="live checks (bursts) to send")
    bench.add_argument("--processes", type=int, default=2)
    bench.add_argument("--json", action="store_true", help="also print the figures as JSON")
    load = sub.add_parser(
        "loadtest", help="rehearse an exam-window spike against running web nodes (see README)"
    )
    load.add_argument("--physicians", type=int, default=200, help="simulated physicians")
    load.add_argument("--ramp", type=float, default=60, help="seconds in which all connect")
    load.add_argument("--duration", type=float, default=240, help="seconds of answering")
    load.add_argument("--pace", type=float, default=20, help="seconds between answers (mean)")
    load.add_argument("--url", dest="urls", action="append", help="a web node (repeat for several)")
    load.add_argument("--no-face", action="store_true", help="checks passed in advance")
    load.add_argument("--processes", type=int, default=1, help="load-generator processes")
    load.add_argument("--questions", type=int, default=100, help="questions per paper")
    load.add_argument("--reconnect-share", type=float, default=0.1)
    load.add_argument("--hidden-share", type=float, default=0.2)
    load.add_argument("--logins", type=int, default=20, help="real log-ins to time")
    load.add_argument("--login-concurrency", type=int, default=4, help="log-ins at once")
    load.add_argument(
        "--login-storm",
        action="store_true",
        help="every physician logs in for real (argon2) just before entering",
    )
    load.add_argument("--baselines", action="store_true", help="echo server, hall, raw faces")
    load.add_argument("--baseline-clients", type=int, default=200)
    load.add_argument("--baseline-seconds", type=float, default=15)
    load.add_argument("--pid", dest="pids", type=int, action="append", help="also sample")
    load.add_argument("--report", default="", help="write PATH.json and PATH.html")
    load.add_argument("--cleanup", action="store_true", help="remove all load-test data")
    return parser


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], int]] = {
    "migrate": cmd_migrate,
    "seed-demo": cmd_seed_demo,
    "create-office-account": cmd_create_office_account,
    "serve": cmd_serve,
    "worker": cmd_worker,
    "run": cmd_run,
    "generate-papers": cmd_generate_papers,
    "backup": cmd_backup,
    "restore": cmd_restore,
    "demo-exam-now": cmd_demo_exam_now,
    "bench-face": cmd_bench_face,
    "loadtest": cmd_loadtest,
}


ROLES = {"serve": "web", "run": "run"}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    role = args.kind if args.command == "worker" else ROLES.get(args.command, "cli")
    logs.setup(settings, role)
    return COMMANDS[args.command](settings, args)


if __name__ == "__main__":
    sys.exit(main())
