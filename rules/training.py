"""Who may study which course, and honestly counted study time.

Study time is credited on the server only, from heartbeats that the lesson page sends about
every 30 seconds while it is visible. The rules, all enforced in one Redis script per
heartbeat so that concurrent requests cannot count the same seconds twice:

- a heartbeat credits the time since the previous accepted heartbeat of the physician, at most
  ``CREDIT_CAP`` seconds; after a silence longer than ``MAX_GAP`` it credits nothing (the page
  was hidden or closed), and the first heartbeat after opening a lesson credits nothing;
- one lesson page per physician counts at a time: opening a lesson hands it a fresh tab token,
  and heartbeats carrying any other token or lesson credit nothing;
- after every 10-20 minutes of credited time a 签到 check-in is due: the heartbeat answers with
  a code to type, and until the code is typed back heartbeats credit nothing;
- a lesson never gets more than its minutes (atomic conditional updates in the database).

Every function that depends on the clock takes ``now``. The catalogue itself (its forms, rich
text and videos) is ``rules/courses.py``.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q, Subquery
from tortoise.queryset import QuerySet

from core.errors import Conflict, DomainError
from models.enums import CourseCategory, EnrollmentStatus, Phase, RegistrationStatus
from models.period import Enrollment, Period
from models.physician import Physician
from models.training import Course, Lesson, LessonProgress
from rules.periods import window, window_text

SECONDS_PER_CLASS_HOUR = 45 * 60  # one 课时 is a 45-minute class
BEAT_SECONDS = 30  # how often a visible lesson page sends a heartbeat
CREDIT_CAP = 60  # the most one heartbeat credits
MAX_GAP = 90  # a longer silence credits nothing: nobody can tell the page was being read
CHECKIN_EVERY = (600, 1200)  # credited seconds between two 签到 check-ins
STATE_TTL = 24 * 3600


# --- who may study what ----------------------------------------------------------------


def applicable_courses(physician: Physician) -> QuerySet[Course]:
    """Published courses for everyone, for the physician's category, or for its scope."""
    return Course.filter(is_published=True).filter(
        Q(practice_category="") | Q(practice_category=physician.practice_category),
        Q(practice_scope="") | Q(practice_scope=physician.practice_scope),
    )


async def applicable_lesson(physician: Physician, lesson_id: int) -> Lesson | None:
    """The lesson if its course is published and meant for the physician, else None."""
    courses = Subquery(applicable_courses(physician).values("id"))
    return await Lesson.filter(id=lesson_id, course_id__in=courses).select_related("course").first()


async def study_refusal(physician: Physician, period: Period | None, now: datetime) -> str:
    """Why the physician may not study now, or "" when it may (``period.windows`` fetched)."""
    if period is None:
        return "当前没有进行中的考核周期"
    if physician.registration_status != RegistrationStatus.APPROVED:
        return "注册审核通过并报名后方可参加培训"
    standing = (
        await Enrollment.filter(physician_id=physician.id, period_id=period.id, is_active=True)
        .exclude(
            status__in=(EnrollmentStatus.INSTITUTION_REJECTED, EnrollmentStatus.ASSESSOR_REJECTED)
        )
        .exists()
    )
    if not standing:
        return "报名成功后方可参加培训，请先到【考试报名】报名"
    found = window(period, Phase.TRAINING)
    if found is None:
        return "本期培训时间尚未设置"
    if not found.is_open(now):
        return f"当前不在培训时间内（培训时间：{window_text(found)}），只能浏览课程"
    return ""


# --- totals ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """A physician's credited study time in a period."""

    by_course: dict[int, int]  # seconds, capped at the course's class hours
    by_lesson: dict[int, int]
    category_seconds: dict[str, int]
    required_hours: int
    minimums: dict[str, int]
    completed_lessons: set[int] = field(default_factory=set)

    @property
    def seconds(self) -> int:
        return sum(self.by_course.values())

    @property
    def hours(self) -> int:
        return self.seconds // SECONDS_PER_CLASS_HOUR

    def category_hours(self, category: str) -> int:
        return self.category_seconds.get(category, 0) // SECONDS_PER_CLASS_HOUR

    @property
    def category_shortfalls(self) -> list[str]:
        """The period's category minimums not met yet, worded for the physician."""
        missing = []
        for category in CourseCategory:
            need = self.minimums.get(category.value, 0)
            have = self.category_hours(category.value)
            if have < need:
                missing.append(f"{category.label}还差 {need - have} 课时")
        return missing

    @property
    def shortfalls(self) -> list[str]:
        """What is still missing (empty: training complete)."""
        overall = self.required_hours - self.hours
        return ([f"还差 {overall} 课时"] if overall > 0 else []) + self.category_shortfalls

    @property
    def complete(self) -> bool:
        return not self.shortfalls


def category_minimums(period: Period) -> dict[str, int]:
    """The period's minimum hours per category, ignoring anything malformed."""
    found: dict[str, int] = {}
    for key, value in (period.category_minimums or {}).items():
        if key in CourseCategory._value2member_map_:
            try:
                found[key] = max(0, int(value))
            except (TypeError, ValueError):
                continue
    return found


PROGRESS_FIELDS = {
    "minutes": "lesson__minutes",
    "course_id": "lesson__course_id",
    "category": "lesson__course__category",
    "class_hours": "lesson__course__class_hours",
}


async def _seconds(
    physician_id: int, period_id: int
) -> tuple[dict[int, int], dict[int, int], dict[str, int], set[int]]:
    rows = await LessonProgress.filter(physician_id=physician_id, period_id=period_id).values(
        "lesson_id", "seconds_credited", **PROGRESS_FIELDS
    )
    return _counted(rows)


async def class_hours_of(physician_ids: list[int], period_id: int) -> dict[int, int]:
    """Whole 课时 of many physicians at once (lists and exports), counted as for one."""
    rows: dict[int, list[dict[str, Any]]] = {i: [] for i in physician_ids}
    for start in range(0, len(physician_ids), 500):
        chunk = physician_ids[start : start + 500]
        for row in await LessonProgress.filter(physician_id__in=chunk, period_id=period_id).values(
            "physician_id", "lesson_id", "seconds_credited", **PROGRESS_FIELDS
        ):
            rows[row["physician_id"]].append(row)
    return {
        i: sum(_counted(found)[0].values()) // SECONDS_PER_CLASS_HOUR for i, found in rows.items()
    }


def _counted(
    rows: list[dict[str, Any]],
) -> tuple[dict[int, int], dict[int, int], dict[str, int], set[int]]:
    """Seconds by course (capped at its 课时), by lesson and by category, and the lessons
    completed, from one physician's progress rows of a period."""
    by_lesson: dict[int, int] = {}
    by_course: dict[int, int] = {}
    caps: dict[int, tuple[str, int]] = {}
    completed: set[int] = set()
    for row in rows:
        # The office may shorten a lesson after it was studied: it counts its minutes at most.
        limit = row["minutes"] * 60
        seconds = min(row["seconds_credited"], limit)
        by_lesson[row["lesson_id"]] = seconds
        by_course[row["course_id"]] = by_course.get(row["course_id"], 0) + seconds
        caps[row["course_id"]] = (str(row["category"]), row["class_hours"] * SECONDS_PER_CLASS_HOUR)
        if seconds >= limit:
            completed.add(row["lesson_id"])
    categories: dict[str, int] = {}
    for course_id, seconds in by_course.items():
        category, cap = caps[course_id]
        by_course[course_id] = min(seconds, cap)  # a course never counts more than its 课时
        categories[category] = categories.get(category, 0) + by_course[course_id]
    return by_course, by_lesson, categories, completed


async def tally(physician_id: int, period: Period) -> Tally:
    by_course, by_lesson, categories, completed = await _seconds(physician_id, period.id)
    return Tally(
        by_course=by_course,
        by_lesson=by_lesson,
        category_seconds=categories,
        required_hours=period.required_hours,
        minimums=category_minimums(period),
        completed_lessons=completed,
    )


async def class_hours(physician_id: int, period_id: int) -> int:
    """Whole 课时 credited to the physician in the period."""
    by_course, *_ = await _seconds(physician_id, period_id)
    return sum(by_course.values()) // SECONDS_PER_CLASS_HOUR


# --- heartbeats ------------------------------------------------------------------------

# KEYS[1] the physician's study state. ARGV: token, lesson, now, cap, max gap, code for a
# check-in falling due, seconds until the next one, ttl, pause ("1": the page is hidden).
_BEAT = """
local s = redis.call('HMGET', KEYS[1], 'lesson', 'token', 'last', 'carry', 'since', 'due', 'check')
if not s[2] then return {'none', '0', ''} end
if s[1] ~= ARGV[2] or s[2] ~= ARGV[1] then return {'other', '0', ''} end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[8]))
if s[7] and s[7] ~= '' then
  redis.call('HDEL', KEYS[1], 'last')
  return {'check', '0', s[7]}
end
local now = tonumber(ARGV[3])
local last = tonumber(s[3])
local credit = 0
if last == nil or now > last then
  if last ~= nil and now - last <= tonumber(ARGV[5]) then
    credit = math.min(now - last, tonumber(ARGV[4]))
  end
  redis.call('HSET', KEYS[1], 'last', ARGV[3])
end
if ARGV[9] == '1' then redis.call('HDEL', KEYS[1], 'last') end
local carry = (tonumber(s[4]) or 0) + credit
local whole = math.floor(carry)
local since = (tonumber(s[5]) or 0) + credit
local due = tonumber(s[6]) or tonumber(ARGV[7])
local state = 'ok'
local check = ''
if since >= due then
  state = 'check'
  check = ARGV[6]
  since = 0
  due = tonumber(ARGV[7])
  redis.call('HDEL', KEYS[1], 'last')
end
redis.call('HSET', KEYS[1], 'carry', tostring(carry - whole), 'since', tostring(since),
  'due', tostring(due), 'check', check)
return {state, tostring(whole), check}
"""

# KEYS[1] the study state. ARGV: code typed, now, seconds until the next check-in, ttl.
_CHECKIN = """
local check = redis.call('HGET', KEYS[1], 'check')
if not check or check == '' then return 'none' end
if check ~= ARGV[1] then return 'wrong' end
redis.call('HSET', KEYS[1], 'check', '', 'since', '0', 'due', ARGV[3], 'last', ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return 'ok'
"""

_random = random.SystemRandom()


def state_key(physician_id: int) -> str:
    return f"study:{physician_id}"


def _next_checkin(rng: random.Random | None) -> str:
    low, high = CHECKIN_EVERY
    return str((rng or _random).randint(low, high))


@dataclass(frozen=True)
class Beat:
    """What a heartbeat did, as the lesson page shows it."""

    state: str  # counting, checkin, other_tab, complete
    seconds: int  # the lesson's credited seconds now
    limit: int  # the lesson's seconds
    added: int = 0
    code: str = ""

    @property
    def message(self) -> str:
        return {
            "counting": "正在计时",
            "checkin": "请签到：输入页面上显示的签到码后继续计时",
            "other_tab": "另一页面正在学习，本页面已暂停计时。如需在本页面学习，请刷新页面",
            "complete": "本课时已学完",
        }[self.state]

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "seconds": self.seconds,
            "limit": self.limit,
            "added": self.added,
            "code": self.code,
            "message": self.message,
        }


async def open_lesson(
    redis: aioredis.Redis, physician_id: int, lesson: Lesson, period: Period
) -> tuple[LessonProgress, str]:
    """The lesson page was opened: its progress row, and the token that makes this page the
    one that counts (any other page of the physician stops counting). A pending check-in and
    the time towards the next one survive: reopening does not skip a 签到."""
    try:
        progress, _ = await LessonProgress.get_or_create(
            physician_id=physician_id, lesson_id=lesson.id, period_id=period.id
        )
    except IntegrityError:  # opened twice at the same moment
        progress = await LessonProgress.get(
            physician_id=physician_id, lesson_id=lesson.id, period_id=period.id
        )
    token = secrets.token_urlsafe(16)
    key = state_key(physician_id)
    pipe = redis.pipeline(transaction=True)
    pipe.hset(key, mapping={"lesson": str(lesson.id), "token": token})
    pipe.hdel(key, "last")
    pipe.expire(key, STATE_TTL)
    await pipe.execute()
    return progress, token


async def heartbeat(
    redis: aioredis.Redis,
    physician_id: int,
    lesson: Lesson,
    period: Period,
    token: str,
    now: datetime,
    *,
    pause: bool = False,
    rng: random.Random | None = None,
) -> Beat:
    """Credit the time since the physician's previous heartbeat to ``lesson`` (see the module
    docstring for the rules). The caller has checked the lesson applies and study is open."""
    limit = lesson.minutes * 60
    progress = await LessonProgress.get_or_none(
        physician_id=physician_id, lesson_id=lesson.id, period_id=period.id
    )
    if progress is None or not token:
        raise Conflict("请先打开该课时页面再学习")
    if progress.seconds_credited >= limit:
        return Beat("complete", limit, limit)
    code = f"{_random.randint(0, 9999):04d}"
    state, whole, check = await redis.eval(
        _BEAT,
        1,
        state_key(physician_id),
        token,
        str(lesson.id),
        repr(now.timestamp()),
        str(CREDIT_CAP),
        str(MAX_GAP),
        code,
        _next_checkin(rng),
        str(STATE_TTL),
        "1" if pause else "0",
    )
    if state == "none":
        raise Conflict("学习页面已失效，请刷新页面后继续学习")
    if state == "other":
        return Beat("other_tab", progress.seconds_credited, limit)
    added = await _credit(progress.id, int(whole), limit, now)
    seconds = (await LessonProgress.get(id=progress.id)).seconds_credited
    if state == "check":
        return Beat("checkin", seconds, limit, added, check)
    return Beat("complete" if seconds >= limit else "counting", seconds, limit, added)


async def _credit(progress_id: int, seconds: int, limit: int, now: datetime) -> int:
    """Add ``seconds`` without passing ``limit``. Each update is one conditional statement,
    and credited time only grows, so concurrent requests never count past the limit."""
    rows = LessonProgress.filter(id=progress_id)
    if seconds <= 0:
        await rows.update(last_heartbeat_at=now)
        return 0
    added = seconds
    changed = await rows.filter(seconds_credited__lte=limit - seconds).update(
        seconds_credited=F("seconds_credited") + seconds, last_heartbeat_at=now
    )
    if not changed:
        # Less than ``seconds`` remain (and only ever fewer later): top up to the limit.
        current = await LessonProgress.get(id=progress_id)
        added = max(0, limit - current.seconds_credited)
        await rows.filter(seconds_credited__gt=limit - seconds, seconds_credited__lt=limit).update(
            seconds_credited=limit, last_heartbeat_at=now
        )
    await rows.filter(seconds_credited__gte=limit, completed_at__isnull=True).update(
        completed_at=now
    )
    return added


async def answer_checkin(
    redis: aioredis.Redis,
    physician_id: int,
    code: str,
    now: datetime,
    *,
    rng: random.Random | None = None,
) -> None:
    """签到: the code shown by the page, typed back. Crediting resumes from now."""
    result = await redis.eval(
        _CHECKIN,
        1,
        state_key(physician_id),
        code.strip(),
        repr(now.timestamp()),
        _next_checkin(rng),
        str(STATE_TTL),
    )
    if result == "none":
        raise Conflict("当前无需签到")
    if result == "wrong":
        raise DomainError("签到码不正确，请重新输入", field="code")


async def pending_checkin(redis: aioredis.Redis, physician_id: int) -> str:
    return str(await redis.hget(state_key(physician_id), "check") or "")
