"""The two stores the composition root builds, assembled from one module per aggregate.

:class:`SqlStore` is :class:`campaigns.ports.Store` (campaigns, contacts and their claims,
attempts, callback delivery, do-not-call); :class:`SqlAgentStore` is
:class:`campaigns.ports.AgentStore` (users, the wrap-up catalogue, interactions, booked
callbacks, cases). SQLite through aiosqlite, PostgreSQL through asyncpg. Persistence
translates, nothing more: rows in, domain values out. Neither owns its engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine

from campaigns.storage.attempts import AttemptRows
from campaigns.storage.callbacks import CallbackBooking, CallbackDelivery
from campaigns.storage.campaigns import CampaignRows
from campaigns.storage.cases import CaseRows
from campaigns.storage.catalogue import CatalogueRows
from campaigns.storage.contacts import ContactRows, claim_statement
from campaigns.storage.dnc import DncRows
from campaigns.storage.engine import make_engine
from campaigns.storage.followups import FollowupRows
from campaigns.storage.history import HistoryRows
from campaigns.storage.interactions import InteractionRows
from campaigns.storage.users import UserRows


class SqlStore(CampaignRows, ContactRows, AttemptRows, CallbackDelivery, DncRows, HistoryRows):
    """The campaign store over SQLAlchemy (and :class:`campaigns.ports.forecast.HistoryStore`).
    It does not own ``engine``."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self._claim = claim_statement(self._postgres)
        self._claim_sql = None
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


class SqlAgentStore(
    UserRows, CatalogueRows, InteractionRows, CallbackBooking, CaseRows, FollowupRows
):
    """The agent-side store over SQLAlchemy, on the engine the campaign store uses (and
    does not own)."""
