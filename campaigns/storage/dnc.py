"""The do-not-call list."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.storage import tables as t
from campaigns.storage.base import SqlBase
from campaigns.storage.fast import bulk
from campaigns.storage.fast.sqlite_driver import long_running


class DncRows(SqlBase):
    @long_running
    async def dnc_add(self, phones: Sequence[str], reason: str, now: datetime) -> int:
        return await self._tx(lambda conn: bulk.add_dnc(conn, phones, reason, now))

    async def dnc_remove(self, phones: Sequence[str]) -> int:
        async def work(conn: AsyncConnection) -> int:
            result = await conn.execute(
                sa.delete(t.dnc).where(t.dnc.c.phone.in_(list(set(phones))))
            )
            return result.rowcount

        return await self._tx(work)

    async def dnc_list(self) -> list[tuple[str, str, datetime]]:
        rows = await self._rows(
            sa.select(t.dnc.c.phone, t.dnc.c.reason, t.dnc.c.added_at).order_by(t.dnc.c.phone)
        )
        return [(r.phone, r.reason, r.added_at) for r in rows]

    async def dnc_page(
        self, prefix: str, limit: int, offset: int
    ) -> tuple[int, list[tuple[str, str, datetime]]]:
        c = t.dnc.c
        where = c.phone.startswith(prefix, autoescape=True) if prefix else sa.true()
        total = (await self._rows(sa.select(sa.func.count()).select_from(t.dnc).where(where)))[0][0]
        rows = await self._rows(
            sa.select(c.phone, c.reason, c.added_at)
            .where(where)
            .order_by(c.phone)
            .limit(limit)
            .offset(offset)
        )
        return int(total), [(r.phone, r.reason, r.added_at) for r in rows]

    async def dnc_contains(self, phone: str) -> bool:
        async with self._engine.connect() as conn:
            found = await conn.execute(sa.select(t.dnc.c.phone).where(t.dnc.c.phone == phone))
            return found.first() is not None
