"""Users of the agent API and their token hashes."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.errors import Code, Conflict, NotFound
from campaigns.storage import mappers
from campaigns.storage import tables as t
from campaigns.storage.base import SqlBase
from campaigns.users import Role, User


class UserRows(SqlBase):
    async def create_user(
        self,
        username: str,
        role: Role,
        name: str,
        extension: str | None,
        token_hash: str,
        now: datetime,
    ) -> User:
        async def work(conn: AsyncConnection) -> User:
            row = (
                await conn.execute(
                    sa.insert(t.agents)
                    .values(
                        username=username,
                        role=role.value,
                        name=name,
                        extension=extension,
                        token_hash=token_hash,
                        created_at=now,
                    )
                    .returning(*t.agents.c)
                )
            ).one()
            return mappers.user(row)

        try:
            return await self._tx(work)
        except IntegrityError:
            raise Conflict(
                f"username: {username!r} is taken", code=Code.USER_EXISTS, field="username"
            ) from None

    async def user_by_token_hash(self, token_hash: str) -> tuple[User, str] | None:
        rows = await self._rows(sa.select(t.agents).where(t.agents.c.token_hash == token_hash))
        return (mappers.user(rows[0]), rows[0].token_hash) if rows else None

    async def list_users(self) -> list[User]:
        found = await self._rows(sa.select(t.agents).order_by(t.agents.c.id))
        return [mappers.user(r) for r in found]

    async def set_user_active(self, user_id: int, active: bool) -> None:
        async def work(conn: AsyncConnection) -> int:
            result = await conn.execute(
                sa.update(t.agents).where(t.agents.c.id == user_id).values(active=active)
            )
            return result.rowcount

        if await self._tx(work) != 1:
            raise NotFound(f"no user {user_id}")

    async def set_logged_in_to(self, user_id: int, service: str | None) -> None:
        async def work(conn: AsyncConnection) -> None:
            await conn.execute(
                sa.update(t.agents).where(t.agents.c.id == user_id).values(logged_in_to=service)
            )

        await self._tx(work)

    async def set_token_hash(self, user_id: int, token_hash: str) -> None:
        async def work(conn: AsyncConnection) -> int:
            result = await conn.execute(
                sa.update(t.agents).where(t.agents.c.id == user_id).values(token_hash=token_hash)
            )
            return result.rowcount

        if await self._tx(work) != 1:
            raise NotFound(f"no user {user_id}")
