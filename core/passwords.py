"""The password policy, and argon2id hashing off the event loop, bounded so log-in spikes queue
instead of stalling.

Common passwords are refused from the 30,000 most common passwords of the ``zxcvbn`` package
(maintained on PyPI; its list comes from leaked-password corpora), plus a few that are common
in China and the platform's published demo password (``common_passwords_zh.txt``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import secrets
import string
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.settings import Settings

MIN_LENGTH = 8
MAX_LENGTH = 128  # passphrases welcome; argon2 hashes any length in the same time
RULES_TEXT = (
    f"密码长度为{MIN_LENGTH}–{MAX_LENGTH}位，须同时包含字母和数字，不能与登录账号相同，"
    "不能使用常见密码（如 password1、abc12345）"
)
CHINESE_LIST = Path(__file__).with_name("common_passwords_zh.txt")


@functools.cache
def common_passwords() -> frozenset[str]:
    """Lower-cased common passwords (loaded once per process, about 30,000)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    lines = [line.strip() for line in CHINESE_LIST.read_text().splitlines()]
    ours = [line for line in lines if line and not line.startswith("#")]
    return frozenset(p.lower() for p in [*FREQUENCY_LISTS["passwords"], *ours])


def password_problem(password: str, username: str = "") -> str | None:
    """The Chinese reason a new password is refused, or None when it is acceptable."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return f"密码长度须为{MIN_LENGTH}–{MAX_LENGTH}位"
    if not re.search(r"[A-Za-z]", password) or not re.search(r"\d", password):
        return "密码须同时包含字母和数字"
    if username and password.upper() == username.upper():
        return "密码不能与登录账号相同"
    if password.lower() in common_passwords():
        return "该密码过于常见，容易被猜中，请换一个"
    return None


class Hasher:
    """argon2-cffi releases the GIL while hashing, so a small thread pool runs hashes in
    parallel; the semaphore keeps a burst of log-ins from queueing unbounded work. The pool's
    threads run at a lower scheduling priority (``HASH_NICE``): in a log-in storm the event
    loop (the exam hall's answers and entries, the pages) gets a core first and the hashes
    take what is left, so the storm waits on itself, not the hall."""

    def __init__(self, settings: Settings) -> None:
        workers = settings.hash_concurrency or os.cpu_count() or 2
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        self._pool = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix="argon2",
            initializer=lower_priority,
            initargs=(settings.hash_nice,),
        )
        self._slots = asyncio.Semaphore(workers)
        self._dummy = self._hasher.hash("not-a-real-password-0")

    async def hash(self, password: str) -> str:
        async with self._slots:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """Constant work whether or not the account exists (``stored`` None)."""
        async with self._slots:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._pool, self._verify_sync, stored or self._dummy, password, stored is not None
            )

    def _verify_sync(self, stored: str, password: str, real: bool) -> bool:
        try:
            return self._hasher.verify(stored, password) and real
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """Made with other parameters than today's (older, weaker or slower ones)."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True

    def hash_sync(self, password: str) -> str:
        return self._hasher.hash(password)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def lower_priority(nice: int) -> None:
    """Run the calling thread ``nice`` steps below its process (Linux schedules threads one
    by one; elsewhere nothing happens)."""
    if nice > 0 and hasattr(os, "setpriority"):
        tid = threading.get_native_id()
        with contextlib.suppress(OSError):
            os.setpriority(
                os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice)
            )


ALPHABET = string.ascii_letters + string.digits


def temporary_password() -> str:
    """Ten letters and digits, at least one of each: given by a manager, shown once."""
    while True:
        candidate = "".join(secrets.choice(ALPHABET) for _ in range(10))
        if any(c.isdigit() for c in candidate) and any(c.isalpha() for c in candidate):
            return candidate
