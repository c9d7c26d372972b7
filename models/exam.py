"""The question bank, papers, attempts, answers and face checks."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from models.enums import (
    AttemptStatus,
    FaceReason,
    FaceStage,
    QuestionCategory,
    QuestionStatus,
    QuestionType,
)
from models.org import Account
from models.period import Enrollment, Period
from models.physician import Physician


class Question(Model):
    """``options`` is a list of {"key": "A", "text": ...}, ``answer`` a sorted list of keys."""

    id = fields.IntField(primary_key=True)
    type = fields.CharEnumField(QuestionType)
    stem = fields.TextField()
    options = fields.JSONField[list[Any]](default=list)
    answer = fields.JSONField[list[Any]](default=list)
    explanation = fields.TextField(default="")
    category = fields.CharEnumField(QuestionCategory, db_index=True)
    practice_category = fields.CharField(max_length=20, default="")
    practice_scope = fields.CharField(max_length=40, default="", db_index=True)
    difficulty = fields.IntField(default=2, description="1 easy … 3 hard")
    status = fields.CharEnumField(QuestionStatus, default=QuestionStatus.ACTIVE, db_index=True)
    fingerprint = fields.CharField(max_length=64, unique=True, description="duplicate guard")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "question"
        ordering = ["id"]


class Paper(Model):
    """One physician's paper of a period, generated before the test window."""

    id = fields.IntField(primary_key=True)
    period: fields.ForeignKeyRelation[Period] = fields.ForeignKeyField(
        "models.Period", related_name="papers", on_delete=fields.CASCADE
    )
    period_id: int
    physician: fields.ForeignKeyRelation[Physician] = fields.ForeignKeyField(
        "models.Physician", related_name="papers", on_delete=fields.CASCADE
    )
    physician_id: int
    enrollment: fields.ForeignKeyRelation[Enrollment] = fields.ForeignKeyField(
        "models.Enrollment", related_name="papers", on_delete=fields.CASCADE
    )
    enrollment_id: int
    duration_minutes = fields.IntField()
    pass_mark = fields.IntField()
    generated_at = fields.DatetimeField(auto_now_add=True)

    items: fields.ReverseRelation[PaperItem]

    class Meta:
        table = "paper"
        unique_together = (("period", "physician"),)


class PaperItem(Model):
    """A question as this paper shows it: its position and its shuffled option ids.

    ``option_map`` maps the ids the browser sees to the question's own option keys.
    """

    id = fields.IntField(primary_key=True)
    paper: fields.ForeignKeyRelation[Paper] = fields.ForeignKeyField(
        "models.Paper", related_name="items", on_delete=fields.CASCADE
    )
    paper_id: int
    question: fields.ForeignKeyRelation[Question] = fields.ForeignKeyField(
        "models.Question", related_name="paper_items", on_delete=fields.RESTRICT
    )
    question_id: int
    position = fields.IntField()
    option_map = fields.JSONField[dict[str, Any]](default=dict)
    points = fields.IntField(default=1)

    class Meta:
        table = "paper_item"
        unique_together = (("paper", "position"),)
        ordering = ["position"]


class Attempt(Model):
    id = fields.IntField(primary_key=True)
    paper: fields.OneToOneRelation[Paper] = fields.OneToOneField(
        "models.Paper", related_name="attempt", on_delete=fields.CASCADE
    )
    paper_id: int
    status = fields.CharEnumField(AttemptStatus, default=AttemptStatus.WAITING, db_index=True)
    started_at = fields.DatetimeField(null=True)
    deadline = fields.DatetimeField(null=True)
    submitted_at = fields.DatetimeField(null=True)
    random_check_at = fields.DatetimeField(null=True)
    submit_requested_at = fields.DatetimeField(
        null=True, description="交卷 asked for: answers lock until the submit check passes"
    )
    time_credit_seconds = fields.FloatField(default=0, description="verifier waits given back")
    score = fields.IntField(null=True)
    passed = fields.BooleanField(null=True)
    flagged = fields.BooleanField(default=False, db_index=True)
    flag_reason = fields.CharField(max_length=500, default="")
    review_decision = fields.CharField(max_length=20, default="", description="accept / void")
    review_reason = fields.CharField(max_length=500, default="")
    reviewed_by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name=False, null=True, on_delete=fields.RESTRICT
    )
    ended_reason = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "attempt"


class Answer(Model):
    """An acknowledged answer, stored before the hall acknowledges it."""

    id = fields.IntField(primary_key=True)
    attempt: fields.ForeignKeyRelation[Attempt] = fields.ForeignKeyField(
        "models.Attempt", related_name="answers", on_delete=fields.CASCADE
    )
    attempt_id: int
    item: fields.ForeignKeyRelation[PaperItem] = fields.ForeignKeyField(
        "models.PaperItem", related_name="answers", on_delete=fields.CASCADE
    )
    item_id: int
    choice = fields.JSONField[list[Any]](default=list, description="option ids sent")
    seq = fields.IntField(default=0, description="client sequence number of the latest write")
    answered_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "answer"
        unique_together = (("attempt", "item"),)


class AttemptEvent(Model):
    """The timeline of an attempt, for proctors: connects, checks, flags, actions."""

    id = fields.IntField(primary_key=True)
    attempt: fields.ForeignKeyRelation[Attempt] = fields.ForeignKeyField(
        "models.Attempt", related_name="events", on_delete=fields.CASCADE
    )
    attempt_id: int
    kind = fields.CharField(max_length=40)
    detail = fields.JSONField[dict[str, Any]](default=dict)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "attempt_event"
        ordering = ["id"]


class FaceCheck(Model):
    """Every face verification, for the registration photo or a test stage."""

    id = fields.IntField(primary_key=True)
    physician: fields.ForeignKeyNullableRelation[Physician] = fields.ForeignKeyField(
        "models.Physician", related_name="face_checks", null=True, on_delete=fields.CASCADE
    )
    physician_id: int | None
    attempt: fields.ForeignKeyNullableRelation[Attempt] = fields.ForeignKeyField(
        "models.Attempt", related_name="face_checks", null=True, on_delete=fields.CASCADE
    )
    attempt_id: int | None
    stage = fields.CharEnumField(FaceStage)
    passed = fields.BooleanField()
    reason = fields.CharEnumField(FaceReason)
    distance = fields.FloatField(null=True)
    box = fields.JSONField[list[int]](null=True, description="[t, r, b, l]")
    queued_ms = fields.FloatField(default=0)
    compute_ms = fields.FloatField(default=0)
    total_ms = fields.FloatField(default=0)
    worker = fields.CharField(max_length=100, default="")
    actions = fields.CharField(
        max_length=100, default="", description="the challenge, e.g. turn_left,open_mouth"
    )
    frame_paths = fields.JSONField[list[str]](
        default=list, description="the burst, kept when failed"
    )
    frame_hashes = fields.JSONField[list[str]](
        default=list, description="perceptual hashes of the frames of a passed check"
    )
    detail = fields.JSONField[dict[str, Any]](
        default=dict, description="per-frame measures (yaw, mouth) and the decisive frames"
    )
    approved_by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name=False, null=True, on_delete=fields.RESTRICT
    )
    approval_reason = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "face_check"
        ordering = ["-id"]
