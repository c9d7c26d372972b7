"""rules/question_bank.py and the audited import, called directly (no HTTP): a question used
by a paper keeps its answer, a used question is retired rather than deleted, each edit has its
audit row."""

from __future__ import annotations

import pytest

from core.errors import Conflict, DomainError, Forbidden
from models.enums import OrgKind, QuestionStatus
from models.exam import Paper, PaperItem, Question
from models.ops import AuditLog
from rules import question_bank
from rules.actor import Actor
from rules.question_import import import_file
from rules.questions import FIELDS, QuestionData, check
from tests import factories


def data(stem: str, answer: str = "C", **kw: str) -> QuestionData:
    values = dict.fromkeys(FIELDS, "")
    values.update(
        type="单选题",
        stem=stem,
        option_A="一年",
        option_B="二年",
        option_C="三年",
        option_D="五年",
        answer=answer,
        category="法律法规",
        **kw,
    )
    found, errors = check(values)
    assert found is not None, errors
    return found


async def editor() -> Actor:
    _, office = await factories.org_with_account(OrgKind.OFFICE)
    return await Actor.of(office, "192.0.2.30")


async def in_a_paper(question: Question) -> None:
    period = await factories.period()
    doc = await factories.physician(await factories.organisation(OrgKind.INSTITUTION))
    enrollment = await factories.enrollment(period, doc)
    paper = await Paper.create(
        period=period, physician=doc, enrollment=enrollment, duration_minutes=60, pass_mark=60
    )
    await PaperItem.create(paper=paper, question=question, position=1)


async def actions_of(question: Question) -> list[str]:
    rows = AuditLog.filter(object_type="question", object_id=question.id).order_by("id")
    return [a.action async for a in rows]


async def test_create_edit_retire_and_delete(db: None) -> None:
    office = await editor()
    _, assessor = await factories.org_with_account(OrgKind.ASSESSOR)
    with pytest.raises(Forbidden):  # the bank is the office's
        await question_bank.create_question(await Actor.of(assessor), data("题库规则：越权"))
    question = await question_bank.create_question(office, data("题库规则：考核周期几年？"))
    with pytest.raises(DomainError, match=f"题目编号 {question.id}"):
        await question_bank.create_question(office, data("题库规则：考核周期几年？"))
    same = data("题库规则：考核周期几年？")
    assert await question_bank.update_question(office, question, same) == []
    changed = await question_bank.update_question(
        office, question, data("题库规则：定期考核周期几年？", answer="D")
    )
    assert changed == ["answer", "stem"]
    question = await Question.get(id=question.id)
    assert question.answer == ["D"]
    assert await question_bank.set_status(office, question, QuestionStatus.RETIRED)
    assert not await question_bank.set_status(office, question, QuestionStatus.RETIRED)
    question = await Question.get(id=question.id)
    assert not await question_bank.set_status(office, question, QuestionStatus.RETIRED)
    await question_bank.delete_question(office, question)
    assert not await Question.exists(id=question.id)
    assert await actions_of(question) == [
        "question_created",
        "question_edited",
        "question_retired",
        "question_deleted",
    ]
    edited = await AuditLog.get(action="question_edited", object_id=question.id)
    assert edited.detail["answer_before"] == ["C"] and edited.detail["answer_after"] == ["D"]
    assert edited.ip == "192.0.2.30"


async def test_a_question_in_a_paper(db: None) -> None:
    office = await editor()
    question = await question_bank.create_question(office, data("题库规则：试卷中的题"))
    await in_a_paper(question)
    assert await question_bank.usage(question.id) == (True, False)
    with pytest.raises(DomainError, match="不能修改答案"):
        await question_bank.update_question(office, question, data("题库规则：试卷中的题", "A"))
    assert await question_bank.update_question(
        office, question, data("题库规则：试卷中的题（修订）")
    ) == ["stem"]
    with pytest.raises(Conflict, match="请停用"):
        await question_bank.delete_question(office, question)
    assert await Question.exists(id=question.id)


async def test_an_import_is_audited_with_its_questions(db: None) -> None:
    office = await editor()
    header = "题型,题干,选项A,选项B,选项C,选项D,选项E,选项F,答案,解析,分类,执业类别,执业范围,难度"
    row = "单选题,题库规则：导入的题,甲,乙,丙,丁,,,A,,法律法规,,,1"
    body = f"{header}\n{row}\n".encode()
    assert await import_file("题库.csv", body, office) == (1, [])
    imports = AuditLog.filter(action="questions_imported", actor_id=office.account_id)
    entry = await imports.first()
    assert entry is not None
    assert entry.detail == {"count": 1, "filename": "题库.csv"}
    stored, errors = await import_file("题库.csv", body, office)
    assert stored == 0 and "重复" in errors[0].reason
    assert await imports.count() == 1
