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
        a = t.attempts.c

        async def work(conn: AsyncConnection) -> bool:
            closed = (
                await conn.execute(
                    sa.update(t.attempts)
                    .where(a.id == attempt_id, a.ended_at.is_(None))
                    .values(ended_at=now, outcome=outcome.value, counted=decision.counted)
                    .returning(a.contact_id, a.detail)
                )
            ).one_or_none()
            if closed is None:
                return False
            contact_id, detail = closed
            if "callback_id" in detail:
                await close_callback(
                    conn, detail["callback_id"], contact_id, attempt_id, outcome, now
                )
                if outcome is Outcome.FAILED_SYSTEM:
                    return True
            # Only the attempt holding the contact's claim settles it: a stale attempt (its
            # contact requeued and claimed again meanwhile) never releases a newer claim.
            # A contact put on the do-not-call list during the call stays there.
            await conn.execute(
                sa.update(t.contacts)
                .where(*held_by(contact_id, attempt_id))
                .values(
                    state=decision.state.value,
                    due_at=decision.due_at,
                    priority=decision.priority,
                    attempts=decision.attempts,
                    dials=decision.dials,
                    last_outcome=outcome.value,
                    lease_owner=None,
                    lease_expires_at=None,
                    attempt_id=None,
                    updated_at=now,
                )
            )
            return True

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
