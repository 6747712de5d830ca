"""Contacts: adding them, and the queue: claims with a lease, deferrals, releases."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.callbacks import CallbackState
from campaigns.errors import NotFound
from campaigns.model import CampaignState, Contact, ContactRow, ContactState, Outcome
from campaigns.ports import AddResult
from campaigns.storage import mappers
from campaigns.storage import tables as t
from campaigns.storage.base import SqlBase
from campaigns.storage.fast import bulk
from campaigns.storage.fast.pg_claim import ClaimSql, claim_on_asyncpg
from campaigns.storage.fast.prepared import Prepared, read
from campaigns.storage.fast.sqlite_driver import long_running

log = structlog.get_logger()

_URGENT = "contacts.due_at IS NOT NULL AND contacts.priority > 0"
_ORDINARY = "contacts.due_at IS NOT NULL AND contacts.priority = 0"
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
# Reads of every agent request (see campaigns.storage.fast.prepared).
_GET_CONTACT = Prepared(sa.select(t.contacts).where(t.contacts.c.id == sa.bindparam("b_id")))


class ContactRows(SqlBase):
    _claim: sa.Update
    _claim_sql: ClaimSql | None

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
        return mappers.contact(rows[0]._mapping)

    async def get_contacts(self, contact_ids: Collection[int]) -> dict[int, Contact]:
        if not contact_ids:
            return {}
        query = sa.select(t.contacts).where(t.contacts.c.id.in_(set(contact_ids)))
        return {row.id: mappers.contact(row._mapping) for row in await self._rows(query)}

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
            # The dialer's hottest statement: straight on asyncpg (see fast.pg_claim).
            if self._claim_sql is None:
                self._claim_sql = ClaimSql.of(self._claim, self._engine.dialect)
            claimed = [
                mappers.claimed(record)
                for record in await claim_on_asyncpg(self._engine, self._claim_sql, values)
            ]
        else:

            async def work(conn: AsyncConnection) -> list[Contact]:
                return [mappers.claimed(row) for row in await conn.execute(self._claim, values)]

            claimed = await self._tx(work)
        # RETURNING keeps no order; hand them out in queue order.
        claimed.sort(key=lambda k: (-k.priority, k.id))
        return claimed

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
        return min(mappers.utc(when) for when in due) if due else None

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


def claim_statement(postgres: bool) -> sa.Update:
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
