"""The state of an attempt as the page sees it (examhall/state.py), derived from facts alone:
called directly, without a database or a socket."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from examhall import protocol as p
from examhall.seat import AttemptFacts
from examhall.state import Checks, derive
from models.enums import AttemptStatus, FaceStage

NOW = datetime(2026, 6, 1, 1, 30, tzinfo=UTC)
WAITING = AttemptFacts(
    id=1,
    status=AttemptStatus.WAITING,
    started_at=None,
    deadline=None,
    random_check_at=None,
    submit_requested_at=None,
    score=None,
    passed=None,
    flagged=False,
    flag_reason="",
    ended_reason="",
)
TESTING = replace(
    WAITING,
    status=AttemptStatus.IN_PROGRESS,
    started_at=NOW - timedelta(minutes=10),
    deadline=NOW + timedelta(minutes=50),
    random_check_at=NOW + timedelta(minutes=20),
)


def test_the_waiting_room_asks_for_the_start_check_until_it_passes() -> None:
    assert derive(WAITING, set(), NOW) == (p.WAITING, p.START)
    assert derive(WAITING, {p.START}, NOW) == (p.WAITING, None)


def test_answering_between_the_start_and_the_random_check() -> None:
    assert derive(TESTING, {p.START}, NOW) == (p.TESTING, None)


def test_the_random_check_pauses_answering_until_it_passes() -> None:
    due = replace(TESTING, random_check_at=NOW - timedelta(seconds=1))
    assert derive(due, {p.START}, NOW) == (p.CHECKING, p.RANDOM)
    assert derive(due, {p.START}, due.random_check_at) == (p.CHECKING, p.RANDOM)  # at the moment
    assert derive(due, {p.START, p.RANDOM}, NOW) == (p.TESTING, None)


@pytest.mark.parametrize(
    "facts",
    [
        replace(TESTING, deadline=NOW),  # the time is up
        replace(TESTING, submit_requested_at=NOW - timedelta(minutes=1)),  # 交卷 asked for
        # both outrank a random check that is due
        replace(TESTING, deadline=NOW, random_check_at=NOW - timedelta(minutes=5)),
    ],
)
def test_the_submit_check_is_asked_at_the_deadline_or_after_a_hand_in(
    facts: AttemptFacts,
) -> None:
    assert derive(facts, {p.START}, NOW) == (p.FINISHING, p.FINAL)
    # passed already (by a proctor's hand): still finishing, the hall hands in
    assert derive(facts, {p.START, p.FINAL}, NOW) == (p.FINISHING, p.FINAL)


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (AttemptStatus.SUBMITTED, p.SUBMITTED),
        (AttemptStatus.ENDED, p.ENDED),
        (AttemptStatus.VOIDED, p.ENDED),
    ],
)
def test_a_finished_attempt_asks_for_nothing(status: AttemptStatus, state: str) -> None:
    for facts in (WAITING, TESTING, replace(TESTING, deadline=NOW)):
        assert derive(replace(facts, status=status), set(), NOW) == (state, None)


def test_checks_count_passed_stages_and_failed_tries_a_proctor_did_not_approve() -> None:
    checks = Checks.of(
        [
            (FaceStage.START, False, None),
            (FaceStage.START, True, None),
            (FaceStage.RANDOM, False, None),
            (FaceStage.RANDOM, False, None),
            (FaceStage.SUBMIT, False, 42),  # approved by hand: passed
            ("random", False, None),  # a value read with raw SQL
        ]
    )
    assert checks.passed == {p.START, p.FINAL}
    assert checks.failed == {p.START: 1, p.RANDOM: 3}
    assert checks.tries_left(p.RANDOM, 5) == 2
    assert checks.tries_left(p.RANDOM, 2) == 0
    assert checks.tries_left(None, 3) == 3  # no check pending
    assert Checks.of([]) == Checks()
