"""A campaign's history for a forecast: its recent attempts, interactions and queue.

Read-only, and bounded so that a campaign of millions of calls is summarised by its most
recent ones. Local hours are worked out here from each contact's zone, the same on SQLite
(which keeps no zones) and PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from campaigns.model import ContactState, Outcome
from campaigns.ports.forecast import DIAL_BUCKETS, History, QueuedContact
from campaigns.storage import tables as t
from campaigns.storage.base import SqlBase
from campaigns.storage.fast.sqlite_driver import long_running

ATTEMPTS_READ = 50_000
"""The most recent settled attempts a forecast reads."""
INTERACTIONS_READ = 5_000
"""The most recent interactions whose talk, wrap-up and answer times it reads."""
QUEUE_READ = 100_000
"""The head of the queue it replays."""
_LONGEST_ANSWER = 300.0
"""Placing-to-agent times past this are not an answer delay (a callback's agent-first
call, a clock step): left out."""
_QUEUED = (ContactState.PENDING.value, ContactState.RETRY.value)
_HUMAN = (Outcome.ANSWERED, Outcome.ABANDONED)


class HistoryRows(SqlBase):
    @long_running
    async def forecast_history(self, campaign_id: int) -> History:
        a, c, i = t.attempts.c, t.contacts.c, t.interactions.c
        # The dial number of each attempt: the contact's calls before it. A window over
        # the campaign's attempts, then the most recent ones.
        numbered = (
            sa.select(
                a.started_at,
                a.outcome,
                c.timezone,
                (
                    sa.func.row_number().over(
                        partition_by=a.contact_id, order_by=(a.started_at, a.id)
                    )
                    - 1
                ).label("dial"),
            )
            .join_from(t.attempts, t.contacts, a.contact_id == c.id)
            .where(a.campaign_id == campaign_id, a.ended_at.is_not(None))
            .subquery()
        )
        attempts = (
            sa.select(
                numbered.c.started_at, numbered.c.outcome, numbered.c.timezone, numbered.c.dial
            )
            .where(numbered.c.outcome != Outcome.FAILED_SYSTEM.value)
            .order_by(numbered.c.started_at.desc())
            .limit(ATTEMPTS_READ)
        )
        placed = t.attempts.alias("placed")
        interactions = (
            sa.select(i.started_at, i.ended_at, i.wrapped_up_at, placed.c.started_at)
            .select_from(t.interactions.outerjoin(placed, placed.c.id == i.attempt_id))
            .where(i.campaign_id == campaign_id, i.ended_at.is_not(None))
            .order_by(i.id.desc())
            .limit(INTERACTIONS_READ)
        )
        queue_order = (c.priority.desc(), c.due_at, c.id)
        queued = (
            sa.select(c.timezone, c.due_at, c.dials, c.attempts, c.priority, c.last_outcome)
            .where(c.campaign_id == campaign_id, c.state.in_(_QUEUED), c.due_at.is_not(None))
            .order_by(*queue_order)
            .limit(QUEUE_READ)
        )
        counts = (
            sa.select(c.state, sa.func.count())
            .where(
                c.campaign_id == campaign_id,
                c.state.in_((*_QUEUED, ContactState.CALLBACK.value)),
            )
            .group_by(c.state)
        )
        async with self._engine.connect() as conn:
            attempt_rows = (await conn.execute(attempts)).all()
            interaction_rows = (await conn.execute(interactions)).all()
            queue_rows = (await conn.execute(queued)).all()
            by_state = {state: n for state, n in (await conn.execute(counts)).all()}

        by_dial: list[Counter[Outcome]] = [Counter() for _ in range(DIAL_BUCKETS)]
        calls = [0] * 24
        human = [0] * 24
        zones: dict[str, ZoneInfo | None] = {}
        for started_at, outcome_value, timezone, dial in attempt_rows:
            outcome = Outcome(outcome_value)
            by_dial[min(int(dial), DIAL_BUCKETS - 1)][outcome] += 1
            if timezone not in zones:
                zones[timezone] = _zone(timezone)
            zone = zones[timezone]
            if zone is None:
                continue
            hour = started_at.astimezone(zone).hour
            calls[hour] += 1
            human[hour] += outcome in _HUMAN

        talk: list[float] = []
        wrapup: list[float] = []
        answer: list[float] = []
        for started_at, ended_at, wrapped_up_at, placed_at in interaction_rows:
            talk.append(max(0.0, _seconds(started_at, ended_at)))
            if wrapped_up_at is not None:
                wrapup.append(max(0.0, _seconds(ended_at, wrapped_up_at)))
            if placed_at is not None and 0 < _seconds(placed_at, started_at) <= _LONGEST_ANSWER:
                answer.append(_seconds(placed_at, started_at))

        queue = tuple(
            QueuedContact(
                timezone=timezone,
                due_at=due_at,
                dials=dials,
                attempts=attempts_made,
                priority=priority,
                last_outcome=Outcome(last) if last else None,
            )
            for timezone, due_at, dials, attempts_made, priority, last in queue_rows
        )
        return History(
            attempts=len(attempt_rows),
            outcomes_by_dial=tuple(dict(counter) for counter in by_dial),
            calls_by_hour=tuple(zip(calls, human, strict=True)),
            talk_seconds=tuple(talk),
            wrapup_seconds=tuple(wrapup),
            answer_seconds=tuple(answer),
            queue=queue,
            queued_total=sum(by_state.get(state, 0) for state in _QUEUED),
            callbacks_open=by_state.get(ContactState.CALLBACK.value, 0),
        )


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()
