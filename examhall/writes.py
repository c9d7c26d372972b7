"""The hall's writes, grouped: answers committed together, timeline events written behind.

Answers (group commit): an answer is acknowledged only once it is stored, but answers that
arrive while a commit is running do not each wait for a commit of their own: the next commit
takes all of them, as one transaction of one upsert per answer (``INSERT … ON CONFLICT DO
UPDATE … WHERE the new seq is higher``, the same SQL on SQLite and PostgreSQL). Nothing waits
artificially: when the database is idle an answer commits at once; when it is busy, the line
becomes a batch. A resend (the same or an older seq) changes nothing, as before.

Timeline events (``AttemptEvent`` rows and the ``hall:events`` stream of the monitor) are
not acknowledged to anyone: they are queued and written every ``EVENT_FLUSH`` seconds, one
insert and one pipeline for all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime
from typing import Any

from core.db import execute_many
from examhall.live import Live
from models.exam import AttemptEvent

log = logging.getLogger(__name__)

EVENT_FLUSH = 0.05  # seconds between writes of queued timeline events
UPSERT = (
    "INSERT INTO answer (attempt_id, item_id, choice, seq, answered_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (attempt_id, item_id) DO UPDATE SET choice = excluded.choice, "
    "seq = excluded.seq, answered_at = excluded.answered_at WHERE answer.seq < excluded.seq"
)

Row = tuple[int, int, str, int, datetime]


class Writes:
    def __init__(self, live: Live) -> None:
        self.live = live
        self._answers: list[tuple[Row, asyncio.Future[None]]] = []
        self._answer_task: asyncio.Task[None] | None = None
        self._events: list[tuple[int, str, dict[str, Any]]] = []
        self._event_task: asyncio.Task[None] | None = None
        self.commits = 0  # answer commits made, and answers in them (for the load report)
        self.committed = 0

    # --- answers ------------------------------------------------------------------------

    async def answer(
        self, attempt_id: int, item_id: int, choice: list[str], seq: int, now: datetime
    ) -> None:
        """Durable when this returns; raises when the database refused the batch."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        choice_json = json.dumps(choice, separators=(",", ":"))
        self._answers.append(((attempt_id, item_id, choice_json, seq, now), done))
        if self._answer_task is None or self._answer_task.done():
            self._answer_task = asyncio.create_task(self._commit_answers(), name="answers")
        await done

    async def _commit_answers(self) -> None:
        while self._answers:
            batch, self._answers = self._answers, []
            try:
                await execute_many(UPSERT, [list(row) for row, _ in batch])
            except Exception as exc:  # every answer of the batch is refused: resent later
                log.exception("a batch of %d answers was not stored", len(batch))
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            self.commits += 1
            self.committed += len(batch)
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    # --- timeline events ------------------------------------------------------------------

    def event(self, attempt_id: int, kind: str, detail: dict[str, Any]) -> None:
        self._events.append((attempt_id, kind, detail))
        if self._event_task is None or self._event_task.done():
            self._event_task = asyncio.create_task(self._write_events(), name="events")

    async def _write_events(self) -> None:
        while self._events:
            await asyncio.sleep(EVENT_FLUSH)
            batch, self._events = self._events, []
            try:
                await AttemptEvent.bulk_create(
                    [AttemptEvent(attempt_id=a, kind=k, detail=d) for a, k, d in batch]
                )
            except Exception:
                log.exception("%d hall events were not stored", len(batch))
            try:
                await self.live.publish_events(batch)
            except Exception:  # the monitor feed is best effort; the rows are kept
                log.warning("%d hall events were not published", len(batch))

    async def flush(self) -> None:
        """Write what is queued now (a node shutting down, a test)."""
        for task in (self._answer_task, self._event_task):
            if task is not None:
                with contextlib.suppress(Exception):
                    await task
        if self._events:
            await self._write_events()
