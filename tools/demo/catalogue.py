"""The demo question bank and course catalogue (tools/demo/content, written by the team),
loaded through the same checks as the office's imports and forms, only into an empty bank or
catalogue (loading again changes nothing)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tortoise.transactions import in_transaction

from core.errors import DomainError
from models.exam import Question
from models.training import Course, Lesson
from rules.courses import course_values, lesson_values
from rules.question_import import Parsed, parse, store
from rules.questions import QuestionData

CONTENT = Path(__file__).resolve().parent / "content"
DEMO_DIR = CONTENT  # questions_*.csv
DEMO_COURSES = CONTENT / "courses.json"


def _parse_path(path: Path) -> Parsed:
    return parse(path.name, path.read_bytes())


async def load_demo_questions(folder: Path = DEMO_DIR) -> int:
    """The demo bank: every ``questions_*.csv`` of ``folder`` through the same checks, stored
    in one transaction, only into an empty bank (running it again changes nothing).
    Returns how many questions were stored."""
    if await Question.exists():
        return 0
    everything: list[QuestionData] = []
    seen: dict[str, str] = {}
    problems: list[str] = []
    for path in await asyncio.to_thread(lambda: sorted(folder.glob("questions_*.csv"))):
        parsed = await asyncio.to_thread(_parse_path, path)
        problems += [f"{path.name} 第 {e.row} 行：{e.reason}" for e in parsed.errors]
        for row, question in parsed.questions:
            where = f"{path.name} 第 {row} 行"
            first = seen.setdefault(question.fingerprint, where)
            if first != where:
                problems.append(f"{where}：与 {first} 的题目重复")
            everything.append(question)
    if problems:
        raise DomainError("演示题库有误：" + "；".join(problems[:10]))
    return await store(everything) if everything else 0


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
