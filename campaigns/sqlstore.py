"""The SQL store (SQLAlchemy Core, async): SQLite through aiosqlite, PostgreSQL through asyncpg.

Persistence translates, nothing more: rows in, domain values out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
import structlog
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from campaigns import bulk
from campaigns import tables as t
from campaigns.importer import ContactRow
from campaigns.model import Attempt, CampaignState, Contact, ContactState, Outcome
from campaigns.retry import Decision
from campaigns.spec import Campaign, CampaignSpec
from campaigns.sqlbase import callback_row, make_engine, retrying, transaction
from campaigns.sqlite_driver import long_running
from campaigns.sqlite_fast import Prepared, read
from campaigns.store import (
    AddResult,
    CampaignStats,
    Conflict,
    NotFound,
)
from campaigns.wrapup import Callback, CallbackState

log = structlog.get_logger()

_URGENT = "contacts.due_at IS NOT NULL AND contacts.priority > 0"
_ORDINARY = "contacts.due_at IS NOT NULL AND contacts.priority = 0"
T = TypeVar("T")
_ASYNCPG_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)
# What a claim returns: the rest of a claimed contact is known (dialing, not queued).
_CLAIMED = (
    "id",
    "campaign_id",
    "phone",
    "timezone",
    "priority",
    "attempts",
    "dials",
    "attributes",
    "last_outcome",
)
# Reads of every agent request (see campaigns.sqlite_fast).
_GET_CONTACT = Prepared(sa.select(t.contacts).where(t.contacts.c.id == sa.bindparam("b_id")))
_GET_CAMPAIGN = Prepared(sa.select(t.campaigns).where(t.campaigns.c.id == sa.bindparam("b_id")))

_CAMPAIGNS_CHANNEL = "ringback_campaigns"
_ALLOWED_MOVES: dict[CampaignState, frozenset[CampaignState]] = {
    CampaignState.DRAFT: frozenset({CampaignState.RUNNING, CampaignState.FINISHED}),
    CampaignState.RUNNING: frozenset({CampaignState.PAUSED, CampaignState.FINISHED}),
    CampaignState.PAUSED: frozenset({CampaignState.RUNNING, CampaignState.FINISHED}),
    CampaignState.FINISHED: frozenset(),
}


class SqlStore:
    """The :class:`campaigns.store.Store` over SQLAlchemy. It does not own ``engine``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._claim = _claim_statement(self._postgres)
        self._claim_sql: tuple[str, tuple[str, ...], dict[str, Any]] | None = None
        self._campaigns_changed = asyncio.Event()

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    async def dispose(self) -> None:
        """Close the engine's connections (for the owner of the engine)."""
        await self._engine.dispose()

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str) -> AsyncIterator[SqlStore]:
        """A store with an engine of its own, disposed on exit."""
        engine = make_engine(url)
        try:
            yield cls(engine)
        finally:
            await engine.dispose()

    async def _tx(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        return await transaction(self._engine, work)

    # Campaigns

    async def _campaign_tx(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """A campaign write: other processes hear of it at commit (PostgreSQL NOTIFY),
        this one's watchers at once."""

        async def notifying(conn: AsyncConnection) -> T:
            result = await work(conn)
            if self._postgres:
                await conn.execute(sa.select(sa.func.pg_notify(_CAMPAIGNS_CHANNEL, "")))
            return result

        result = await self._tx(notifying)
        self._campaigns_changed.set()
        return result

    async def watch_campaigns(self, poll_seconds: float = 1.0) -> AsyncGenerator[None]:
        """Yield whenever campaigns may have changed: at once for this process's writes
        and, on PostgreSQL, another's (LISTEN); on SQLite another process's commit is seen
        within ``poll_seconds`` (``PRAGMA data_version``: SQLite has no notifications)."""
        changed = self._campaigns_changed
        if self._postgres:
            async with self._engine.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                assert raw is not None

                def heard(*_: object) -> None:
                    changed.set()

                await raw.add_listener(_CAMPAIGNS_CHANNEL, heard)
                try:
                    while True:
                        await changed.wait()
                        changed.clear()
                        yield
                finally:
                    await raw.remove_listener(_CAMPAIGNS_CHANNEL, heard)
        version = await self._data_version()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll_seconds):
                    await changed.wait()
            seen = await self._data_version()
            if changed.is_set() or seen != version:
                version = seen
                changed.clear()
                yield

    async def _data_version(self) -> int:
        """SQLite's count of commits by other connections, as this (pooled) one sees it."""
        async with self._engine.connect() as conn:
            return int((await conn.exec_driver_sql("PRAGMA data_version")).scalar_one())

    async def create_campaign(self, spec: CampaignSpec, now: datetime) -> Campaign:
        try:
            return await self._campaign_tx(lambda conn: _insert_campaign(conn, spec, now))
        except IntegrityError:
            raise Conflict(f"a campaign named {spec.name!r} exists already") from None

    async def apply_campaign(self, spec: CampaignSpec, now: datetime) -> tuple[Campaign, bool]:
        async def work(conn: AsyncConnection) -> tuple[Campaign, bool]:
            row = (
                await conn.execute(
                    sa.update(t.campaigns)
                    .where(t.campaigns.c.name == spec.name)
                    .values(spec=spec.model_dump(mode="json"), updated_at=now)
                    .returning(*t.campaigns.c)
                )
            ).one_or_none()
            if row is not None:
                return _campaign(row), False
            return await _insert_campaign(conn, spec, now), True

        return await self._campaign_tx(work)

    async def get_campaign(self, ref: int | str) -> Campaign:
        if isinstance(ref, int):
            rows = await read(self._engine, _GET_CAMPAIGN, {"b_id": ref})
            row = rows[0] if rows else None
        else:
            async with self._engine.connect() as conn:
                query = sa.select(t.campaigns).where(_campaign_ref(ref))
                row = (await conn.execute(query)).one_or_none()
        if row is None:
            raise NotFound(f"no campaign {ref!r}")
        return _campaign(row)

    async def list_campaigns(self) -> list[Campaign]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(sa.select(t.campaigns).order_by(t.campaigns.c.id))
            return [_campaign(row) for row in rows]

    async def set_campaign_state(
        self, ref: int | str, state: CampaignState, now: datetime
    ) -> Campaign:
        async def work(conn: AsyncConnection) -> Campaign:
            query = sa.select(t.campaigns).where(_campaign_ref(ref))
            if self._postgres:
                query = query.with_for_update()
            row = (await conn.execute(query)).one_or_none()
            if row is None:
                raise NotFound(f"no campaign {ref!r}")
            current = CampaignState(row.state)
            if current is state:
                return _campaign(row)
            if state not in _ALLOWED_MOVES[current]:
                raise Conflict(
                    f"campaign {row.name!r} is {current.value}; cannot become {state.value}"
                )
            row = (
                await conn.execute(
                    sa.update(t.campaigns)
                    .where(t.campaigns.c.id == row.id)
                    .values(state=state.value, updated_at=now)
                    .returning(*t.campaigns.c)
                )
            ).one()
            return _campaign(row)

        return await self._campaign_tx(work)

    @long_running
    async def campaign_stats(self, campaign_id: int) -> CampaignStats:
        c, a = t.contacts.c, t.attempts.c
        async with self._engine.connect() as conn:
            states = await conn.execute(
                sa.select(c.state, sa.func.count())
                .where(c.campaign_id == campaign_id)
                .group_by(c.state)
            )
            outcomes = await conn.execute(
                sa.select(a.outcome, sa.func.count())
                .where(a.campaign_id == campaign_id)
                .group_by(a.outcome)
            )
            by_state = {ContactState(s): n for s, n in states}
            by_outcome: dict[Outcome, int] = {}
            open_count = 0
            for outcome, n in outcomes:
                if outcome is None:
                    open_count = n
                else:
                    by_outcome[Outcome(outcome)] = n
        return CampaignStats(by_state, by_outcome, open_count)

    # Contacts

    @long_running
    async def add_contacts(
        self, campaign_id: int, rows: Sequence[ContactRow], now: datetime
    ) -> AddResult:
        if not rows:
            return AddResult()
        return await self._tx(lambda conn: bulk.add_contacts(conn, campaign_id, rows, now))

    async def get_contact(self, contact_id: int) -> Contact:
        rows = await read(self._engine, _GET_CONTACT, {"b_id": contact_id})
        if not rows:
            raise NotFound(f"no contact {contact_id}")
        return _contact(rows[0]._mapping)

    async def claim_due(
        self, campaign_id: int, limit: int, now: datetime, owner: str, lease_until: datetime
    ) -> list[Contact]:
        values = {
            "b_campaign_id": campaign_id,
            "b_n": limit,
            "b_now": now,
            "b_owner": owner,
            "b_lease_until": lease_until,
            "b_dialing": ContactState.DIALING.value,
            "b_running": CampaignState.RUNNING.value,
        }
        if self._postgres:
            claimed = await self._claim_postgres(values)
        else:

            async def work(conn: AsyncConnection) -> list[Contact]:
                return [_claimed(row) for row in await conn.execute(self._claim, values)]

            claimed = await self._tx(work)
        # RETURNING keeps no order; hand them out in queue order.
        claimed.sort(key=lambda k: (-k.priority, k.id))
        return claimed

    async def _claim_postgres(self, values: dict[str, Any]) -> list[Contact]:
        """The claim on the asyncpg connection itself: the hottest statement of the dialer,
        and SQLAlchemy's execution and row processing cost more than PostgreSQL's work.

        One statement, one round trip: asyncpg opens no transaction, so the statement is its
        own, committed when it completes.
        """
        if self._claim_sql is None:
            compiled = self._claim.compile(dialect=self._engine.dialect)
            assert compiled.positiontup is not None
            names = tuple(name for name in compiled.positiontup if name != "b_n")
            # Values fixed in the statement (due_at = NULL) come with it as defaults.
            self._claim_sql = compiled.string, names, compiled.params
        template, names, fixed = self._claim_sql
        # The limit is written into the SQL: with a parameter there the planner cannot tell
        # 50 rows from 10 % of the queue, so PostgreSQL planned every execution anew (the
        # generic plan looked dearer) instead of reusing the prepared statement's plan.
        sql = template.replace("__[POSTCOMPILE_b_n]", str(int(values["b_n"])))
        args = [values[name] if name in values else fixed[name] for name in names]

        async def once() -> list[Contact]:
            # Straight from the pool: no SQLAlchemy connection or transaction to set up.
            pooled = await self._engine.raw_connection()
            try:
                raw = pooled.driver_connection
                assert raw is not None
                try:
                    # fetch() keeps the prepared statement in asyncpg's per-connection cache.
                    records = await raw.fetch(sql, *args)
                except _ASYNCPG_ERRORS as exc:
                    # Wrapped as SQLAlchemy would: retrying() tries again what is transient,
                    # and a connection the server dropped leaves the pool.
                    lost = raw.is_closed()
                    if lost:
                        pooled.invalidate()
                    raise DBAPIError(sql, args, exc, connection_invalidated=lost) from exc
            finally:
                pooled.close()
            return [_claimed(record) for record in records]

        return await retrying(once)

    async def next_due_at(self, campaign_id: int) -> datetime | None:
        c = t.contacts.c
        async with self._engine.connect() as conn:
            found = [
                await conn.scalar(
                    sa.select(sa.func.min(c.due_at)).where(
                        c.campaign_id == campaign_id, sa.text(queue)
                    )
                )
                for queue in (_URGENT, _ORDINARY)
            ]
        due = [when for when in found if when is not None]
        # min() over a text-typed predicate query comes back raw on SQLite.
        return min(_utc(when) for when in due) if due else None

    async def defer(self, contact_id: int, due_at: datetime, owner: str) -> bool:
        c = t.contacts.c

        async def work(conn: AsyncConnection) -> bool:
            result = await conn.execute(
                sa.update(t.contacts)
                .where(
                    c.id == contact_id,
                    c.state == ContactState.DIALING.value,
                    c.lease_owner == owner,
                )
                .values(
                    state=_requeued_state(),
                    due_at=due_at,
                    lease_owner=None,
                    lease_expires_at=None,
                    attempt_id=None,
                    updated_at=due_at,
                )
            )
            return result.rowcount == 1

        return await self._tx(work)

    async def release_expired_leases(self, now: datetime) -> list[int]:
        ids = await self._release(now, t.contacts.c.lease_expires_at < now)
        if ids:
            log.warning("leases_expired", contacts=len(ids))
        return ids

    async def release_owned(self, owner: str, now: datetime) -> list[int]:
        return await self._release(now, t.contacts.c.lease_owner == owner)

    async def _release(self, now: datetime, which: sa.ColumnElement[bool]) -> list[int]:
        c, a = t.contacts.c, t.attempts.c
        leased = sa.select(c.id).where(_dialing(self._postgres), which)
        if self._postgres:
            leased = leased.with_for_update(skip_locked=True)

        async def work(conn: AsyncConnection) -> list[int]:
            ids = list((await conn.execute(leased)).scalars())
            if not ids:
                return []
            closed = await conn.execute(
                sa.update(t.attempts)
                .where(a.contact_id.in_(ids), a.ended_at.is_(None))
                .values(ended_at=now, outcome=Outcome.FAILED_SYSTEM.value, counted=False)
                .returning(a.contact_id)
            )
            dialled: dict[int, int] = {}
            for (contact_id,) in closed:
                dialled[contact_id] = dialled.get(contact_id, 0) + 1
            # SET sees the old values: the state is derived from the new dial count.
            dials = c.dials + _case_count(dialled)
            await conn.execute(
                sa.update(t.contacts)
                .where(c.id.in_(ids))
                .values(
                    dials=dials,
                    state=_requeued_state(dials),
                    due_at=now,
                    lease_owner=None,
                    lease_expires_at=None,
                    attempt_id=None,
                    updated_at=now,
                )
            )
            # A callback being delivered goes back to its owner, not to the ordinary queue.
            await conn.execute(
                sa.update(t.contacts)
                .where(c.id.in_(ids), _has_due_callback())
                .values(state=ContactState.CALLBACK.value, due_at=None)
            )
            return ids

        return await self._tx(work)

    async def renew_leases(self, owner: str, until: datetime) -> int:
        c = t.contacts.c

        async def work(conn: AsyncConnection) -> int:
            renewed = await conn.execute(
                sa.update(t.contacts)
                .where(_dialing(self._postgres), c.lease_owner == owner)
                .values(lease_expires_at=until)
            )
            return renewed.rowcount

        return await self._tx(work)

    # Attempts

    async def start_attempt(
        self, contact: Contact, owner: str, now: datetime, lease_until: datetime
    ) -> Attempt:
        c = t.contacts.c

        async def work(conn: AsyncConnection) -> Attempt:
            renewed = await conn.execute(
                sa.update(t.contacts)
                .where(
                    c.id == contact.id,
                    c.state == ContactState.DIALING.value,
                    c.lease_owner == owner,
                )
                .values(lease_expires_at=lease_until, updated_at=now)
            )
            if renewed.rowcount != 1:
                raise Conflict(f"contact {contact.id} is not claimed by {owner}")
            attempt = await _insert_attempt(conn, contact, owner, now)
            await _hold(conn, contact.id, attempt.id)
            return attempt

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
                await _close_callback(
                    conn, detail["callback_id"], contact_id, attempt_id, outcome, now
                )
                if outcome is Outcome.FAILED_SYSTEM:
                    return True
            # Only the attempt holding the contact's claim settles it: a stale attempt (its
            # contact requeued and claimed again meanwhile) never releases a newer claim.
            # A contact put on the do-not-call list during the call stays there.
            await conn.execute(
                sa.update(t.contacts)
                .where(*_held_by(contact_id, attempt_id))
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
            return [_attempt(row) for row in rows]

    # Callback delivery

    async def next_callback_at(self) -> datetime | None:
        cb = t.callbacks.c
        async with self._engine.connect() as conn:
            when = await conn.scalar(
                sa.select(sa.func.min(cb.due_at)).where(cb.state == CallbackState.BOOKED.value)
            )
        return _utc(when) if when is not None else None

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
                            reserved_until=due_at + timedelta(minutes=minutes),
                            updated_at=now,
                        )
                        .returning(*t.callbacks.c)
                    )
                ).one()
                taken.append(callback_row(row))
            return taken

        return await self._tx(work)

    async def open_due_callbacks(self) -> list[Callback]:
        cb = t.callbacks.c
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(t.callbacks)
                .where(cb.state == CallbackState.DUE.value)
                .order_by(cb.due_at, cb.id)
            )
            return [callback_row(row) for row in rows]

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
            contact = _contact(row._mapping)
            detail = {"callback_id": callback.id}
            attempt = await _insert_attempt(conn, contact, owner, now, agent_id, detail)
            await _hold(conn, contact.id, attempt.id)
            return contact, attempt

        return await self._tx(work)

    # Do-not-call

    @long_running
    async def dnc_add(self, phones: Sequence[str], reason: str, now: datetime) -> int:
        return await self._tx(lambda conn: bulk.add_dnc(conn, phones, reason, now))

    async def dnc_remove(self, phones: Sequence[str]) -> int:
        async def work(conn: AsyncConnection) -> int:
            result = await conn.execute(
                sa.delete(t.dnc).where(t.dnc.c.phone.in_(list(set(phones))))
            )
            return result.rowcount

        return await self._tx(work)

    async def dnc_contains(self, phone: str) -> bool:
        async with self._engine.connect() as conn:
            found = await conn.execute(sa.select(t.dnc.c.phone).where(t.dnc.c.phone == phone))
            return found.first() is not None


async def _insert_attempt(
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
            .values(
                contact_id=contact.id,
                campaign_id=contact.campaign_id,
                phone=contact.phone,
                owner=owner,
                started_at=now,
                counted=False,
                agent_id=agent_id,
                detail=detail or {},
            )
            .returning(*t.attempts.c)
        )
    ).one()
    return _attempt(row)


def _claim_statement(postgres: bool) -> sa.Update:
    """The claim, built once; each call binds the ``b_*`` parameters.

    The urgent queue (abandoned calls, few) comes before the ordinary one, in one statement.
    Each queue predicate repeats a partial index's (see tables.py), so each is one range
    scan reading at most ``n`` rows; a single ORDER BY priority, due_at over the whole
    queue would sort every due contact.
    """
    c = t.contacts.c
    running = sa.exists().where(
        t.campaigns.c.id == sa.bindparam("b_campaign_id"),
        t.campaigns.c.state == sa.bindparam("b_running"),
    )
    n = sa.bindparam("b_n", type_=sa.Integer, literal_execute=postgres)

    def queue(predicate: str) -> sa.Subquery:
        picked = (
            sa.select(c.id, c.priority, c.due_at)
            .where(
                c.campaign_id == sa.bindparam("b_campaign_id"),
                sa.text(predicate),
                c.due_at <= sa.bindparam("b_now"),
                running,
            )
            .order_by(c.priority.desc(), c.due_at, c.id)
            .limit(n)
        )
        if postgres:
            picked = picked.with_for_update(skip_locked=True)
        return picked.subquery()

    urgent, ordinary = queue(_URGENT), queue(_ORDINARY)
    both = sa.union_all(
        sa.select(urgent.c.id, urgent.c.priority, urgent.c.due_at),
        sa.select(ordinary.c.id, ordinary.c.priority, ordinary.c.due_at),
    ).subquery()
    chosen = sa.select(both.c.id).order_by(both.c.priority.desc(), both.c.due_at, both.c.id)
    picked = chosen.limit(n).scalar_subquery()
    if postgres:
        # = ANY(ARRAY(...)): the planner expects a handful of ids and looks each up by key.
        # With IN (...) a plan for a small table joined by reading the whole table.
        claim = sa.update(t.contacts).where(c.id == sa.any_(sa.func.array(picked)))
    else:
        claim = sa.update(t.contacts).where(c.id.in_(picked))
    if postgres:
        # Losing a claim in a crash loses nothing: the contacts were not dialled yet, and
        # the attempt written before any call commits durably, flushing this too. So the
        # claim's commit does not wait for the WAL flush. set_config(..., true) lasts to
        # the end of the statement's own transaction and is read at its commit, which
        # saves the round trips of BEGIN; SET LOCAL ...; COMMIT. An uncorrelated scalar
        # subquery runs once.
        claim = claim.where(
            sa.text("(SELECT set_config('synchronous_commit', 'off', true)) = 'off'")
        )
    return claim.values(
        state=sa.bindparam("b_dialing"),
        due_at=None,
        lease_owner=sa.bindparam("b_owner"),
        lease_expires_at=sa.bindparam("b_lease_until"),
        attempt_id=None,
        updated_at=sa.bindparam("b_now"),
    ).returning(*(c[name] for name in _CLAIMED))


async def _insert_campaign(conn: AsyncConnection, spec: CampaignSpec, now: datetime) -> Campaign:
    row = (
        await conn.execute(
            sa.insert(t.campaigns)
            .values(
                name=spec.name,
                state=CampaignState.DRAFT.value,
                spec=spec.model_dump(mode="json"),
                created_at=now,
                updated_at=now,
            )
            .returning(*t.campaigns.c)
        )
    ).one()
    return _campaign(row)


async def _hold(conn: AsyncConnection, contact_id: int, attempt_id: int) -> None:
    """Record ``attempt_id`` as the attempt holding the contact's claim."""
    await conn.execute(
        sa.update(t.contacts).where(t.contacts.c.id == contact_id).values(attempt_id=attempt_id)
    )


def _held_by(contact_id: int, attempt_id: int) -> tuple[sa.ColumnElement[bool], ...]:
    """The contact, if it is being dialled and its claim is ``attempt_id``'s."""
    c = t.contacts.c
    return (
        c.id == contact_id,
        c.state == ContactState.DIALING.value,
        c.attempt_id == attempt_id,
    )


def _campaign_ref(ref: int | str) -> sa.ColumnElement[bool]:
    if isinstance(ref, int) or ref.isdigit():
        return t.campaigns.c.id == int(ref)
    return t.campaigns.c.name == ref


async def _close_callback(
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
            .where(*_held_by(contact_id, attempt_id))
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


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _dialing(postgres: bool) -> sa.ColumnElement[bool]:
    """Contacts out being dialled, found campaign by campaign in ix_contacts_campaign_state.

    The leases have no index of their own: every claim would maintain it for each contact
    it takes (and on PostgreSQL each lease renewal would be a non-HOT update).
    """
    c = t.contacts.c
    dialing: sa.ColumnElement[bool] | sa.TextClause = c.state == ContactState.DIALING.value
    if not postgres:
        # SQLite's statistics say only that a state holds a fair share of its campaign, so
        # it would read the whole table; told that few are dialing, it searches the index.
        dialing = sa.text(f"likelihood(contacts.state = '{ContactState.DIALING.value}', 0.001)")
    return sa.and_(c.campaign_id.in_(sa.select(t.campaigns.c.id)), dialing)


def _has_due_callback() -> sa.ColumnElement[bool]:
    cb = t.callbacks.c
    return sa.exists().where(cb.contact_id == t.contacts.c.id, cb.state == CallbackState.DUE.value)


def _requeued_state(dials: sa.ColumnElement[int] = t.contacts.c.dials) -> sa.ColumnElement[str]:
    """``pending`` if the contact was never dialled, else ``retry``."""
    return sa.case((dials == 0, ContactState.PENDING.value), else_=ContactState.RETRY.value)


def _case_count(counts: dict[int, int]) -> sa.ColumnElement[int]:
    if not counts:
        return sa.literal(0)
    return sa.case(
        *((t.contacts.c.id == contact_id, n) for contact_id, n in counts.items()), else_=0
    )


def _campaign(row: sa.Row[Any]) -> Campaign:
    return Campaign(
        id=row.id,
        state=CampaignState(row.state),
        spec=CampaignSpec.model_validate(row.spec),
        created_at=row.created_at,
    )


def _claimed(row: Sequence[Any]) -> Contact:
    """A contact the claim just took (the ``_CLAIMED`` columns): dialing, out of the queue."""
    id_, campaign_id, phone, timezone, priority, attempts, dials, attributes, last = row
    return Contact(
        id=id_,
        campaign_id=campaign_id,
        phone=phone,
        timezone=timezone,
        state=ContactState.DIALING,
        due_at=None,
        priority=priority,
        attempts=attempts,
        dials=dials,
        attributes=dict(attributes),
        last_outcome=Outcome(last) if last else None,
    )


def _contact(row: Mapping[Any, Any]) -> Contact:
    """A contact from a whole row of the contacts table (``Row._mapping``)."""
    return Contact(
        id=row["id"],
        campaign_id=row["campaign_id"],
        phone=row["phone"],
        timezone=row["timezone"],
        state=ContactState(row["state"]),
        due_at=row["due_at"],
        priority=row["priority"],
        attempts=row["attempts"],
        dials=row["dials"],
        attributes=dict(row["attributes"]),
        last_outcome=Outcome(row["last_outcome"]) if row["last_outcome"] else None,
    )


def _attempt(row: sa.Row[Any]) -> Attempt:
    return Attempt(
        id=row.id,
        contact_id=row.contact_id,
        campaign_id=row.campaign_id,
        phone=row.phone,
        started_at=row.started_at,
        ended_at=row.ended_at,
        outcome=Outcome(row.outcome) if row.outcome else None,
        counted=row.counted,
        detail=dict(row.detail),
    )
