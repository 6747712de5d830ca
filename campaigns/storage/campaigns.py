"""Campaigns: their settings, their state, and telling watchers when they change."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.errors import Conflict, NotFound
from campaigns.model import CampaignState, ContactState, Outcome
from campaigns.ports import CampaignStats
from campaigns.spec import Campaign, CampaignSpec
from campaigns.storage import mappers
from campaigns.storage import tables as t
from campaigns.storage.base import SqlBase
from campaigns.storage.fast.prepared import Prepared, read
from campaigns.storage.fast.sqlite_driver import long_running

T = TypeVar("T")
# Reads of every agent request (see campaigns.storage.fast.prepared).
_GET_CAMPAIGN = Prepared(sa.select(t.campaigns).where(t.campaigns.c.id == sa.bindparam("b_id")))
_CAMPAIGNS_CHANNEL = "ringback_campaigns"


class CampaignRows(SqlBase):
    _campaigns_changed: asyncio.Event

    async def _campaign_tx(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """A campaign write: other processes hear of it at commit (PostgreSQL NOTIFY),
        this one's watchers at once."""

        async def notifying(conn: AsyncConnection) -> T:
            result = await work(conn)
            if self._postgres:
                # One channel per schema: deployments sharing a database in schemas of
                # their own do not wake each other.
                channel = _CAMPAIGNS_CHANNEL + "_" + sa.func.current_schema()
                await conn.execute(sa.select(sa.func.pg_notify(channel, "")))
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

                # On the driver's connection: an SQLAlchemy statement would open a
                # transaction, and a LISTEN inside one only starts at its commit.
                schema = await raw.fetchval("SELECT current_schema()")
                channel = f"{_CAMPAIGNS_CHANNEL}_{schema}"
                await raw.add_listener(channel, heard)
                try:
                    while True:
                        await changed.wait()
                        changed.clear()
                        yield
                finally:
                    await raw.remove_listener(channel, heard)
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
                return mappers.campaign(row), False
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
        return mappers.campaign(row)

    async def list_campaigns(self) -> list[Campaign]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(sa.select(t.campaigns).order_by(t.campaigns.c.id))
            return [mappers.campaign(row) for row in rows]

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
                return mappers.campaign(row)
            if not current.may_become(state):
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
            return mappers.campaign(row)

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

    @long_running
    async def connected_calls(
        self, campaign_id: int, since: datetime
    ) -> list[tuple[datetime, Outcome]]:
        a = t.attempts.c
        connected = (Outcome.ANSWERED.value, Outcome.ABANDONED.value)
        query = (
            sa.select(a.ended_at, a.outcome)
            .where(a.campaign_id == campaign_id, a.ended_at >= since, a.outcome.in_(connected))
            .order_by(a.ended_at)
        )
        return [(row.ended_at, Outcome(row.outcome)) for row in await self._rows(query)]


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
    return mappers.campaign(row)


def _campaign_ref(ref: int | str) -> sa.ColumnElement[bool]:
    if isinstance(ref, int) or ref.isdigit():
        return t.campaigns.c.id == int(ref)
    return t.campaigns.c.name == ref
