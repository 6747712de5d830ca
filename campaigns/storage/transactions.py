"""The one retrying transaction: transient errors (serialization failures, deadlocks, a
lost connection, SQLite's busy lock) are tried again here and nowhere else."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = structlog.get_logger()
T = TypeVar("T")

# SQLSTATEs worth a second try: serialization failure, deadlock, connection lost.
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "08006", "08003", "57P01"})
_TRIES = 4


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
