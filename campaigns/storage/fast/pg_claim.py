"""The claim on PostgreSQL, on the asyncpg connection itself.

The claim is the hottest statement of the dialer, and SQLAlchemy's execution and row
processing cost more than PostgreSQL's work on it. One statement, one round trip: asyncpg
opens no transaction, so the statement is its own, committed when it completes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

from campaigns.storage.transactions import retrying

_ASYNCPG_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)


@dataclass(frozen=True, slots=True)
class ClaimSql:
    """The claim compiled once: its SQL, its parameters in order, the values fixed in it."""

    template: str
    names: tuple[str, ...]
    fixed: Mapping[str, Any]

    @classmethod
    def of(cls, claim: sa.Update, dialect: Dialect) -> ClaimSql:
        compiled = claim.compile(dialect=dialect)
        assert compiled.positiontup is not None
        names = tuple(name for name in compiled.positiontup if name != "b_n")
        # Values fixed in the statement (due_at = NULL) come with it as defaults.
        return cls(compiled.string, names, compiled.params)


async def claim_on_asyncpg(
    engine: AsyncEngine, claim: ClaimSql, values: Mapping[str, Any]
) -> Sequence[Any]:
    """Run the claim with ``values`` (``b_n`` the limit); the records it returned."""
    # The limit is written into the SQL: with a parameter there the planner cannot tell
    # 50 rows from 10 % of the queue, so PostgreSQL planned every execution anew (the
    # generic plan looked dearer) instead of reusing the prepared statement's plan.
    sql = claim.template.replace("__[POSTCOMPILE_b_n]", str(int(values["b_n"])))
    args = [values[name] if name in values else claim.fixed[name] for name in claim.names]

    async def once() -> Sequence[Any]:
        # Straight from the pool: no SQLAlchemy connection or transaction to set up.
        pooled = await engine.raw_connection()
        try:
            raw = pooled.driver_connection
            assert raw is not None
            try:
                # fetch() keeps the prepared statement in asyncpg's per-connection cache.
                records: Sequence[Any] = await raw.fetch(sql, *args)
            except _ASYNCPG_ERRORS as exc:
                # Wrapped as SQLAlchemy would: retrying() tries again what is transient,
                # and a connection the server dropped leaves the pool.
                lost = raw.is_closed()
                if lost:
                    await greenlet_spawn(pooled.invalidate)
                raise DBAPIError(sql, args, exc, connection_invalidated=lost) from exc
        finally:
            # In a greenlet, as SQLAlchemy's own connections do: a connection past the
            # pool's size is closed on its return, and asyncpg's close is awaited.
            await greenlet_spawn(pooled.close)
        return records

    return await retrying(once)
