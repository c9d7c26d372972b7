"""The office's edits of the question bank: a new question, an edit, 停用/启用 and deleting,
each with its audit row in the same transaction.

A question used by a paper keeps its answer, type and number of options (only its wording may
change); one used by a paper or a practice set is never deleted, only retired. Importing a
file is ``rules/question_import.py``.
"""

from __future__ import annotations

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from core.errors import Conflict, DomainError, Forbidden
from models.enums import QuestionStatus, Role
from models.exam import PaperItem, Question
from models.training import PracticeAnswer
from rules import audit
from rules.actor import Actor
from rules.questions import QuestionData
from rules.transition import create, transition

DUPLICATE = "与题库中已有的题目重复，请刷新后查看"


async def usage(question_id: int) -> tuple[bool, bool]:
    """(used by a paper, used by a practice set)."""
    return (
        await PaperItem.exists(question_id=question_id),
        await PracticeAnswer.exists(question_id=question_id),
    )


def _office(editor: Actor) -> None:
    if editor.role != Role.OFFICE:
        raise Forbidden()


async def _no_duplicate(data: QuestionData, of: int | None = None) -> None:
    other = await Question.filter(fingerprint=data.fingerprint).exclude(id=of or 0).first()
    if other is not None:
        raise DomainError(f"与题库中已有的题目重复（题目编号 {other.id}）", field="stem")


async def create_question(editor: Actor, data: QuestionData) -> Question:
    _office(editor)
    await _no_duplicate(data)
    try:
        return await create(editor, Question, action="question_created", values=data.values())
    except IntegrityError as exc:  # the same question stored in between
        raise Conflict(DUPLICATE) from exc


async def update_question(editor: Actor, question: Question, data: QuestionData) -> list[str]:
    """Save an edit; returns the names of the changed fields (nothing changed: [])."""
    _office(editor)
    in_paper, _ = await usage(question.id)
    keys = [o["key"] for o in data.options]
    if in_paper and (
        data.type != question.type
        or data.answer != question.answer
        or keys != [o["key"] for o in question.options]
    ):
        raise DomainError(
            "该题已用于业务水平测评试卷，不能修改答案、题型或选项个数（只能修改文字）。"
            "如答案有误，请停用本题后新增一道正确的题目",
            field="answer",
        )
    await _no_duplicate(data, question.id)
    changed = {k: v for k, v in data.values().items() if getattr(question, k) != v}
    if not changed:
        return []
    names = sorted(k for k in changed if k != "fingerprint")
    try:
        async with in_transaction():
            await Question.filter(id=question.id).update(**changed)
            await audit.record(
                editor,
                "question_edited",
                obj=question,
                fields=names,
                answer_before=question.answer if "answer" in changed else None,
                answer_after=data.answer if "answer" in changed else None,
            )
    except IntegrityError as exc:
        raise Conflict(DUPLICATE) from exc
    return names


async def set_status(editor: Actor, question: Question, status: QuestionStatus) -> bool:
    """停用 / 启用. Returns False when the question already had that status."""
    _office(editor)
    if question.status == status:
        return False
    retire = status == QuestionStatus.RETIRED
    try:
        await transition(
            editor,
            question,
            action="question_retired" if retire else "question_reactivated",
            from_states=[question.status],
            to_state=status,
        )
    except Conflict:  # changed in between: already so, or back again
        return False
    return True


async def delete_question(editor: Actor, question: Question) -> None:
    """Delete a question no paper and no practice set has used (else: retire it)."""
    _office(editor)
    if any(await usage(question.id)):
        raise Conflict("该题已被试卷或考前练习使用，不能删除；如不再使用，请停用")
    try:
        async with in_transaction():
            await Question.filter(id=question.id).delete()
            await audit.record(editor, "question_deleted", obj=question, stem=question.stem[:200])
    except IntegrityError as exc:  # used in between
        raise Conflict("该题刚被试卷或考前练习使用，不能删除；如不再使用，请停用") from exc
