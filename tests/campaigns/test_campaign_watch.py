"""Campaign changes reach a watching service at once, from this process or another."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaigns.model import CampaignState
from campaigns.spec import CampaignSpec
from campaigns.storage.engine import make_engine
from campaigns.storage.store import SqlStore
from dialer.testing import TEST_PG_URL
from tests.conftest import NOW


@pytest.fixture
async def other_process(engine: AsyncEngine, backend: str) -> AsyncIterator[SqlStore]:
    """A second store on the same database with its own engine, as another process has."""
    if backend == "sqlite":
        other = make_engine(str(engine.url))
    else:
        async with engine.connect() as conn:
            schema = await conn.scalar(sa.text("SELECT current_schema()"))
        other = make_engine(TEST_PG_URL, connect_args={"server_settings": {"search_path": schema}})
    yield SqlStore(other)
    await other.dispose()


async def test_a_campaign_started_elsewhere_is_heard_within_a_second(
    store: SqlStore, other_process: SqlStore
) -> None:
    """Another process starts a campaign: the watcher wakes (NOTIFY, or data_version)."""
    cid = (await store.create_campaign(CampaignSpec(name="c"), NOW)).id
    woke = asyncio.Event()

    async def watch() -> None:
        async with contextlib.aclosing(store.watch_campaigns(poll_seconds=0.2)) as changes:
            async for _ in changes:
                woke.set()

    watcher = asyncio.create_task(watch())
    try:
        await asyncio.sleep(0.3)
        woke.clear()
        await other_process.set_campaign_state(cid, CampaignState.RUNNING, NOW)
        async with asyncio.timeout(1.0):
            await woke.wait()
        # This process's own change: heard at once, without waiting for the poll.
        woke.clear()
        await store.set_campaign_state(cid, CampaignState.PAUSED, NOW)
        async with asyncio.timeout(0.1):
            await woke.wait()
        # Nothing more written: it stays asleep (after the NOTIFY of our own write, which
        # PostgreSQL delivers to us too).
        await asyncio.sleep(0.2)
        woke.clear()
        await asyncio.sleep(0.5)
        assert not woke.is_set()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
