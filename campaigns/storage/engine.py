"""The engine and the one retrying transaction. Only storage modules import this."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from campaigns.storage.fast.sqlite_driver import connector

log = structlog.get_logger()
T = TypeVar("T")

# SQLSTATEs worth a second try: serialization failure, deadlock, connection lost.
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "08006", "08003", "57P01"})
_TRIES = 4


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


def is_transient(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(
        getattr(exc.orig, "__cause__", None), "sqlstate", None
    )
    if sqlstate in _TRANSIENT_SQLSTATES:
        return True
    return "database is locked" in str(exc.orig)


async def transaction(engine: AsyncEngine, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction, again on transient errors."""

    async def once() -> T:
        async with engine.begin() as conn:
            return await work(conn)

    return await retrying(once)


async def retrying(work: Callable[[], Awaitable[T]]) -> T:
    """Run ``work`` again on transient errors (the one retry place)."""
    for attempt in range(1, _TRIES + 1):
        try:
            return await work()
        except DBAPIError as exc:
            if attempt == _TRIES or not is_transient(exc):
                raise
            log.warning("store_transient_error", attempt=attempt, error=str(exc.orig))
            await asyncio.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover
