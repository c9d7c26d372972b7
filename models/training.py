"""Courses, lessons, study progress and credit applications."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from models.enums import CourseCategory
from models.exam import Question
from models.period import Period
from models.physician import Physician


class Course(Model):
    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=200)
    category = fields.CharEnumField(CourseCategory, db_index=True)
    description = fields.TextField(default="")
    class_hours = fields.IntField(description="课时")
    practice_category = fields.CharField(max_length=20, default="", description="empty: all")
    practice_scope = fields.CharField(max_length=40, default="", description="empty: all")
    is_published = fields.BooleanField(default=True)
    sort = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    lessons: fields.ReverseRelation[Lesson]

    class Meta:
        table = "course"
        ordering = ["category", "sort", "id"]


class Lesson(Model):
    id = fields.IntField(primary_key=True)
    course: fields.ForeignKeyRelation[Course] = fields.ForeignKeyField(
        "models.Course", related_name="lessons", on_delete=fields.CASCADE
    )
    course_id: int
    title = fields.CharField(max_length=200)
    body = fields.TextField(default="", description="sanitised rich text")
    video_url = fields.CharField(max_length=500, default="")
    minutes = fields.IntField(description="study time that completes the lesson")
    sort = fields.IntField(default=0)

    class Meta:
        table = "lesson"
        ordering = ["sort", "id"]


class LessonProgress(Model):
    """Study time credited on the server from paced heartbeats."""

    id = fields.IntField(primary_key=True)
    physician: fields.ForeignKeyRelation[Physician] = fields.ForeignKeyField(
        "models.Physician", related_name="lesson_progress", on_delete=fields.CASCADE
    )
    physician_id: int
    lesson: fields.ForeignKeyRelation[Lesson] = fields.ForeignKeyField(
        "models.Lesson", related_name="progress", on_delete=fields.CASCADE
    )
    lesson_id: int
    period: fields.ForeignKeyRelation[Period] = fields.ForeignKeyField(
        "models.Period", related_name="lesson_progress", on_delete=fields.CASCADE
    )
    period_id: int
    seconds_credited = fields.IntField(default=0)
    completed_at = fields.DatetimeField(null=True)
    last_heartbeat_at = fields.DatetimeField(null=True)

    class Meta:
        table = "lesson_progress"
        unique_together = (("physician", "lesson", "period"),)


class CreditApplication(Model):
    """申请学分: 6 自治区级I类学分 once the required class hours are done."""

    id = fields.IntField(primary_key=True)
    physician: fields.ForeignKeyRelation[Physician] = fields.ForeignKeyField(
        "models.Physician", related_name="credit_applications", on_delete=fields.CASCADE
    )
    physician_id: int
    period: fields.ForeignKeyRelation[Period] = fields.ForeignKeyField(
        "models.Period", related_name="credit_applications", on_delete=fields.CASCADE
    )
    period_id: int
    hours = fields.IntField()
    credits = fields.IntField()
    verification_code = fields.CharField(max_length=32, unique=True)
    issued_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "credit_application"
        unique_together = (("physician", "period"),)


class PracticeSet(Model):
    """考前练习: one set of questions drawn for a physician, answered one by one."""

    id = fields.IntField(primary_key=True)
    physician: fields.ForeignKeyRelation[Physician] = fields.ForeignKeyField(
        "models.Physician", related_name="practice_sets", on_delete=fields.CASCADE
    )
    physician_id: int
    period: fields.ForeignKeyRelation[Period] = fields.ForeignKeyField(
        "models.Period", related_name="practice_sets", on_delete=fields.CASCADE
    )
    period_id: int
    source = fields.CharField(max_length=20, default="draw", description="draw or wrong (redo)")
    question_count = fields.IntField()
    answered_count = fields.IntField(default=0)
    correct_count = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    answers: fields.ReverseRelation[PracticeAnswer]

    class Meta:
        table = "practice_set"
        ordering = ["-id"]


class PracticeAnswer(Model):
    """One question of a practice set: what was chosen and whether it was right."""

    id = fields.IntField(primary_key=True)
    practice_set: fields.ForeignKeyRelation[PracticeSet] = fields.ForeignKeyField(
        "models.PracticeSet", related_name="answers", on_delete=fields.CASCADE
    )
    practice_set_id: int
    question: fields.ForeignKeyRelation[Question] = fields.ForeignKeyField(
        "models.Question", related_name="practice_answers", on_delete=fields.RESTRICT
    )
    question_id: int
    position = fields.IntField()
    chosen = fields.JSONField[list[Any]](null=True, description="option keys, null until answered")
    correct = fields.BooleanField(null=True, db_index=True)
    answered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "practice_answer"
        unique_together = (("practice_set", "question"),)
        ordering = ["position"]
