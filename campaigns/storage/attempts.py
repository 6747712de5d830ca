"""Attempts: recorded before each call is placed, closed exactly once with their outcome."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.callbacks import CallbackState
from campaigns.errors import Conflict
from campaigns.model import Attempt, Contact, ContactState, Outcome
from campaigns.retry import Decision
from campaigns.storage import mappers
from campaigns.storage import tables as t
from campaigns.storage.base import SqlBase
from campaigns.storage.fast.prepared import Prepared, Writes, write


class AttemptRows(SqlBase):
    async def start_attempt(
        self, contact: Contact, owner: str, now: datetime, lease_until: datetime
    ) -> Attempt:
        started = await self.start_attempts([contact], owner, now, lease_until)
        if not started:
            raise Conflict(f"contact {contact.id} is not claimed by {owner}")
        return started[0]

    async def start_attempts(
        self, contacts: Sequence[Contact], owner: str, now: datetime, lease_until: datetime
    ) -> list[Attempt]:
        if not contacts:
            return []
        c = t.contacts.c

        async def work(conn: AsyncConnection) -> list[Attempt]:
            held = set(
                (
                    await conn.execute(
                        sa.update(t.contacts)
                        .where(
                            c.id.in_([contact.id for contact in contacts]),
                            c.state == ContactState.DIALING.value,
                            c.lease_owner == owner,
                        )
                        .values(lease_expires_at=lease_until, updated_at=now)
                        .returning(c.id)
                    )
                ).scalars()
            )
            mine = [contact for contact in contacts if contact.id in held]
            if not mine:
                return []
            rows = await conn.execute(
                sa.insert(t.attempts).returning(*t.attempts.c, sort_by_parameter_order=True),
                [attempt_values(contact, owner, now) for contact in mine],
            )
            attempts = [mappers.attempt(row) for row in rows]
            await conn.execute(
                sa.update(t.contacts)
                .where(c.id == sa.bindparam("b_contact"))
                .values(attempt_id=sa.bindparam("b_attempt")),
                [{"b_contact": a.contact_id, "b_attempt": a.id} for a in attempts],
            )
            return attempts

        return await self._tx(work)

    async def finish_attempt(
        self, attempt_id: int, outcome: Outcome, decision: Decision, now: datetime
    ) -> bool:
        return (await self.finish_attempts([(attempt_id, outcome, decision)], now))[0]

    async def finish_attempts(
        self, settled: Sequence[tuple[int, Outcome, Decision]], now: datetime
    ) -> list[bool]:
        if not settled:
            return []
        try:
            # The dialer's most frequent write (one per call placed): prebuilt statements,
            # straight through sqlite3 on SQLite (fast.prepared), 0.2 ms instead of 1.3.
            return await write(self._engine, lambda writes: _finish_plain(writes, settled, now))
        except _CallbackAttempt:
            pass  # rolled back: a callback's attempt closes its callback too, below

        async def work(conn: AsyncConnection) -> list[bool]:
            return [await _finish(conn, *one, now) for one in settled]

        return await self._tx(work)

    async def open_attempts(self, owner: str) -> list[Attempt]:
        a = t.attempts.c
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(t.attempts).where(a.owner == owner, a.ended_at.is_(None)).order_by(a.id)
            )
            return [mappers.attempt(row) for row in rows]


def attempt_values(
    contact: Contact,
    owner: str,
    now: datetime,
    agent_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "contact_id": contact.id,
        "campaign_id": contact.campaign_id,
        "phone": contact.phone,
        "owner": owner,
        "started_at": now,
        "counted": False,
        "agent_id": agent_id,
        "detail": detail or {},
    }


async def insert_attempt(
    conn: AsyncConnection,
    contact: Contact,
    owner: str,
    now: datetime,
    agent_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> Attempt:
    row = (
        await conn.execute(
            sa.insert(t.attempts)
            .values(attempt_values(contact, owner, now, agent_id, detail))
            .returning(*t.attempts.c)
        )
    ).one()
    return mappers.attempt(row)


class _CallbackAttempt(Exception):
    """The batch holds a callback's attempt: it takes the general path."""


_A, _C = t.attempts.c, t.contacts.c
_CLOSE = Prepared(
    sa.update(t.attempts)
    .where(_A.id == sa.bindparam("b_id"), _A.ended_at.is_(None))
    .values(
        ended_at=sa.bindparam("b_now"),
        outcome=sa.bindparam("b_outcome"),
        counted=sa.bindparam("b_counted"),
    )
    .returning(_A.contact_id, _A.detail)
)
_RELEASE = Prepared(
    sa.update(t.contacts)
    .where(
        _C.id == sa.bindparam("b_contact"),
        _C.state == ContactState.DIALING.value,
        _C.attempt_id == sa.bindparam("b_attempt"),
    )
    .values(
        state=sa.bindparam("b_state"),
        due_at=sa.bindparam("b_due"),
        priority=sa.bindparam("b_priority"),
        attempts=sa.bindparam("b_attempts"),
        dials=sa.bindparam("b_dials"),
        last_outcome=sa.bindparam("b_outcome"),
        lease_owner=None,
        lease_expires_at=None,
        attempt_id=None,
        updated_at=sa.bindparam("b_now"),
    )
)


def _close_params(
    attempt_id: int, outcome: Outcome, decision: Decision, now: datetime
) -> dict[str, Any]:
    return {
        "b_id": attempt_id,
        "b_now": now,
        "b_outcome": outcome.value,
        "b_counted": decision.counted,
    }


def _release_params(
    contact_id: int, attempt_id: int, outcome: Outcome, decision: Decision, now: datetime
) -> dict[str, Any]:
    return {
        "b_contact": contact_id,
        "b_attempt": attempt_id,
        "b_state": decision.state.value,
        "b_due": decision.due_at,
        "b_priority": decision.priority,
        "b_attempts": decision.attempts,
        "b_dials": decision.dials,
        "b_outcome": outcome.value,
        "b_now": now,
    }


async def _finish_plain(
    writes: Writes, settled: Sequence[tuple[int, Outcome, Decision]], now: datetime
) -> list[bool]:
    """:func:`_finish` for attempts that are not callbacks' (raises _CallbackAttempt)."""
    closed: list[bool] = []
    releases: list[dict[str, Any]] = []
    for attempt_id, outcome, decision in settled:
        rows = await writes.rows(_CLOSE, _close_params(attempt_id, outcome, decision, now))
        closed.append(bool(rows))
        if not rows:
            continue
        contact_id, detail = rows[0]
        if "callback_id" in detail:
            raise _CallbackAttempt
        releases.append(_release_params(contact_id, attempt_id, outcome, decision, now))
    await writes.many(_RELEASE, releases)
    return closed


async def _finish(
    conn: AsyncConnection, attempt_id: int, outcome: Outcome, decision: Decision, now: datetime
) -> bool:
    params = _close_params(attempt_id, outcome, decision, now)
    closed = (await conn.execute(_CLOSE.statement, params)).one_or_none()
    if closed is None:
        return False
    contact_id, detail = closed
    if "callback_id" in detail:
        await close_callback(conn, detail["callback_id"], contact_id, attempt_id, outcome, now)
        if outcome is Outcome.FAILED_SYSTEM:
            return True
    # Only the attempt holding the contact's claim settles it: a stale attempt (its
    # contact requeued and claimed again meanwhile) never releases a newer claim.
    # A contact put on the do-not-call list during the call stays there.
    release = _release_params(contact_id, attempt_id, outcome, decision, now)
    await conn.execute(_RELEASE.statement, release)
    return True


async def hold(conn: AsyncConnection, contact_id: int, attempt_id: int) -> None:
    """Record ``attempt_id`` as the attempt holding the contact's claim."""
    await conn.execute(
        sa.update(t.contacts).where(t.contacts.c.id == contact_id).values(attempt_id=attempt_id)
    )


def held_by(contact_id: int, attempt_id: int) -> tuple[sa.ColumnElement[bool], ...]:
    """The contact, if it is being dialled and its claim is ``attempt_id``'s."""
    c = t.contacts.c
    return (
        c.id == contact_id,
        c.state == ContactState.DIALING.value,
        c.attempt_id == attempt_id,
    )


async def close_callback(
    conn: AsyncConnection,
    callback_id: int,
    contact_id: int,
    attempt_id: int,
    outcome: Outcome,
    now: datetime,
) -> None:
    cb = t.callbacks.c
    if outcome is Outcome.FAILED_SYSTEM:
        # The contact was never reached (the agent's phone did not answer, or the dialer
        # lost the call): the callback stays due and its contact waits for it.
        await conn.execute(
            sa.update(t.contacts)
            .where(*held_by(contact_id, attempt_id))
            .values(
                state=ContactState.CALLBACK.value,
                due_at=None,
                lease_owner=None,
                lease_expires_at=None,
                attempt_id=None,
                updated_at=now,
            )
        )
        return
    # Delivered, answered or not: an unanswered callback may be booked again by the
    # agent; meanwhile the contact follows the retry rules.
    await conn.execute(
        sa.update(t.callbacks)
        .where(cb.id == callback_id, cb.state == CallbackState.DUE.value)
        .values(state=CallbackState.DONE.value, updated_at=now)
    )
