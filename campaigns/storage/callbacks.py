"""Callbacks: delivery (falling due, reserved for the owner, the attempt that delivers
them) for the dialer, and booking, rebooking and cancelling for agents."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns import callbacks as rules
from campaigns.callbacks import Callback, CallbackQuery, CallbackState, NewCallback
from campaigns.errors import Code, Conflict, Invalid, NotFound
from campaigns.model import Attempt, Contact, ContactState, Outcome
from campaigns.spec import CampaignSpec
from campaigns.storage import mappers
from campaigns.storage import tables as t
from campaigns.storage.attempts import hold, insert_attempt
from campaigns.storage.base import SqlBase
from campaigns.storage.fast.prepared import Prepared, Writes, inserting

_UNTOUCHABLE = (ContactState.DNC.value, ContactState.INVALID.value)
_OPEN = [state.value for state in sorted(rules.OPEN_STATES)]
_cb = t.callbacks.c
_CALLBACK_GIVEN = (
    "contact_id",
    "campaign_id",
    "booked_by",
    "owner_id",
    "due_at",
    "comment",
    "state",
    "interaction_id",
    "created_at",
    "updated_at",
)
_INSERT_CALLBACK = inserting(t.callbacks, _CALLBACK_GIVEN)
# The agent's booked and due callbacks, and the due ones for all agents.
_SCHEDULED_CALLBACKS = Prepared(
    sa.select(t.callbacks)
    .where(
        sa.or_(
            sa.and_(
                _cb.owner_id == sa.bindparam("b_owner"),
                sa.or_(
                    _cb.state == CallbackState.BOOKED.value,
                    _cb.state == CallbackState.DUE.value,
                ),
            ),
            sa.and_(_cb.owner_id.is_(None), _cb.state == CallbackState.DUE.value),
        )
    )
    .order_by(_cb.due_at, _cb.id)
)


class CallbackDelivery(SqlBase):
    async def next_callback_at(self) -> datetime | None:
        cb = t.callbacks.c
        async with self._engine.connect() as conn:
            when = await conn.scalar(
                sa.select(sa.func.min(cb.due_at)).where(cb.state == CallbackState.BOOKED.value)
            )
        return mappers.utc(when) if when is not None else None

    async def take_due_callbacks(self, now: datetime) -> list[Callback]:
        cb = t.callbacks.c
        due = (
            sa.select(t.callbacks.c.id, cb.due_at, t.campaigns.c.spec)
            .join(t.campaigns, t.campaigns.c.id == cb.campaign_id)
            .where(cb.state == CallbackState.BOOKED.value, cb.due_at <= now)
            .order_by(cb.due_at, cb.id)
        )
        if self._postgres:
            due = due.with_for_update(of=t.callbacks, skip_locked=True)

        async def work(conn: AsyncConnection) -> list[Callback]:
            taken = []
            for callback_id, due_at, spec in (await conn.execute(due)).all():
                minutes = CampaignSpec.model_validate(spec).callback_reservation_minutes
                row = (
                    await conn.execute(
                        sa.update(t.callbacks)
                        .where(cb.id == callback_id)
                        .values(
                            state=CallbackState.DUE.value,
                            reserved_until=rules.reserved_until(due_at, minutes),
                            updated_at=now,
                        )
                        .returning(*t.callbacks.c)
                    )
                ).one()
                taken.append(mappers.callback(row))
            return taken

        return await self._tx(work)

    async def agents_logged_in_elsewhere(self, agent_ids: Iterable[int], service: str) -> set[int]:
        wanted = list(agent_ids)
        if not wanted:
            return set()
        agents = t.agents.c
        # NULL (logged out) is not "another service": `!=` leaves it out.
        query = sa.select(agents.id).where(agents.id.in_(wanted), agents.logged_in_to != service)
        return {row[0] for row in await self._rows(query)}

    async def log_out_agents_of(self, service: str) -> int:
        async def work(conn: AsyncConnection) -> int:
            result = await conn.execute(
                sa.update(t.agents)
                .where(t.agents.c.logged_in_to == service)
                .values(logged_in_to=None)
            )
            return result.rowcount

        return await self._tx(work)

    async def open_due_callbacks(self) -> list[Callback]:
        cb = t.callbacks.c
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(t.callbacks)
                .join(t.contacts, t.contacts.c.id == cb.contact_id)
                .where(
                    cb.state == CallbackState.DUE.value,
                    # Not while a service calls it (the contact is dialling then).
                    t.contacts.c.state == ContactState.CALLBACK.value,
                )
                .order_by(cb.due_at, cb.id)
            )
            return [mappers.callback(row) for row in rows]

    async def start_callback_attempt(
        self, callback: Callback, agent_id: int, owner: str, now: datetime, lease_until: datetime
    ) -> tuple[Contact, Attempt]:
        c, cb = t.contacts.c, t.callbacks.c

        async def work(conn: AsyncConnection) -> tuple[Contact, Attempt]:
            still_due = await conn.scalar(
                sa.select(cb.id).where(cb.id == callback.id, cb.state == CallbackState.DUE.value)
            )
            row = (
                await conn.execute(
                    sa.update(t.contacts)
                    .where(c.id == callback.contact_id, c.state == ContactState.CALLBACK.value)
                    .values(
                        state=ContactState.DIALING.value,
                        due_at=None,
                        lease_owner=owner,
                        lease_expires_at=lease_until,
                        updated_at=now,
                    )
                    .returning(*t.contacts.c)
                )
            ).one_or_none()
            if still_due is None or row is None:
                raise Conflict(f"callback {callback.id} cannot be delivered now")
            contact = mappers.contact(row._mapping)
            detail = {"callback_id": callback.id}
            attempt = await insert_attempt(conn, contact, owner, now, agent_id, detail)
            await hold(conn, contact.id, attempt.id)
            return contact, attempt

        return await self._tx(work)


class CallbackBooking(SqlBase):
    async def get_callback(self, callback_id: int) -> Callback:
        return mappers.callback(
            await self._one(
                sa.select(t.callbacks).where(t.callbacks.c.id == callback_id),
                f"no callback {callback_id}",
            )
        )

    async def scheduled_callbacks(self, owner_id: int) -> list[Callback]:
        found = await self._rows(_SCHEDULED_CALLBACKS, {"b_owner": owner_id})
        return [mappers.callback(r) for r in found]

    async def list_callbacks(self, query: CallbackQuery) -> tuple[int, list[Callback]]:
        where: list[sa.ColumnElement[bool]] = []
        if query.agent_id is not None:
            where.append(_cb.owner_id == query.agent_id)
        if query.campaign_id is not None:
            where.append(_cb.campaign_id == query.campaign_id)
        if query.state is not None:
            where.append(_cb.state == query.state.value)
        if query.due_from is not None:
            where.append(_cb.due_at >= query.due_from)
        if query.due_before is not None:
            where.append(_cb.due_at < query.due_before)
        async with self._engine.connect() as conn:
            total = await conn.scalar(
                sa.select(sa.func.count()).select_from(t.callbacks).where(*where)
            )
            rows = await conn.execute(
                sa.select(t.callbacks)
                .where(*where)
                .order_by(_cb.due_at, _cb.id)
                .limit(query.limit)
                .offset(query.offset)
            )
            return int(total or 0), [mappers.callback(r) for r in rows]

    async def reassign_callback(
        self, callback_id: int, owner_id: int | None, now: datetime
    ) -> Callback:
        found = (
            sa.select(_cb.state, _cb.due_at, t.campaigns.c.spec)
            .join(t.campaigns, t.campaigns.c.id == _cb.campaign_id)
            .where(_cb.id == callback_id)
        )
        if self._postgres:
            found = found.with_for_update(of=t.callbacks)
        ag = t.agents.c

        async def work(conn: AsyncConnection) -> Callback:
            row = (await conn.execute(found)).one_or_none()
            if row is None:
                raise NotFound(f"no callback {callback_id}")
            state, due_at, spec = row
            if state not in _OPEN:
                raise Conflict(
                    f"callback {callback_id} is no longer open", code=Code.CALLBACK_CLOSED
                )
            if owner_id is not None and not await conn.scalar(
                sa.select(ag.active).where(ag.id == owner_id)
            ):
                raise Invalid(f"owner_id: no active user {owner_id}", field="owner_id")
            values: dict[str, Any] = {"owner_id": owner_id, "updated_at": now}
            if state == CallbackState.DUE.value:
                minutes = CampaignSpec.model_validate(spec).callback_reservation_minutes
                values["reserved_until"] = rules.reserved_after_reassign(due_at, now, minutes)
            moved = (
                await conn.execute(
                    sa.update(t.callbacks)
                    .where(_cb.id == callback_id, _cb.state == state)
                    .values(**values)
                    .returning(*t.callbacks.c)
                )
            ).one_or_none()
            if moved is None:
                raise Conflict(
                    f"callback {callback_id} changed meanwhile; try again",
                    code=Code.CALLBACK_CLOSED,
                )
            return mappers.callback(moved)

        return await self._tx(work)

    async def callback_deliveries(
        self, campaign_id: int | None = None
    ) -> list[tuple[int, datetime, datetime]]:
        a = t.attempts.c
        delivered = sa.func.min(a.started_at)
        q = (
            sa.select(_cb.campaign_id, _cb.due_at, delivered)
            .join(
                t.attempts,
                sa.and_(
                    a.contact_id == _cb.contact_id,
                    a.detail["callback_id"].as_integer() == _cb.id,
                ),
            )
            .where(
                _cb.state == CallbackState.DONE.value,
                a.outcome.is_not(None),
                a.outcome != Outcome.FAILED_SYSTEM.value,
            )
            .group_by(_cb.id, _cb.campaign_id, _cb.due_at)
        )
        if campaign_id is not None:
            q = q.where(_cb.campaign_id == campaign_id)
        return [
            (campaign, mappers.utc(due_at), mappers.utc(started))
            for campaign, due_at, started in await self._rows(q)
        ]

    async def due_callbacks(self, now: datetime, limit: int = 100) -> list[Callback]:
        cb = t.callbacks.c
        q = (
            sa.select(t.callbacks)
            .where(cb.state == CallbackState.BOOKED.value, cb.due_at <= now)
            .order_by(cb.due_at, cb.id)
            .limit(limit)
        )
        return [mappers.callback(r) for r in await self._rows(q)]

    async def rebook_callback(
        self, callback_id: int, due_at: datetime, comment: str | None, now: datetime
    ) -> Callback:
        cb, c = t.callbacks.c, t.contacts.c
        values: dict[str, Any] = {"due_at": due_at, "updated_at": now, "reserved_until": None}
        if comment is not None:
            values["comment"] = comment

        async def work(conn: AsyncConnection) -> Callback:
            row = (
                await conn.execute(
                    sa.update(t.callbacks)
                    .where(
                        cb.id == callback_id,
                        cb.state.in_(_OPEN),
                    )
                    .values(state=CallbackState.BOOKED.value, **values)
                    .returning(*t.callbacks.c)
                )
            ).one_or_none()
            if row is None:
                raise Conflict(
                    f"callback {callback_id} is no longer open", code=Code.CALLBACK_CLOSED
                )
            await conn.execute(
                sa.update(t.contacts)
                .where(c.id == row.contact_id, c.state.notin_(_UNTOUCHABLE))
                .values(state=rules.CONTACT_WHILE_BOOKED.value, due_at=None, updated_at=now)
            )
            return mappers.callback(row)

        return await self._tx(work)

    async def cancel_callback(self, callback_id: int, now: datetime) -> Callback:
        """Cancel; a contact left with no open callback becomes ``CONTACT_AFTER_CANCEL``."""
        cb, c = t.callbacks.c, t.contacts.c

        async def work(conn: AsyncConnection) -> Callback:
            row = (
                await conn.execute(
                    sa.update(t.callbacks)
                    .where(
                        cb.id == callback_id,
                        cb.state.in_(_OPEN),
                    )
                    .values(state=CallbackState.CANCELLED.value, updated_at=now)
                    .returning(*t.callbacks.c)
                )
            ).one_or_none()
            if row is None:
                raise Conflict(
                    f"callback {callback_id} is no longer open", code=Code.CALLBACK_CLOSED
                )
            others = sa.exists().where(
                cb.contact_id == row.contact_id,
                cb.id != row.id,
                cb.state.in_(_OPEN),
            )
            await conn.execute(
                sa.update(t.contacts)
                .where(c.id == row.contact_id, c.state == rules.CONTACT_WHILE_BOOKED.value, ~others)
                .values(state=rules.CONTACT_AFTER_CANCEL.value, due_at=None, updated_at=now)
            )
            return mappers.callback(row)

        return await self._tx(work)


async def insert_callback(tx: Writes, cb: NewCallback, now: datetime) -> Callback:
    values = {
        "b_contact_id": cb.contact_id,
        "b_campaign_id": cb.campaign_id,
        "b_booked_by": cb.booked_by,
        "b_owner_id": cb.owner_id,
        "b_due_at": cb.due_at,
        "b_comment": cb.comment,
        "b_state": CallbackState.BOOKED.value,
        "b_interaction_id": cb.interaction_id,
        "b_created_at": now,
        "b_updated_at": now,
    }
    return mappers.callback((await tx.rows(_INSERT_CALLBACK, values))[0])
