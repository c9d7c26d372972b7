"""The demo content of tools/demo/content: the question files pass the importer's own checks
and cover every category and scope the exam draws from; the course catalogue is valid and a
physician of every 执业类别/执业范围 the demo seed hands out can reach the 36 class hours from
the courses that apply to them."""

from __future__ import annotations

import json
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from models.enums import CourseCategory, QuestionCategory, QuestionType
from models.practice import PRACTICE_SCOPES, valid_scope
from rules.courses import course_values, lesson_values
from rules.question_import import parse
from rules.questions import HEADER
from tools.demo.catalogue import DEMO_COURSES, DEMO_DIR
from tools.demo.people import ETHNIC_MEDICINE_SCOPES, GENERAL_SCOPES, SPECIAL_SCOPES

QUESTION_FILES = sorted(DEMO_DIR.glob("questions_*.csv"))
MAX_STEM = 300
MAX_OPTION = 120
MAX_PER_FILE = 35
# (执业类别, 执业范围) -> the least number of 专业知识 questions the demo bank holds.
SCOPE_MINIMUMS = {
    ("临床", "内科专业"): 20,
    ("临床", "外科专业"): 15,
    ("临床", "妇产科专业"): 10,
    ("临床", "儿科专业"): 10,
    ("临床", "全科医学专业"): 10,
    ("临床", "急救医学专业"): 8,
    ("临床", "麻醉科专业"): 3,
    ("口腔", "口腔专业"): 10,
    ("中医", "中医专业"): 10,
    ("中医", "维医专业"): 5,
    ("公共卫生", "公共卫生类别专业"): 10,
}
CATEGORY_MINIMUMS = {
    QuestionCategory.LAW: 120,
    QuestionCategory.ETHICS: 55,
    QuestionCategory.HUMANITIES: 25,
    QuestionCategory.PROFESSIONAL: 110,
}
ALLOWED_TAGS = {"h3", "p", "ul", "ol", "li", "strong", "em", "table", "tr", "th", "td"}
MINUTES_PER_CLASS_HOUR = 45
REQUIRED_HOURS = 36


def _questions() -> list[tuple[str, int, Any]]:
    """(file name, row, checked question) of every demo question; the files must parse clean."""
    found = []
    for path in QUESTION_FILES:
        parsed = parse(path.name, path.read_bytes())
        assert parsed.errors == [], f"{path.name}: {parsed.errors}"
        found += [(path.name, row, q) for row, q in parsed.questions]
    return found


def _courses() -> list[dict[str, Any]]:
    data = json.loads(Path(DEMO_COURSES).read_text(encoding="utf-8"))
    assert isinstance(data, list) and data
    return data


def test_question_files_are_utf8_without_bom_and_have_the_exact_header() -> None:
    assert QUESTION_FILES
    for path in QUESTION_FILES:
        data = path.read_bytes()
        assert not data.startswith(b"\xef\xbb\xbf"), path.name
        first = data.decode("utf-8").splitlines()[0]
        assert first == ",".join(HEADER), path.name


def test_every_file_parses_with_the_importer_and_stays_small() -> None:
    for path in QUESTION_FILES:
        parsed = parse(path.name, path.read_bytes())
        assert parsed.errors == [], f"{path.name}: {parsed.errors}"
        assert 1 <= len(parsed.questions) <= MAX_PER_FILE, path.name


def test_totals_and_minimums_per_category_and_scope() -> None:
    questions = [q for _, _, q in _questions()]
    assert len(questions) >= 330
    by_category = Counter(q.category for q in questions)
    for category, least in CATEGORY_MINIMUMS.items():
        assert by_category[category] >= least, category
    by_scope = Counter(
        (q.practice_category, q.practice_scope)
        for q in questions
        if q.category == QuestionCategory.PROFESSIONAL
    )
    for scope, least in SCOPE_MINIMUMS.items():
        assert by_scope[scope] >= least, scope


def test_scopes_are_the_national_ones_and_only_professional_questions_have_one() -> None:
    for name, row, q in _questions():
        if q.category == QuestionCategory.PROFESSIONAL:
            assert valid_scope(q.practice_category, q.practice_scope), (name, row)
        else:
            assert q.practice_category == q.practice_scope == "", (name, row)


def test_type_mix_difficulty_spread_and_shapes() -> None:
    questions = _questions()
    total = len(questions)
    types = Counter(q.type for _, _, q in questions)
    assert 0.5 <= types[QuestionType.SINGLE] / total <= 0.7
    assert 0.15 <= types[QuestionType.MULTIPLE] / total <= 0.35
    assert 0.08 <= types[QuestionType.JUDGE] / total <= 0.2
    assert set(Counter(q.difficulty for _, _, q in questions)) == {1, 2, 3}
    for name, row, q in questions:
        where = (name, row)
        assert len(q.stem) <= MAX_STEM, where
        assert q.explanation, where
        texts = [o["text"] for o in q.options]
        assert all(len(t) <= MAX_OPTION for t in texts), where
        if q.type == QuestionType.SINGLE:
            assert 4 <= len(texts) <= 5 and len(q.answer) == 1, where
        elif q.type == QuestionType.MULTIPLE:
            assert 4 <= len(texts) <= 6 and len(q.answer) >= 2, where
            assert not any(t.startswith(("以上都", "以上均", "以上选项")) for t in texts), where
        assert len(set(texts)) == len(texts), where


def test_no_stem_repeats_across_files() -> None:
    seen: dict[str, tuple[str, int]] = {}
    for name, row, q in _questions():
        key = "".join(q.stem.split())
        assert key not in seen, f"{name} row {row} repeats {seen.get(key)}"
        seen[key] = (name, row)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes += attrs


def _chinese(html: str) -> int:
    return sum("\u4e00" <= c <= "\u9fff" for c in html)


def test_courses_pass_the_course_and_lesson_checks() -> None:
    titles = set()
    for n, course in enumerate(_courses()):
        values, errors = course_values(
            {
                "title": course["title"],
                "category": course["category"],
                "class_hours": str(course["class_hours"]),
                "practice_category": course["practice_category"],
                "practice_scope": course["practice_scope"],
                "description": course["description"],
            }
        )
        assert errors == {}, (n, errors)
        assert course["title"] not in titles
        titles.add(course["title"])
        assert course["description"]
        if course["practice_scope"]:
            assert valid_scope(course["practice_category"], course["practice_scope"])
        elif course["practice_category"]:
            assert course["practice_category"] in PRACTICE_SCOPES
        lessons = course["lessons"]
        assert lessons, course["title"]
        assert sum(lesson["minutes"] for lesson in lessons) == (
            values["class_hours"] * MINUTES_PER_CLASS_HOUR
        ), course["title"]
        for lesson in lessons:
            fields, errors = lesson_values(
                {
                    "title": lesson["title"],
                    "body": lesson["body"],
                    "video_url": lesson["video_url"],
                    "minutes": str(lesson["minutes"]),
                }
            )
            assert errors == {}, (lesson["title"], errors)
            assert fields["video_url"] == ""
            tags = _Tags()
            tags.feed(lesson["body"])
            assert tags.tags <= ALLOWED_TAGS, (lesson["title"], tags.tags - ALLOWED_TAGS)
            assert tags.attributes == [], lesson["title"]
            assert 200 <= _chinese(lesson["body"]) <= 500, lesson["title"]


def _hours(courses: list[dict[str, Any]], category: CourseCategory) -> int:
    return sum(c["class_hours"] for c in courses if c["category"] == category.value)


def test_class_hours_per_category() -> None:
    courses = _courses()
    assert _hours(courses, CourseCategory.PUBLIC_REQUIRED) >= 12
    assert _hours(courses, CourseCategory.PROFESSIONAL_REQUIRED) >= 20
    assert _hours(courses, CourseCategory.PUBLIC_ELECTIVE) >= 8
    assert sum(c["class_hours"] for c in courses) > REQUIRED_HOURS
    public = [c for c in courses if c["category"] != CourseCategory.PROFESSIONAL_REQUIRED.value]
    assert all(c["practice_category"] == c["practice_scope"] == "" for c in public)
    professional = [
        c for c in courses if c["category"] == CourseCategory.PROFESSIONAL_REQUIRED.value
    ]
    assert all(c["practice_category"] for c in professional)
    assert any(c["practice_category"] == "临床" and not c["practice_scope"] for c in professional)
    scopes = {(c["practice_category"], c["practice_scope"]) for c in professional}
    for scope in [
        ("临床", "内科专业"),
        ("临床", "外科专业"),
        ("临床", "儿科专业"),
        ("临床", "妇产科专业"),
        ("临床", "全科医学专业"),
        ("口腔", "口腔专业"),
        ("中医", "中医专业"),
        ("公共卫生", "公共卫生类别专业"),
    ]:
        assert scope in scopes, scope


def _applicable(courses: list[dict[str, Any]], category: str, scope: str) -> list[dict[str, Any]]:
    """The same rule as rules.training.applicable_courses: courses for everyone, for the
    physician's category, or for its scope. load_demo_courses publishes every demo course."""
    return [
        c
        for c in courses
        if c["practice_category"] in ("", category) and c["practice_scope"] in ("", scope)
    ]


def _seeded_scopes() -> set[tuple[str, str]]:
    """Every (执业类别, 执业范围) the demo seed can give a physician: tools.demo.seed's _scope picks
    from GENERAL_SCOPES, SPECIAL_SCOPES (by institution type) or ETHNIC_MEDICINE_SCOPES."""
    scopes = {scope for scope, _ in GENERAL_SCOPES}
    scopes |= {scope for _, options in SPECIAL_SCOPES.values() for scope, _ in options}
    return scopes | set(ETHNIC_MEDICINE_SCOPES.values())


def test_an_internal_medicine_physician_reaches_the_required_hours() -> None:
    applicable = _applicable(_courses(), "临床", "内科专业")
    assert sum(c["class_hours"] for c in applicable) >= REQUIRED_HOURS
    assert _hours(applicable, CourseCategory.PROFESSIONAL_REQUIRED) > 0


def test_every_scope_the_seed_hands_out_reaches_the_required_hours() -> None:
    courses = _courses()
    seeded = _seeded_scopes()
    assert {("临床", "外科专业"), ("口腔", "口腔专业"), ("中医", "维医专业")} <= seeded
    short = {}
    for category, scope in sorted(seeded):
        assert valid_scope(category, scope), (category, scope)
        applicable = _applicable(courses, category, scope)
        hours = sum(c["class_hours"] for c in applicable)
        professional = _hours(applicable, CourseCategory.PROFESSIONAL_REQUIRED)
        if hours < REQUIRED_HOURS or professional == 0:
            short[f"{category}/{scope}"] = (hours, professional)
    assert short == {}, f"(all hours, 专业必修 hours) below {REQUIRED_HOURS}: {short}"
