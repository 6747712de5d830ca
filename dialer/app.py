"""Opening the store, migrated: shared by every CLI command and the service.

The composition root of the running service is :mod:`dialer.service`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog

from campaigns.storage.engine import make_engine
from campaigns.storage.migrate import upgrade
from campaigns.storage.store import SqlStore
from dialer.settings import Settings

log = structlog.get_logger()


@asynccontextmanager
async def open_store(settings: Settings, *, migrate: bool = True) -> AsyncIterator[SqlStore]:
    """The store on the configured database, migrated to the current schema."""
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    try:
        if migrate:
            await upgrade(engine)
        yield SqlStore(engine)
    finally:
        await engine.dispose()
