"""The Tortoise models of the platform (one app, label ``models``)."""

from models.exam import Answer, Attempt, AttemptEvent, FaceCheck, Paper, PaperItem, Question
from models.ops import AuditLog, OutboxMail
from models.org import Account, County, Organisation, Prefecture
from models.period import Enrollment, Evaluation, Period, PhaseWindow, Result
from models.physician import Filing, Physician, Transfer
from models.training import (
    Course,
    CreditApplication,
    Lesson,
    LessonProgress,
    PracticeAnswer,
    PracticeSet,
)

__all__ = [
    "Account",
    "Answer",
    "Attempt",
    "AttemptEvent",
    "AuditLog",
    "County",
    "Course",
    "CreditApplication",
    "Enrollment",
    "Evaluation",
    "FaceCheck",
    "Filing",
    "Lesson",
    "LessonProgress",
    "Organisation",
    "OutboxMail",
    "Paper",
    "PaperItem",
    "Period",
    "PhaseWindow",
    "Physician",
    "PracticeAnswer",
    "PracticeSet",
    "Prefecture",
    "Question",
    "Result",
    "Transfer",
]
