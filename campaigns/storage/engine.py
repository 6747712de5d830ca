"""The engine: one SQLite connection with the pragmas a service needs, or PostgreSQL."""

from __future__ import annotations

from typing import Any, TypeVar

import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from campaigns.storage.fast.sqlite_driver import connector

log = structlog.get_logger()
T = TypeVar("T")


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine with the pragmas SQLite needs for a service (WAL, foreign keys, waits).

    SQLite gets one connection: SQLite takes one writer at a time, and several connections
    colliding on a write sleep in SQLite's busy handler (10 to 100 ms steps), where callers
    queued on the pool wait only as long as the statement before them.
    """
    if url.startswith("sqlite"):
        options: dict[str, Any] = {"pool_size": 1, "max_overflow": 0, **kwargs}
        engine = create_async_engine(url, async_creator=connector(url, timeout=30), **options)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # No pre-ping (a round trip per checkout): a connection lost to a server restart fails
    # its transaction as "invalidated", which transaction() retries on a fresh one.
    return create_async_engine(url, **kwargs)
