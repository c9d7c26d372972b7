"""Assessment periods, enrollments, evaluations and results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise import fields
from tortoise.models import Model

from models.enums import (
    EnrollmentStatus,
    EvaluationStatus,
    Outcome,
    Phase,
    Procedure,
    Rating,
)
from models.org import Account, Organisation
from models.physician import Physician


class Period(Model):
    """考核周期: one assessment round. Exam parameters are set per period."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    is_current = fields.BooleanField(default=False, db_index=True)
    rehearsal = fields.BooleanField(
        default=False, description="made by the load-test tool: out of real lists and figures"
    )
    question_count = fields.IntField(default=100)
    duration_minutes = fields.IntField(default=60)
    pass_mark = fields.IntField(default=60)
    waiting_room_minutes = fields.IntField(default=30)
    face_retries = fields.IntField(default=3)
    required_hours = fields.IntField(default=36, description="课时 needed to complete training")
    credit_points = fields.IntField(default=6, description="自治区级I类学分 granted")
    category_minimums = fields.JSONField[dict[str, Any]](default=dict, description="min hours")
    results_published_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    windows: fields.ReverseRelation[PhaseWindow]

    class Meta:
        table = "period"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class PhaseWindow(Model):
    """When one phase of a period is open."""

    id = fields.IntField(primary_key=True)
    period: fields.ForeignKeyRelation[Period] = fields.ForeignKeyField(
        "models.Period", related_name="windows", on_delete=fields.CASCADE
    )
    period_id: int
    phase = fields.CharEnumField(Phase)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()

    class Meta:
        table = "phase_window"
        unique_together = (("period", "phase"),)
        ordering = ["starts_at"]

    def is_open(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


class Enrollment(Model):
    """考试报名. general: submitted. simplified: submitted → institution → assessor."""

    id = fields.IntField(primary_key=True)
    period: fields.ForeignKeyRelation[Period] = fields.ForeignKeyField(
        "models.Period", related_name="enrollments", on_delete=fields.CASCADE
    )
    period_id: int
    physician: fields.ForeignKeyRelation[Physician] = fields.ForeignKeyField(
        "models.Physician", related_name="enrollments", on_delete=fields.CASCADE
    )
    physician_id: int
    institution: fields.ForeignKeyRelation[Organisation] = fields.ForeignKeyField(
        "models.Organisation", related_name="enrollments", on_delete=fields.RESTRICT
    )
    institution_id: int
    procedure = fields.CharEnumField(Procedure, db_index=True)
    status = fields.CharEnumField(EnrollmentStatus, default=EnrollmentStatus.SUBMITTED)
    application = fields.JSONField[dict[str, Any]](default=dict, description="报名表")
    institution_reviewer: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name=False, null=True, on_delete=fields.RESTRICT
    )
    institution_reviewed_at = fields.DatetimeField(null=True)
    institution_reason = fields.CharField(max_length=500, default="")
    assessor_reviewer: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name=False, null=True, on_delete=fields.RESTRICT
    )
    assessor_reviewed_at = fields.DatetimeField(null=True)
    assessor_reason = fields.CharField(max_length=500, default="")
    is_active = fields.BooleanField(default=True, description="false once superseded")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "enrollment"
        ordering = ["-id"]

    @property
    def state_label(self) -> str:
        """Where the enrollment stands, as physicians and reviewers read it: a simplified
        application is not 已报名 while it waits for its two reviews."""
        if self.procedure == Procedure.SIMPLIFIED:
            return SIMPLIFIED_STATES.get(self.status, self.status.label)
        return self.status.label


SIMPLIFIED_STATES = {
    EnrollmentStatus.SUBMITTED: "已提交申请，待执业机构审核",
    EnrollmentStatus.INSTITUTION_APPROVED: "执业机构审核通过，待考核机构复核",
    EnrollmentStatus.ASSESSOR_APPROVED: "考核机构复核通过，适用简易程序",
}


class Evaluation(Model):
    """医师定期考核表: the institution rates, the assessor confirms or amends."""

    id = fields.IntField(primary_key=True)
    period: fields.ForeignKeyRelation[Period] = fields.ForeignKeyField(
        "models.Period", related_name="evaluations", on_delete=fields.CASCADE
    )
    period_id: int
    physician: fields.ForeignKeyRelation[Physician] = fields.ForeignKeyField(
        "models.Physician", related_name="evaluations", on_delete=fields.CASCADE
    )
    physician_id: int
    status = fields.CharEnumField(EvaluationStatus, default=EvaluationStatus.DRAFT)
    work_performance = fields.CharEnumField(Rating, null=True, description="工作成绩")
    ethics = fields.CharEnumField(Rating, null=True, description="职业道德")
    ethics_vetoes = fields.JSONField[list[Any]](default=list, description="veto items")
    institution_comment = fields.TextField(default="")
    rated_by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name=False, null=True, on_delete=fields.RESTRICT
    )
    rated_at = fields.DatetimeField(null=True)
    assessor_work_performance = fields.CharEnumField(Rating, null=True)
    assessor_ethics = fields.CharEnumField(Rating, null=True)
    assessor_comment = fields.TextField(default="")
    confirmed_by: fields.ForeignKeyNullableRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name=False, null=True, on_delete=fields.RESTRICT
    )
    confirmed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "evaluation"
        unique_together = (("period", "physician"),)


class Result(Model):
    """考核结果 of a physician in a period, visible once the period's results are published."""

    id = fields.IntField(primary_key=True)
    period: fields.ForeignKeyRelation[Period] = fields.ForeignKeyField(
        "models.Period", related_name="results", on_delete=fields.CASCADE
    )
    period_id: int
    physician: fields.ForeignKeyRelation[Physician] = fields.ForeignKeyField(
        "models.Physician", related_name="results", on_delete=fields.CASCADE
    )
    physician_id: int
    procedure = fields.CharEnumField(Procedure)
    outcome = fields.CharEnumField(Outcome)
    test_score = fields.IntField(null=True)
    parts = fields.JSONField[dict[str, Any]](default=dict, description="parts")
    computed_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "result"
        unique_together = (("period", "physician"),)
