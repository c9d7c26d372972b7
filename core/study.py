"""Courses and honestly counted study time.

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

Every function that depends on the clock takes ``now``.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nh3
import redis.asyncio as aioredis
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q, Subquery
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from core.errors import Conflict, DomainError
from core.numbers import as_int
from models.enums import CourseCategory
from models.period import Period
from models.physician import Physician
from models.practice import PRACTICE_SCOPES, valid_scope
from models.training import Course, Lesson, LessonProgress

SECONDS_PER_CLASS_HOUR = 45 * 60  # one 课时 is a 45-minute class
BEAT_SECONDS = 30  # how often a visible lesson page sends a heartbeat
CREDIT_CAP = 60  # the most one heartbeat credits
MAX_GAP = 90  # a longer silence credits nothing: nobody can tell the page was being read
CHECKIN_EVERY = (600, 1200)  # credited seconds between two 签到 check-ins
STATE_TTL = 24 * 3600
DEMO_COURSES = Path(__file__).parent.parent / "tools" / "demo" / "content" / "courses.json"

# --- rich text and video ---------------------------------------------------------------

# What the lesson editor offers (static/js/lesson-editor.js reads it from the page): what
# it can make is kept, nothing else. ``b``/``i`` are the same marks typed by hand.
ALLOWED_TAGS = {
    "p", "br", "h2", "h3", "h4", "blockquote", "ul", "ol", "li", "strong", "b", "em", "i",
    "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "th": {"colspan", "rowspan"},
    "td": {"colspan", "rowspan"},
}


def editor_allow_list() -> str:
    """The allow-list as the editor's cleanHTML.allowTags spells it: ``a[href|title],p,…``."""
    spelled = []
    for tag in sorted(ALLOWED_TAGS):
        names = sorted(ALLOWED_ATTRIBUTES.get(tag, ()))
        spelled.append(f"{tag}[{'|'.join(names)}]" if names else tag)
    return ",".join(spelled)


def sanitise(html: str) -> str:
    """The office's rich text reduced to the allow-list; links only to http(s) addresses."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https"},
        url_relative="deny",
        link_rel="noopener noreferrer nofollow",
    ).strip()


def valid_video_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in url


def is_direct_video(url: str) -> bool:
    """A direct .mp4 file plays in <video>; anything else is shown as a link."""
    return valid_video_url(url) and urlsplit(url).path.lower().endswith(".mp4")


# --- the course form, checked ----------------------------------------------------------


def course_values(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Course fields from a form, and the errors by field name."""
    errors: dict[str, str] = {}
    title = form.get("title", "").strip()
    if not 2 <= len(title) <= 200:
        errors["title"] = "请填写课程名称（2–200 字）"
    category = form.get("category", "")
    if category not in CourseCategory._value2member_map_:
        errors["category"] = "请选择课程类别"
    hours = as_int(form.get("class_hours"), 1, 20)
    if hours is None:
        errors["class_hours"] = "课时须为 1–20 的整数"
    practice_category = form.get("practice_category", "").strip()
    practice_scope = form.get("practice_scope", "").strip()
    if practice_category and practice_category not in PRACTICE_SCOPES:
        errors["practice_category"] = "执业类别不在规定范围内"
    elif practice_scope and not practice_category:
        errors["practice_scope"] = "选择执业范围前，请先选择执业类别"
    elif practice_scope and not valid_scope(practice_category, practice_scope):
        errors["practice_scope"] = f"执业范围不属于{practice_category}类别"
    description = form.get("description", "").strip()
    if len(description) > 2000:
        errors["description"] = "课程简介不超过 2000 字"
    sort = as_int(form.get("sort", "").strip() or "0", -9999, 9999)
    if sort is None:
        errors["sort"] = "排序须为 -9999 至 9999 的整数"
    values = {
        "title": title,
        "category": category,
        "class_hours": hours or 0,
        "practice_category": practice_category,
        "practice_scope": practice_scope,
        "description": description,
        "is_published": form.get("is_published") == "yes",
        "sort": sort or 0,
    }
    return values, errors


def lesson_values(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    title = form.get("title", "").strip()
    if not 2 <= len(title) <= 200:
        errors["title"] = "请填写课时名称（2–200 字）"
    raw = form.get("body", "")
    if len(raw) > 100_000:
        errors["body"] = "正文过长（不超过 10 万字符）"
    body = sanitise(raw)
    video_url = form.get("video_url", "").strip()
    if video_url and (len(video_url) > 500 or not valid_video_url(video_url)):
        errors["video_url"] = "视频地址须为 http:// 或 https:// 开头的完整网址"
    if not body and not video_url and not errors.get("body"):
        errors["body"] = "请填写正文或视频地址"
    minutes = as_int(form.get("minutes"), 1, 900)
    if minutes is None:
        errors["minutes"] = "学习时长须为 1–900 的整数（分钟）"
    sort = as_int(form.get("sort", "").strip() or "0", -9999, 9999)
    if sort is None:
        errors["sort"] = "排序须为 -9999 至 9999 的整数"
    values = {
        "title": title,
        "body": body,
        "video_url": video_url,
        "minutes": minutes or 0,
        "sort": sort or 0,
    }
    return values, errors


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


# --- demo content ----------------------------------------------------------------------


async def load_demo_courses(path: Path = DEMO_COURSES) -> int:
    """Load the demo catalogue if there are no courses yet; the number of courses either way."""
    if await Course.exists():
        return await Course.all().count()
    data = json.loads(await asyncio.to_thread(path.read_text, encoding="utf-8"))
    async with in_transaction():
        for n, item in enumerate(data):
            values, errors = course_values(
                {
                    "title": str(item.get("title", "")),
                    "category": str(item.get("category", "")),
                    "class_hours": str(item.get("class_hours", "")),
                    "practice_category": str(item.get("practice_category") or ""),
                    "practice_scope": str(item.get("practice_scope") or ""),
                    "description": str(item.get("description") or ""),
                    "is_published": "yes",
                    "sort": str(n),
                }
            )
            if errors:
                raise ValueError(f"demo course {n + 1}: {errors}")
            course = await Course.create(**values)
            for m, lesson in enumerate(item.get("lessons", [])):
                fields, errors = lesson_values(
                    {
                        "title": str(lesson.get("title", "")),
                        "body": str(lesson.get("body") or ""),
                        "video_url": str(lesson.get("video_url") or ""),
                        "minutes": str(lesson.get("minutes", "")),
                        "sort": str(m),
                    }
                )
                if errors:
                    raise ValueError(f"demo course {n + 1}, lesson {m + 1}: {errors}")
                await Lesson.create(course=course, **fields)
    return await Course.all().count()
