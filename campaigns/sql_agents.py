"""The agent-side SQL store: users, wrap-up catalogue, interactions, registrations, callbacks,
cases. SQLAlchemy Core, async, on the engine the campaign store uses (and does not own).

Persistence translates: rows in, domain values out. Rules live in the domain modules; what
must be all-or-nothing (a registration with its topics, contact change and callback; a case
with its log entry) is one transaction here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from campaigns import tables as t
from campaigns.agents import Clash, Invalid, Role, Unknown, User
from campaigns.cases import Case, CaseAction, CaseActionKind, CaseStatus, CaseType, Priority
from campaigns.model import ContactState
from campaigns.sqlbase import callback_row, transaction
from campaigns.sqlite_driver import long_running
from campaigns.sqlite_fast import Prepared, Writes, read, write
from campaigns.wrapup import (
    Callback,
    CallbackState,
    Category,
    ContactChange,
    Direction,
    EndReason,
    EndReasonOutcome,
    Feedback,
    Interaction,
    NewCallback,
    Registration,
    SeedReason,
    StatsQuery,
    Topic,
    TopicCount,
)

log = structlog.get_logger()
T = TypeVar("T")
_TRIES = 4
_UNTOUCHABLE = (ContactState.DNC.value, ContactState.INVALID.value)

# The statements of an agent's every call, built once: SQLAlchemy builds and keys a new
# statement object on each use otherwise, which cost more than SQLite's work on them.
_i, _r, _rt, _cb = t.interactions.c, t.registrations.c, t.registration_topics.c, t.callbacks.c
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


def _inserting(table: sa.Table, given: tuple[str, ...]) -> Prepared:
    """An INSERT of the ``given`` columns (parameters ``b_<column>``), returning the row."""
    values: dict[str, Any] = {name: sa.bindparam(f"b_{name}") for name in given}
    return Prepared(sa.insert(table).values(values).returning(*table.c))


_GET_INTERACTION = Prepared(sa.select(t.interactions).where(_i.id == sa.bindparam("b_id")))
_CREATE_INTERACTION = _inserting(t.interactions, _INTERACTION_GIVEN)
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
_CATALOGUE = Prepared(
    sa.select(t.wrapup_categories, *[col.label(f"topic_{col.name}") for col in t.wrapup_topics.c])
    .outerjoin(t.wrapup_topics, t.wrapup_topics.c.category_id == t.wrapup_categories.c.id)
    .order_by(t.wrapup_categories.c.id, t.wrapup_topics.c.id)
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
_INSERT_REGISTRATION = _inserting(t.registrations, _REGISTRATION_GIVEN)
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
_INSERT_CALLBACK = _inserting(t.callbacks, _CALLBACK_GIVEN)
_SCHEDULED_CALLBACKS = Prepared(
    sa.select(t.callbacks)
    .where(_cb.owner_id == sa.bindparam("b_owner"), _cb.state == CallbackState.BOOKED.value)
    .order_by(_cb.due_at, _cb.id)
)


class SqlAgentStore:
    """Agent-side persistence over SQLAlchemy. It does not own ``engine``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    async def _tx(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        return await transaction(self._engine, work)

    async def _rows(
        self, query: sa.Executable | Prepared, params: dict[str, Any] | None = None
    ) -> list[Any]:
        """Rows of ``query``; a prebuilt :class:`Prepared` on SQLite skips SQLAlchemy."""
        if isinstance(query, Prepared):
            return await read(self._engine, query, params)
        async with self._engine.connect() as conn:
            return list(await conn.execute(query, params))

    async def _one(
        self, query: sa.Executable | Prepared, missing: str, params: dict[str, Any] | None = None
    ) -> Any:
        rows = await self._rows(query, params)
        if not rows:
            raise Unknown(missing)
        return rows[0]

    # Users

    async def create_user(
        self,
        username: str,
        role: Role,
        name: str,
        extension: str | None,
        token_hash: str,
        now: datetime,
    ) -> User:
        async def work(conn: AsyncConnection) -> User:
            row = (
                await conn.execute(
                    sa.insert(t.agents)
                    .values(
                        username=username,
                        role=role.value,
                        name=name,
                        extension=extension,
                        token_hash=token_hash,
                        created_at=now,
                    )
                    .returning(*t.agents.c)
                )
            ).one()
            return _user(row)

        try:
            return await self._tx(work)
        except IntegrityError:
            raise Clash(
                f"username: {username!r} is taken", code="user.exists", field="username"
            ) from None

    async def user_by_token_hash(self, token_hash: str) -> tuple[User, str] | None:
        rows = await self._rows(sa.select(t.agents).where(t.agents.c.token_hash == token_hash))
        return (_user(rows[0]), rows[0].token_hash) if rows else None

    async def get_user(self, user_id: int) -> User:
        return _user(
            await self._one(
                sa.select(t.agents).where(t.agents.c.id == user_id), f"no user {user_id}"
            )
        )

    async def list_users(self) -> list[User]:
        return [_user(r) for r in await self._rows(sa.select(t.agents).order_by(t.agents.c.id))]

    async def set_token_hash(self, user_id: int, token_hash: str) -> None:
        async def work(conn: AsyncConnection) -> int:
            result = await conn.execute(
                sa.update(t.agents).where(t.agents.c.id == user_id).values(token_hash=token_hash)
            )
            return result.rowcount

        if await self._tx(work) != 1:
            raise Unknown(f"no user {user_id}")

    # Wrap-up catalogue

    async def create_category(
        self, name: str, multi_choice: bool, campaign_id: int | None
    ) -> Category:
        async def work(conn: AsyncConnection) -> Category:
            row = (
                await conn.execute(
                    sa.insert(t.wrapup_categories)
                    .values(
                        name=name, multi_choice=multi_choice, campaign_id=campaign_id, active=True
                    )
                    .returning(*t.wrapup_categories.c)
                )
            ).one()
            return _category(row)

        try:
            return await self._tx(work)
        except IntegrityError:
            raise Unknown(f"campaign_id: no campaign {campaign_id}", field="campaign_id") from None

    async def set_category_active(self, category_id: int, active: bool) -> Category:
        async def work(conn: AsyncConnection) -> Category:
            row = (
                await conn.execute(
                    sa.update(t.wrapup_categories)
                    .where(t.wrapup_categories.c.id == category_id)
                    .values(active=active)
                    .returning(*t.wrapup_categories.c)
                )
            ).one_or_none()
            if row is None:
                raise Unknown(f"no category {category_id}")
            return _category(row)

        return await self._tx(work)

    async def create_topic(self, category_id: int, name: str, script: str) -> Topic:
        async def work(conn: AsyncConnection) -> Topic:
            row = (
                await conn.execute(
                    sa.insert(t.wrapup_topics)
                    .values(category_id=category_id, name=name, script=script, active=True)
                    .returning(*t.wrapup_topics.c)
                )
            ).one()
            return _topic(row)

        if not await self._rows(
            sa.select(t.wrapup_categories.c.id).where(t.wrapup_categories.c.id == category_id)
        ):
            raise Unknown(f"no category {category_id}")
        try:
            return await self._tx(work)
        except IntegrityError:
            raise Clash(f"name: the category has a topic {name!r} already", field="name") from None

    async def catalogue(self) -> tuple[list[Category], list[Topic]]:
        """Every category and every topic, in one query (agents read it with each call)."""
        rows = await self._rows(_CATALOGUE)
        categories = list({r.id: _category(r) for r in rows}.values())
        topics = [
            Topic(r.topic_id, r.id, r.topic_name, r.topic_script, r.topic_active)
            for r in rows
            if r.topic_id is not None
        ]
        topics.sort(key=lambda topic: topic.id)
        return categories, topics

    async def topics_with_categories(
        self, topic_ids: Sequence[int]
    ) -> tuple[dict[int, Topic], dict[int, Category]]:
        """The topics of ``topic_ids`` that exist, and their categories."""
        if not topic_ids:
            return {}, {}
        # From the catalogue, a few hundred rows at most: one fast read (see catalogue),
        # where a query by the ids goes through SQLAlchemy.
        categories, topics = await self.catalogue()
        wanted = set(topic_ids)
        found = {topic.id: topic for topic in topics if topic.id in wanted}
        used = {topic.category_id for topic in found.values()}
        return found, {category.id: category for category in categories if category.id in used}

    # End reasons

    async def seed_end_reasons(self, reasons: Sequence[SeedReason]) -> int:
        """Add the reasons not present yet (by name); returns how many were added."""

        async def work(conn: AsyncConnection) -> int:
            known = set((await conn.execute(sa.select(t.end_reasons.c.name))).scalars())
            new = [
                {
                    "name": r.name,
                    "close_by_default": r.close_by_default,
                    "followup_queue": r.followup_queue,
                    "active": True,
                }
                for r in reasons
                if r.name not in known
            ]
            if new:
                await conn.execute(sa.insert(t.end_reasons), new)
            return len(new)

        return await self._tx(work)

    async def create_end_reason(
        self, name: str, close_by_default: bool, followup_queue: str
    ) -> EndReason:
        async def work(conn: AsyncConnection) -> EndReason:
            row = (
                await conn.execute(
                    sa.insert(t.end_reasons)
                    .values(
                        name=name,
                        close_by_default=close_by_default,
                        followup_queue=followup_queue,
                        active=True,
                    )
                    .returning(*t.end_reasons.c)
                )
            ).one()
            return _end_reason(row)

        try:
            return await self._tx(work)
        except IntegrityError:
            raise Clash(f"name: an end reason {name!r} exists", field="name") from None

    async def list_end_reasons(self) -> list[EndReason]:
        q = sa.select(t.end_reasons).order_by(t.end_reasons.c.id)
        return [_end_reason(r) for r in await self._rows(q)]

    async def get_end_reason(self, ref: int | str) -> EndReason:
        col = t.end_reasons.c.id if isinstance(ref, int) else t.end_reasons.c.name
        return _end_reason(
            await self._one(
                sa.select(t.end_reasons).where(col == ref), f"end_reason: no end reason {ref!r}"
            )
        )

    # Interactions

    async def create_interaction(
        self,
        agent_id: int,
        direction: Direction,
        phone: str,
        now: datetime,
        contact_id: int | None = None,
        campaign_id: int | None = None,
        attempt_id: int | None = None,
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
        }

        async def work(tx: Writes) -> Interaction:
            return _interaction((await tx.rows(_CREATE_INTERACTION, values))[0])

        return await write(self._engine, work)

    async def get_interaction(self, interaction_id: int) -> Interaction:
        return _interaction(
            await self._one(
                _GET_INTERACTION, f"no interaction {interaction_id}", {"b_id": interaction_id}
            )
        )

    async def list_interactions(self, agent_id: int, limit: int = 50) -> list[Interaction]:
        i = t.interactions.c
        q = sa.select(t.interactions).where(i.agent_id == agent_id).order_by(i.id.desc())
        return [_interaction(r) for r in await self._rows(q.limit(limit))]

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
        return [_interaction(r) for r in await self._rows(q.order_by(i.id))]

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
            return _interaction(rows[0]) if rows else None

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
                raise Clash(
                    f"interaction {interaction_id} is already wrapped up",
                    code="wrapup.already_registered",
                )
            return _interaction(row)

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
                raise Unknown(f"no interaction {interaction_id}")
            return _interaction(row)

        return await self._tx(work)

    async def due_wrapups(self, now: datetime, limit: int = 100) -> list[Interaction]:
        i = t.interactions.c
        q = (
            sa.select(t.interactions)
            .where(i.wrapped_up_at.is_(None), i.wrapup_deadline <= now)
            .order_by(i.wrapup_deadline)
            .limit(limit)
        )
        return [_interaction(r) for r in await self._rows(q)]

    async def next_wrapup_deadline(self) -> datetime | None:
        i = t.interactions.c
        async with self._engine.connect() as conn:
            value: datetime | None = (
                await conn.execute(
                    sa.select(sa.func.min(i.wrapup_deadline)).where(i.wrapped_up_at.is_(None))
                )
            ).scalar()
        # min() loses the column type on SQLite: give it back its zone.
        return t.UtcDateTime().process_result_value(value, self._engine.dialect)

    async def followups(self, queue: str | None, limit: int = 100) -> list[Interaction]:
        i = t.interactions.c
        q = sa.select(t.interactions).where(i.followup_queue.isnot(None))
        if queue is not None:
            q = q.where(i.followup_queue == queue)
        return [_interaction(r) for r in await self._rows(q.order_by(i.id).limit(limit))]

    # Registrations

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
                raise Clash(
                    f"interaction {interaction.id} is already wrapped up",
                    code="wrapup.already_registered",
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
                        raise Clash(
                            "feedback: the contact is being dialled, or was dialled again "
                            "since this call; register without dialer feedback",
                            code="wrapup.contact_busy",
                            field="feedback",
                        )
            booked = await _insert_callback(tx, callback, now) if callback else None
            return _registration(row, tuple(topic_ids)), booked

        return await write(self._engine, work)

    async def get_registration(self, interaction_id: int) -> Registration | None:
        rows = await self._rows(_GET_REGISTRATION, {"b_id": interaction_id})
        if not rows:
            return None
        topics = tuple(row.topic_id for row in rows if row.topic_id is not None)
        return _registration(rows[0], topics)

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
            .join(t.registration_topics, rt.registration_id == r.id)
            .join(t.wrapup_topics, tp.id == rt.topic_id)
            .join(t.wrapup_categories, cat.id == tp.category_id)
            .group_by(*keys)
            .order_by(cat.id, sa.func.count().desc(), tp.id)
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
                    campaign_id=m["campaign_id"] if query.by_campaign else None,
                    agent_id=m["agent_id"] if query.by_agent else None,
                )
            )
        return out

    # Callbacks

    async def get_callback(self, callback_id: int) -> Callback:
        return callback_row(
            await self._one(
                sa.select(t.callbacks).where(t.callbacks.c.id == callback_id),
                f"no callback {callback_id}",
            )
        )

    async def scheduled_callbacks(self, owner_id: int) -> list[Callback]:
        return [
            callback_row(r) for r in await self._rows(_SCHEDULED_CALLBACKS, {"b_owner": owner_id})
        ]

    async def due_callbacks(self, now: datetime, limit: int = 100) -> list[Callback]:
        cb = t.callbacks.c
        q = (
            sa.select(t.callbacks)
            .where(cb.state == CallbackState.BOOKED.value, cb.due_at <= now)
            .order_by(cb.due_at, cb.id)
            .limit(limit)
        )
        return [callback_row(r) for r in await self._rows(q)]

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
                        cb.state.in_([CallbackState.BOOKED.value, CallbackState.DUE.value]),
                    )
                    .values(state=CallbackState.BOOKED.value, **values)
                    .returning(*t.callbacks.c)
                )
            ).one_or_none()
            if row is None:
                raise Clash(f"callback {callback_id} is no longer open", code="callback.closed")
            await conn.execute(
                sa.update(t.contacts)
                .where(c.id == row.contact_id, c.state.notin_(_UNTOUCHABLE))
                .values(state=ContactState.CALLBACK.value, due_at=None, updated_at=now)
            )
            return callback_row(row)

        return await self._tx(work)

    async def cancel_callback(self, callback_id: int, now: datetime) -> Callback:
        """Cancel; the contact, answered when the callback was booked, becomes completed."""
        cb, c = t.callbacks.c, t.contacts.c

        async def work(conn: AsyncConnection) -> Callback:
            row = (
                await conn.execute(
                    sa.update(t.callbacks)
                    .where(
                        cb.id == callback_id,
                        cb.state.in_([CallbackState.BOOKED.value, CallbackState.DUE.value]),
                    )
                    .values(state=CallbackState.CANCELLED.value, updated_at=now)
                    .returning(*t.callbacks.c)
                )
            ).one_or_none()
            if row is None:
                raise Clash(f"callback {callback_id} is no longer open", code="callback.closed")
            others = sa.exists().where(
                cb.contact_id == row.contact_id,
                cb.id != row.id,
                cb.state.in_([CallbackState.BOOKED.value, CallbackState.DUE.value]),
            )
            await conn.execute(
                sa.update(t.contacts)
                .where(c.id == row.contact_id, c.state == ContactState.CALLBACK.value, ~others)
                .values(state=ContactState.COMPLETED.value, due_at=None, updated_at=now)
            )
            return callback_row(row)

        return await self._tx(work)

    # Cases

    async def create_case_type(
        self, name: str, department: str, mandatory_fields: Sequence[str]
    ) -> CaseType:
        async def work(conn: AsyncConnection) -> CaseType:
            row = (
                await conn.execute(
                    sa.insert(t.case_types)
                    .values(
                        name=name, department=department, mandatory_fields=list(mandatory_fields)
                    )
                    .returning(*t.case_types.c)
                )
            ).one()
            return _case_type(row)

        try:
            return await self._tx(work)
        except IntegrityError:
            raise Clash(f"name: a case type {name!r} exists", field="name") from None

    async def list_case_types(self) -> list[CaseType]:
        q = sa.select(t.case_types).order_by(t.case_types.c.id)
        return [_case_type(r) for r in await self._rows(q)]

    async def get_case_type(self, type_id: int) -> CaseType:
        return _case_type(
            await self._one(
                sa.select(t.case_types).where(t.case_types.c.id == type_id),
                f"type_id: no case type {type_id}",
            )
        )

    async def create_case(self, case: Case, actor: str) -> Case:
        async def work(conn: AsyncConnection) -> Case:
            row = (
                await conn.execute(
                    sa.insert(t.cases)
                    .values(**_case_values(case), created_at=case.created_at)
                    .returning(*t.cases.c)
                )
            ).one()
            created = _case(row)
            await _log_case(conn, created.id, actor, CaseActionKind.CREATED, {}, case.created_at)
            return created

        return await self._tx(work)

    async def get_case(self, case_id: int) -> Case:
        return _case(
            await self._one(sa.select(t.cases).where(t.cases.c.id == case_id), f"no case {case_id}")
        )

    async def list_cases(
        self,
        *,
        creator_id: int | None = None,
        department: str | None = None,
        status: CaseStatus | None = None,
        limit: int = 100,
    ) -> list[Case]:
        c = t.cases.c
        q = sa.select(t.cases).order_by(c.id.desc()).limit(limit)
        if creator_id is not None:
            q = q.where(c.creator_id == creator_id)
        if department is not None:
            q = q.where(c.department == department)
        if status is not None:
            q = q.where(c.status == status.value)
        return [_case(r) for r in await self._rows(q)]

    async def update_case(
        self,
        case: Case,
        *,
        expected: CaseStatus,
        actor: str,
        action: CaseActionKind,
        detail: dict[str, Any],
    ) -> Case:
        """Write ``case`` if its status is still ``expected``; log the action with it."""
        c = t.cases.c

        async def work(conn: AsyncConnection) -> Case:
            row = (
                await conn.execute(
                    sa.update(t.cases)
                    .where(c.id == case.id, c.status == expected.value)
                    .values(**_case_values(case))
                    .returning(*t.cases.c)
                )
            ).one_or_none()
            if row is None:
                raise Clash(f"case {case.id} changed meanwhile; reload it", code="case.changed")
            await _log_case(conn, case.id, actor, action, detail, case.updated_at)
            return _case(row)

        return await self._tx(work)

    async def case_actions(self, case_id: int) -> list[CaseAction]:
        a = t.case_actions.c
        q = sa.select(t.case_actions).where(a.case_id == case_id).order_by(a.id)
        return [
            CaseAction(r.id, r.case_id, r.actor, CaseActionKind(r.action), r.at, dict(r.detail))
            for r in await self._rows(q)
        ]


async def _insert_callback(tx: Writes, cb: NewCallback, now: datetime) -> Callback:
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
    return callback_row((await tx.rows(_INSERT_CALLBACK, values))[0])


async def _log_case(
    conn: AsyncConnection,
    case_id: int,
    actor: str,
    action: CaseActionKind,
    detail: dict[str, Any],
    at: datetime,
) -> None:
    await conn.execute(
        sa.insert(t.case_actions).values(
            case_id=case_id, actor=actor, action=action.value, detail=detail, at=at
        )
    )


def _end_reason_values(outcome: EndReasonOutcome) -> dict[str, Any]:
    return {
        "end_reason_id": outcome.reason_id,
        "closed": outcome.closed,
        "followup_queue": outcome.followup_queue,
        "end_description": outcome.description,
    }


def _case_values(case: Case) -> dict[str, Any]:
    return {
        "type_id": case.type_id,
        "subject": case.subject,
        "priority": case.priority.value,
        "status": case.status.value,
        "department": case.department,
        "creator_id": case.creator_id,
        "taken_by": case.taken_by,
        "interaction_id": case.interaction_id,
        "fields": case.fields,
        "comments": case.comments,
        "phone": case.phone,
        "updated_at": case.updated_at,
    }


def _user(row: sa.Row[Any]) -> User:
    return User(row.id, row.username, Role(row.role), row.name, row.extension)


def _category(row: sa.Row[Any]) -> Category:
    return Category(row.id, row.name, row.multi_choice, row.campaign_id, row.active)


def _topic(row: sa.Row[Any]) -> Topic:
    return Topic(row.id, row.category_id, row.name, row.script, row.active)


def _end_reason(row: sa.Row[Any]) -> EndReason:
    return EndReason(row.id, row.name, row.close_by_default, row.followup_queue, row.active)


def _interaction(row: sa.Row[Any]) -> Interaction:
    return Interaction(
        id=row.id,
        agent_id=row.agent_id,
        direction=Direction(row.direction),
        phone=row.phone,
        started_at=row.started_at,
        contact_id=row.contact_id,
        campaign_id=row.campaign_id,
        attempt_id=row.attempt_id,
        ended_at=row.ended_at,
        wrapped_up_at=row.wrapped_up_at,
        end_reason_id=row.end_reason_id,
        end_description=row.end_description,
        closed=row.closed,
        followup_queue=row.followup_queue,
        wrapup_deadline=row.wrapup_deadline,
        wrapup_extended=row.wrapup_extended,
        registration_required=row.registration_required,
    )


def _registration(row: sa.Row[Any], topic_ids: tuple[int, ...]) -> Registration:
    return Registration(
        id=row.id,
        interaction_id=row.interaction_id,
        agent_id=row.agent_id,
        campaign_id=row.campaign_id,
        comment=row.comment,
        feedback=Feedback(row.feedback) if row.feedback else None,
        automatic=row.automatic,
        created_at=row.created_at,
        topic_ids=topic_ids,
    )


def _case_type(row: sa.Row[Any]) -> CaseType:
    return CaseType(row.id, row.name, row.department, tuple(row.mandatory_fields))


def _case(row: sa.Row[Any]) -> Case:
    return Case(
        id=row.id,
        type_id=row.type_id,
        subject=row.subject,
        priority=Priority(row.priority),
        status=CaseStatus(row.status),
        department=row.department,
        creator_id=row.creator_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        comments=row.comments,
        phone=row.phone,
        interaction_id=row.interaction_id,
        taken_by=row.taken_by,
        fields=dict(row.fields),
    )
