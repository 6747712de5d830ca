"""What every store module shares: the engine (not owned), the dialect, one retrying
transaction, and reads that take the SQLite fast path for prebuilt statements."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from campaigns.errors import NotFound
from campaigns.storage.fast.prepared import Prepared, read
from campaigns.storage.transactions import transaction

T = TypeVar("T")


class SqlBase:
    """The state every store module works on. It does not own ``engine``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    async def _tx(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        return await transaction(self._engine, work)

    async def _rows(
        self, query: sa.Executable | Prepared, params: dict[str, Any] | None = None
    ) -> list[Any]:
        """Rows of ``query``; a prebuilt :class:`Prepared` on SQLite skips SQLAlchemy."""
        if isinstance(query, Prepared):
            return await read(self._engine, query, params)
        async with self._engine.connect() as conn:
            return list(await conn.execute(query, params))

    async def _one(
        self, query: sa.Executable | Prepared, missing: str, params: dict[str, Any] | None = None
    ) -> Any:
        rows = await self._rows(query, params)
        if not rows:
            raise NotFound(missing)
        return rows[0]
