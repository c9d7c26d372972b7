"""rules.period_settings, called directly: the office's parameters, windows and current
period, each save with its audit row in one transaction."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from core.errors import DomainError
from models.enums import OrgKind, Phase
from models.exam import Paper
from models.period import Period, PhaseWindow
from rules import period_settings as settings
from rules.actor import Actor
from tests import factories
from tests.factories import PERIOD_PARAMETERS as PARAMETERS
from tests.factories import PERIOD_WINDOWS as WINDOWS
from tests.rules.rule_checks import actor_of, trail


async def office() -> Actor:
    org, _ = await factories.org_with_account(OrgKind.OFFICE)
    return await actor_of(org)


async def test_parameters_are_checked_then_saved_with_their_audit_row(app: Starlette) -> None:
    actor = await office()
    taken = await factories.period()
    clean, shown, errors = await settings.check_parameters(
        {**PARAMETERS, "name": taken.name, "pass_mark": "101", "min_public_required": "40"}, None
    )
    assert errors == {
        "name": "已有同名的考核周期，请换一个名称",
        "pass_mark": "合格分数线须为 1–100 之间的整数（单位：分）",
        "min_professional_required": "各类课程最低课时合计（52）不能超过培训学时要求（36）",
    }
    assert shown["pass_mark"] == "101"

    clean, _, errors = await settings.check_parameters({**PARAMETERS, "name": "新周期"}, None)
    assert not errors
    period, discarded = await settings.save_parameters(actor, None, clean)
    assert discarded == 0 and period.question_count == 100
    assert period.category_minimums == {"professional_required": 12, "public_required": 6}
    assert await trail(period) == [("period_created", "", "")]


async def test_a_new_question_count_discards_the_unopened_papers(app: Starlette) -> None:
    actor = await office()
    period = await factories.period()
    institution = await factories.organisation(OrgKind.INSTITUTION)
    for _ in range(2):
        doc = await factories.physician(institution)
        enrollment = await factories.enrollment(period, doc)
        await Paper.create(
            period=period, physician=doc, enrollment=enrollment, duration_minutes=60, pass_mark=60
        )
    clean, _, errors = await settings.check_parameters(
        {**PARAMETERS, "name": period.name, "question_count": "50"}, period
    )
    assert not errors
    saved, discarded = await settings.save_parameters(actor, period, clean)
    assert discarded == 2 and not await Paper.exists(period_id=period.id)
    assert (await Period.get(id=period.id)).question_count == 50
    assert await trail(saved) == [("period_updated", "", "")]
    assert await settings.save_parameters(actor, saved, clean) == (saved, 0)  # nothing new
    assert len(await trail(saved)) == 1


async def test_windows_in_beijing_time_and_their_order(app: Starlette) -> None:
    actor = await office()
    period = await Period.create(name="窗口周期")
    early = {**WINDOWS, "results_start": "2026-06-02T09:00"}
    windows, _, errors = await settings.check_windows(early, period)
    assert errors == {"results_start": "结果公布须在业务水平测评结束后"}

    windows, _, errors = await settings.check_windows(WINDOWS, period)
    assert not errors
    assert await settings.save_windows(actor, period, windows) == len(Phase)
    test = await PhaseWindow.get(period_id=period.id, phase=Phase.TEST)
    assert test.starts_at.hour == 1  # 09:00 in Beijing is 01:00 UTC
    assert await settings.save_windows(actor, period, windows) == 0  # unchanged: no audit row
    assert await trail(period) == [("period_windows_updated", "", "")]


async def test_exactly_one_current_period(app: Starlette) -> None:
    actor = await office()
    old = await factories.period()
    bare = await Period.create(name="未设时间的周期")
    with pytest.raises(DomainError, match="全部阶段的时间"):
        await settings.make_current(actor, bare)
    new = await factories.period()  # current now, as the factory makes it
    await Period.filter(id=new.id).update(is_current=False)
    await Period.filter(id=old.id).update(is_current=True)
    assert await settings.make_current(actor, new)
    assert await Period.filter(is_current=True).values_list("id", flat=True) == [new.id]
    assert not await settings.make_current(actor, new)  # already: nothing written
    assert await trail(new) == [("period_made_current", "", "current")]
