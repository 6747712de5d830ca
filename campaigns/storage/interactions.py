"""Interactions (calls handled by agents), their wrap-up, registrations and statistics.

What must be all-or-nothing (a registration with its topics, end reason, contact change and
callback) is one transaction here. The statements of an agent's every call are prebuilt
(see :mod:`campaigns.storage.fast.prepared`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.callbacks import Callback, NewCallback
from campaigns.errors import Code, Conflict, Invalid, NotFound
from campaigns.model import ContactState
from campaigns.storage import mappers
from campaigns.storage import tables as t
from campaigns.storage.base import SqlBase
from campaigns.storage.callbacks import insert_callback
from campaigns.storage.fast.prepared import Prepared, Writes, inserting, write
from campaigns.storage.fast.sqlite_driver import long_running
from campaigns.wrapup import (
    AgentFigures,
    ContactChange,
    ContactHistory,
    Direction,
    EndReasonOutcome,
    Feedback,
    Interaction,
    PastRegistration,
    Registration,
    StatsQuery,
    TopicCount,
)

_UNTOUCHABLE = (ContactState.DNC.value, ContactState.INVALID.value)

# The statements of an agent's every call, built once: SQLAlchemy builds and keys a new
# statement object on each use otherwise, which cost more than SQLite's work on them.
_i, _r, _rt = t.interactions.c, t.registrations.c, t.registration_topics.c
_INTERACTION_GIVEN = (
    "agent_id",
    "direction",
    "phone",
    "contact_id",
    "campaign_id",
    "attempt_id",
    "started_at",
    "wrapup_extended",
    "registration_required",
    "owner",
)
_END_REASON_COLUMNS = ("end_reason_id", "closed", "followup_queue", "end_description")
_REGISTRATION_GIVEN = (
    "interaction_id",
    "agent_id",
    "campaign_id",
    "comment",
    "feedback",
    "automatic",
    "created_at",
)


_GET_INTERACTION = Prepared(sa.select(t.interactions).where(_i.id == sa.bindparam("b_id")))
_CREATE_INTERACTION = inserting(t.interactions, _INTERACTION_GIVEN)
_END_INTERACTION = Prepared(
    sa.update(t.interactions)
    .where(_i.id == sa.bindparam("b_id"), _i.ended_at.is_(None))
    .values(
        ended_at=sa.bindparam("b_ended_at", type_=t.UtcDateTime()),
        # A registration made during the call leaves no countdown to run.
        wrapup_deadline=sa.case(
            (_i.wrapped_up_at.is_(None), sa.bindparam("b_deadline", type_=t.UtcDateTime())),
            else_=sa.null(),
        ),
        registration_required=sa.bindparam("b_required", type_=sa.Boolean()),
    )
    .returning(*t.interactions.c)
)
_GET_REGISTRATION = Prepared(
    sa.select(t.registrations, _rt.topic_id.label("topic_id"))
    .outerjoin(t.registration_topics, _rt.registration_id == _r.id)
    .where(_r.interaction_id == sa.bindparam("b_id"))
    .order_by(_rt.topic_id)
)
_WRAP_UP = sa.update(t.interactions).where(
    _i.id == sa.bindparam("b_id"), _i.wrapped_up_at.is_(None)
)
_WRAP_UP_ONLY = Prepared(
    _WRAP_UP.values(wrapped_up_at=sa.bindparam("b_now"), wrapup_deadline=sa.null())
)
_WRAP_UP_WITH_REASON = Prepared(
    _WRAP_UP.values(
        wrapped_up_at=sa.bindparam("b_now"),
        wrapup_deadline=sa.null(),
        **{name: sa.bindparam(f"b_{name}") for name in _END_REASON_COLUMNS},
    )
)
_INSERT_REGISTRATION = inserting(t.registrations, _REGISTRATION_GIVEN)
_INSERT_REGISTRATION_TOPIC = Prepared(
    sa.insert(t.registration_topics).values(
        registration_id=sa.bindparam("b_registration_id"), topic_id=sa.bindparam("b_topic_id")
    )
)
_a = t.attempts.c
# Dialer feedback changes the contact only through the interaction's own attempt: that
# attempt is settled, no later one was made, and no claim holds the contact now.
_CHANGE_CONTACT = Prepared(
    sa.update(t.contacts)
    .where(
        t.contacts.c.id == sa.bindparam("b_id"),
        *(t.contacts.c.state != state for state in _UNTOUCHABLE),
        t.contacts.c.state != ContactState.DIALING.value,
        sa.exists().where(
            _a.id == sa.bindparam("b_attempt_id"),
            _a.contact_id == t.contacts.c.id,
            _a.ended_at.isnot(None),
        ),
        ~sa.exists().where(_a.contact_id == t.contacts.c.id, _a.id > sa.bindparam("b_attempt_id")),
    )
    .values(
        state=sa.bindparam("b_state"),
        due_at=sa.bindparam("b_due_at"),
        lease_owner=sa.null(),
        lease_expires_at=sa.null(),
        updated_at=sa.bindparam("b_now"),
    )
)
_CONTACT_STATE = Prepared(
    sa.select(t.contacts.c.state).where(t.contacts.c.id == sa.bindparam("b_id"))
)


class InteractionRows(SqlBase):
    async def create_interaction(
        self,
        agent_id: int,
        direction: Direction,
        phone: str,
        now: datetime,
        contact_id: int | None = None,
        campaign_id: int | None = None,
        attempt_id: int | None = None,
        owner: str | None = None,
    ) -> Interaction:
        values = {
            "b_agent_id": agent_id,
            "b_direction": direction.value,
            "b_phone": phone,
            "b_contact_id": contact_id,
            "b_campaign_id": campaign_id,
            "b_attempt_id": attempt_id,
            "b_started_at": now,
            "b_wrapup_extended": False,
            "b_registration_required": False,
            "b_owner": owner,
        }

        async def work(tx: Writes) -> Interaction:
            return mappers.interaction((await tx.rows(_CREATE_INTERACTION, values))[0])

        return await write(self._engine, work)

    async def get_interaction(self, interaction_id: int) -> Interaction:
        return mappers.interaction(
            await self._one(
                _GET_INTERACTION, f"no interaction {interaction_id}", {"b_id": interaction_id}
            )
        )

    async def list_interactions(self, agent_id: int, limit: int = 50) -> list[Interaction]:
        i = t.interactions.c
        q = sa.select(t.interactions).where(i.agent_id == agent_id).order_by(i.id.desc())
        return [mappers.interaction(r) for r in await self._rows(q.limit(limit))]

    async def contact_history(self, contact_id: int, limit: int = 50) -> ContactHistory:
        """The contact's last ``limit`` attempts and registrations, newest first."""
        a, i, r, g = t.attempts.c, t.interactions.c, t.registrations.c, t.agents.c
        cb, er = t.callbacks.c, t.end_reasons.c
        attempts = sa.select(t.attempts).where(a.contact_id == contact_id)
        registrations = (
            sa.select(
                r.id,
                r.interaction_id,
                r.created_at,
                g.username,
                r.comment,
                r.feedback,
                r.automatic,
                er.name.label("end_reason"),
                cb.due_at,
                cb.comment.label("callback_comment"),
            )
            .join(t.interactions, i.id == r.interaction_id)
            .join(t.agents, g.id == r.agent_id)
            .outerjoin(t.end_reasons, er.id == i.end_reason_id)
            .outerjoin(t.callbacks, cb.interaction_id == r.interaction_id)
            .where(i.contact_id == contact_id)
        )
        attempt_rows = await self._rows(attempts.order_by(a.id.desc()).limit(limit))
        rows = await self._rows(registrations.order_by(r.id.desc()).limit(limit))
        topics: dict[int, list[str]] = {}
        if rows:
            tp, rt = t.wrapup_topics.c, t.registration_topics.c
            named = (
                sa.select(rt.registration_id, tp.name)
                .join(t.wrapup_topics, tp.id == rt.topic_id)
                .where(rt.registration_id.in_([row.id for row in rows]))
                .order_by(tp.name)
            )
            for row in await self._rows(named):
                topics.setdefault(row.registration_id, []).append(row.name)
        return ContactHistory(
            tuple(mappers.attempt(row) for row in attempt_rows),
            tuple(
                PastRegistration(
                    interaction_id=row.interaction_id,
                    at=row.created_at,
                    agent=row.username,
                    comment=row.comment,
                    feedback=Feedback(row.feedback) if row.feedback else None,
                    automatic=row.automatic,
                    topics=tuple(topics.get(row.id, ())),
                    end_reason=row.end_reason,
                    callback_due_at=row.due_at,
                    callback_comment=row.callback_comment,
                )
                for row in rows
            ),
        )

    async def was_offered(self, agent_id: int, contact_id: int) -> bool:
        """Whether the dialer ever gave the agent a call to the contact."""
        i = t.interactions.c
        q = sa.select(i.id).where(
            i.agent_id == agent_id, i.contact_id == contact_id, i.attempt_id.isnot(None)
        )
        return bool(await self._rows(q.limit(1)))

    async def awaiting_wrapup(self, agent_id: int) -> list[Interaction]:
        i = t.interactions.c
        q = sa.select(t.interactions).where(
            i.agent_id == agent_id, i.ended_at.isnot(None), i.wrapped_up_at.is_(None)
        )
        return [mappers.interaction(r) for r in await self._rows(q.order_by(i.id))]

    async def end_interaction(
        self, interaction_id: int, ended_at: datetime, deadline: datetime | None, required: bool
    ) -> Interaction:
        values = {
            "b_id": interaction_id,
            "b_ended_at": ended_at,
            "b_deadline": deadline,
            "b_required": required,
        }

        async def work(tx: Writes) -> Interaction | None:
            rows = await tx.rows(_END_INTERACTION, values)
            return mappers.interaction(rows[0]) if rows else None

        ended = await write(self._engine, work)
        # Ending twice (AMI hang-up events can repeat) returns the first ending.
        return ended if ended is not None else await self.get_interaction(interaction_id)

    async def extend_wrapup(self, interaction_id: int) -> Interaction:
        i = t.interactions.c

        async def work(conn: AsyncConnection) -> Interaction:
            row = (
                await conn.execute(
                    sa.update(t.interactions)
                    .where(i.id == interaction_id, i.wrapped_up_at.is_(None))
                    .values(wrapup_deadline=None, wrapup_extended=True)
                    .returning(*t.interactions.c)
                )
            ).one_or_none()
            if row is None:
                raise Conflict(
                    f"interaction {interaction_id} is already wrapped up",
                    code=Code.WRAPUP_ALREADY_REGISTERED,
                )
            return mappers.interaction(row)

        return await self._tx(work)

    async def set_end_reason(self, interaction_id: int, outcome: EndReasonOutcome) -> Interaction:
        i = t.interactions.c

        async def work(conn: AsyncConnection) -> Interaction:
            row = (
                await conn.execute(
                    sa.update(t.interactions)
                    .where(i.id == interaction_id)
                    .values(**_end_reason_values(outcome))
                    .returning(*t.interactions.c)
                )
            ).one_or_none()
            if row is None:
                raise NotFound(f"no interaction {interaction_id}")
            return mappers.interaction(row)

        return await self._tx(work)

    async def due_wrapups(
        self,
        now: datetime,
        limit: int = 100,
        *,
        owner: str | None = None,
        others_overdue: timedelta = timedelta(0),
    ) -> list[Interaction]:
        i = t.interactions.c
        q = sa.select(t.interactions).where(i.wrapped_up_at.is_(None), i.wrapup_deadline <= now)
        if owner is not None:
            q = q.where(
                sa.or_(
                    i.owner == owner,
                    i.owner.is_(None),
                    i.wrapup_deadline <= now - others_overdue,
                )
            )
        q = q.order_by(i.wrapup_deadline).limit(limit)
        return [mappers.interaction(r) for r in await self._rows(q)]

    async def next_wrapup_deadline(
        self, owner: str | None = None, others_overdue: timedelta = timedelta(0)
    ) -> datetime | None:
        i = t.interactions.c
        ours = sa.true() if owner is None else sa.or_(i.owner == owner, i.owner.is_(None))
        mine = sa.func.min(sa.case((ours, i.wrapup_deadline)))
        others = sa.func.min(sa.case((~ours, i.wrapup_deadline)))
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(sa.select(mine, others).where(i.wrapped_up_at.is_(None)))
            ).one()
        # min() loses the column type on SQLite: give it back its zone.
        zoned = t.UtcDateTime()
        first, theirs = (zoned.process_result_value(v, self._engine.dialect) for v in row)
        if theirs is not None:
            theirs += others_overdue
            first = theirs if first is None else min(first, theirs)
        return first

    async def followups(self, queue: str | None, limit: int = 100) -> list[Interaction]:
        i = t.interactions.c
        q = sa.select(t.interactions).where(i.followup_queue.isnot(None))
        if queue is not None:
            q = q.where(i.followup_queue == queue)
        return [mappers.interaction(r) for r in await self._rows(q.order_by(i.id).limit(limit))]

    async def save_registration(
        self,
        interaction: Interaction,
        *,
        topic_ids: Sequence[int],
        comment: str,
        feedback: Feedback | None,
        automatic: bool,
        now: datetime,
        end_reason: EndReasonOutcome | None = None,
        contact_change: ContactChange | None = None,
        callback: NewCallback | None = None,
    ) -> tuple[Registration, Callback | None]:
        """Registration, topics, end reason, contact state and callback: all or nothing."""
        wrap_up = _WRAP_UP_ONLY
        values: dict[str, Any] = {"b_id": interaction.id, "b_now": now}
        if end_reason is not None:
            wrap_up = _WRAP_UP_WITH_REASON
            values.update({f"b_{k}": v for k, v in _end_reason_values(end_reason).items()})
        registration = {
            "b_interaction_id": interaction.id,
            "b_agent_id": interaction.agent_id,
            "b_campaign_id": interaction.campaign_id,
            "b_comment": comment,
            "b_feedback": feedback.value if feedback else None,
            "b_automatic": automatic,
            "b_created_at": now,
        }

        async def work(tx: Writes) -> tuple[Registration, Callback | None]:
            if await tx.count(wrap_up, values) != 1:
                raise Conflict(
                    f"interaction {interaction.id} is already wrapped up",
                    code=Code.WRAPUP_ALREADY_REGISTERED,
                )
            row = (await tx.rows(_INSERT_REGISTRATION, registration))[0]
            await tx.many(
                _INSERT_REGISTRATION_TOPIC,
                [{"b_registration_id": row.id, "b_topic_id": tid} for tid in topic_ids],
            )
            if contact_change is not None:
                if interaction.attempt_id is None:
                    raise Invalid(
                        "feedback: dialer feedback is only for the agent's own dialer calls",
                        field="feedback",
                    )
                change = {
                    "b_id": contact_change.contact_id,
                    "b_state": contact_change.state.value,
                    "b_due_at": contact_change.due_at,
                    "b_attempt_id": interaction.attempt_id,
                    "b_now": now,
                }
                if await tx.count(_CHANGE_CONTACT, change) != 1:
                    state = await tx.rows(_CONTACT_STATE, {"b_id": contact_change.contact_id})
                    if not state or state[0].state not in _UNTOUCHABLE:
                        raise Conflict(
                            "feedback: the contact is being dialled, or was dialled again "
                            "since this call; register without dialer feedback",
                            code=Code.WRAPUP_CONTACT_BUSY,
                            field="feedback",
                        )
            booked = await insert_callback(tx, callback, now) if callback else None
            return mappers.registration(row, tuple(topic_ids)), booked

        return await write(self._engine, work)

    async def get_registration(self, interaction_id: int) -> Registration | None:
        rows = await self._rows(_GET_REGISTRATION, {"b_id": interaction_id})
        if not rows:
            return None
        topics = tuple(row.topic_id for row in rows if row.topic_id is not None)
        return mappers.registration(rows[0], topics)

    def _epoch_seconds(self, column: Any) -> Any:
        # Seconds since an epoch: SQLite keeps UTC text, which julianday() reads.
        if self._postgres:
            return sa.extract("epoch", column)
        return sa.func.julianday(column) * 86400.0

    @long_running
    async def agent_figures(self, query: StatsQuery) -> list[AgentFigures]:
        i, r, a = t.interactions.c, t.registrations.c, t.agents.c
        talk = sa.case(
            (
                i.ended_at.is_not(None),
                self._epoch_seconds(i.ended_at) - self._epoch_seconds(i.started_at),
            ),
            else_=0,
        )
        wrapup = sa.case(
            (
                sa.and_(i.ended_at.is_not(None), i.wrapped_up_at.is_not(None)),
                self._epoch_seconds(i.wrapped_up_at) - self._epoch_seconds(i.ended_at),
            ),
            else_=0,
        )
        calls = sa.select(
            i.agent_id,
            sa.func.count().label("calls"),
            sa.func.coalesce(sa.func.sum(talk), 0).label("talk"),
            sa.func.coalesce(sa.func.sum(wrapup), 0).label("wrapup"),
        ).group_by(i.agent_id)
        registered = sa.select(r.agent_id, sa.func.count().label("n")).group_by(r.agent_id)
        for column, value in ((i.campaign_id, query.campaign_id), (i.agent_id, query.agent_id)):
            if value is not None:
                calls = calls.where(column == value)
        for column, value in ((r.campaign_id, query.campaign_id), (r.agent_id, query.agent_id)):
            if value is not None:
                registered = registered.where(column == value)
        if query.since is not None:
            calls = calls.where(i.started_at >= query.since)
            registered = registered.where(r.created_at >= query.since)
        if query.until is not None:
            calls = calls.where(i.started_at < query.until)
            registered = registered.where(r.created_at < query.until)
        by_agent = {row.agent_id: row for row in await self._rows(calls)}
        counts = {row.agent_id: int(row.n) for row in await self._rows(registered)}
        ids = set(by_agent) | set(counts)
        if not ids:
            return []
        names = {
            row.id: row.username
            for row in await self._rows(sa.select(a.id, a.username).where(a.id.in_(ids)))
        }
        out = [
            AgentFigures(
                agent_id=agent_id,
                username=names.get(agent_id, ""),
                calls=int(by_agent[agent_id].calls) if agent_id in by_agent else 0,
                talk_seconds=round(float(by_agent[agent_id].talk), 3)
                if agent_id in by_agent
                else 0.0,
                wrapup_seconds=(
                    round(float(by_agent[agent_id].wrapup), 3) if agent_id in by_agent else 0.0
                ),
                registrations=counts.get(agent_id, 0),
            )
            for agent_id in ids
        ]
        return sorted(out, key=lambda f: (f.username, f.agent_id))

    @long_running
    async def registration_stats(self, query: StatsQuery) -> list[TopicCount]:
        r, rt, tp, cat = (
            t.registrations.c,
            t.registration_topics.c,
            t.wrapup_topics.c,
            t.wrapup_categories.c,
        )
        keys: list[Any] = [
            cat.id.label("category_id"),
            cat.name.label("category"),
            tp.id.label("topic_id"),
            tp.name.label("topic"),
        ]
        if query.by_campaign:
            keys.append(r.campaign_id)
        if query.by_agent:
            keys.append(r.agent_id)
        q = (
            sa.select(*keys, sa.func.count().label("n"))
            .select_from(t.registrations)
            # Registrations without topics (feedback only, automatic) count too, as one
            # row with no category and no topic, last.
            .outerjoin(t.registration_topics, rt.registration_id == r.id)
            .outerjoin(t.wrapup_topics, tp.id == rt.topic_id)
            .outerjoin(t.wrapup_categories, cat.id == tp.category_id)
            .group_by(*keys)
            .order_by(cat.id.is_(None), cat.id, sa.func.count().desc(), tp.id)
        )
        if query.campaign_id is not None:
            q = q.where(r.campaign_id == query.campaign_id)
        if query.agent_id is not None:
            q = q.where(r.agent_id == query.agent_id)
        if query.since is not None:
            q = q.where(r.created_at >= query.since)
        if query.until is not None:
            q = q.where(r.created_at < query.until)
        out = []
        for row in await self._rows(q):
            m = row._mapping
            out.append(
                TopicCount(
                    category_id=m["category_id"],
                    category=m["category"],
                    topic_id=m["topic_id"],
                    topic=m["topic"],
                    count=m["n"],
                    campaign_id=m["campaign_id"] if query.by_campaign else query.campaign_id,
                    agent_id=m["agent_id"] if query.by_agent else query.agent_id,
                )
            )
        return out


def _end_reason_values(outcome: EndReasonOutcome) -> dict[str, Any]:
    return {
        "end_reason_id": outcome.reason_id,
        "closed": outcome.closed,
        "followup_queue": outcome.followup_queue,
        "end_description": outcome.description,
    }
