"""Follow-up queues: requests left open at the end of a call, who works on them, notes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.storage import mappers
from campaigns.storage import tables as t
from campaigns.storage.base import SqlBase
from campaigns.wrapup import FollowupItem, FollowupNote, QueueSummary

_i, _f, _r = t.interactions.c, t.followups.c, t.end_reasons.c
_taker = t.agents.alias("taker")
_notes = (
    sa.select(sa.func.count()).where(t.followup_notes.c.interaction_id == _i.id).scalar_subquery()
)
_case = (
    sa.select(sa.func.min(t.cases.c.id)).where(t.cases.c.interaction_id == _i.id).scalar_subquery()
)
_ITEMS = (
    sa.select(
        t.interactions,
        _r.name.label("reason_name"),
        _f.taken_by,
        _taker.c.username.label("taken_by_name"),
        _f.taken_at,
        _f.closed_by,
        _f.closed_at,
        _case.label("case_id"),
        _notes.label("notes"),
    )
    .select_from(t.interactions)
    .outerjoin(t.followups, _f.interaction_id == _i.id)
    .outerjoin(t.end_reasons, _r.id == _i.end_reason_id)
    .outerjoin(_taker, _taker.c.id == _f.taken_by)
    .where(_i.followup_queue.is_not(None))
)


def _item(row: Any) -> FollowupItem:
    return FollowupItem(
        interaction=mappers.interaction(row),
        reason=row.reason_name,
        taken_by=row.taken_by,
        taken_by_name=row.taken_by_name,
        taken_at=row.taken_at,
        closed_at=row.closed_at,
        closed_by=row.closed_by,
        case_id=row.case_id,
        notes=int(row.notes or 0),
    )


class FollowupRows(SqlBase):
    async def followup_items(
        self, queue: str | None, *, closed: bool = False, limit: int = 100, offset: int = 0
    ) -> list[FollowupItem]:
        q = _ITEMS.where(_f.closed_at.is_not(None) if closed else _f.closed_at.is_(None))
        if queue is not None:
            q = q.where(_i.followup_queue == queue)
        q = q.order_by(sa.func.coalesce(_i.ended_at, _i.started_at), _i.id)
        return [_item(r) for r in await self._rows(q.limit(limit).offset(offset))]

    async def followup_item(self, interaction_id: int) -> FollowupItem:
        row = await self._one(
            _ITEMS.where(_i.id == interaction_id), f"no follow-up {interaction_id}"
        )
        return _item(row)

    async def followup_queues(self) -> list[QueueSummary]:
        opened = sa.func.coalesce(_i.ended_at, _i.started_at)
        q = (
            sa.select(
                _i.followup_queue,
                sa.func.count().label("open"),
                sa.func.count(_f.taken_by).label("taken"),
                sa.func.min(opened, type_=t.UtcDateTime()).label("oldest"),
            )
            .select_from(t.interactions)
            .outerjoin(t.followups, _f.interaction_id == _i.id)
            .where(_i.followup_queue.is_not(None), _f.closed_at.is_(None))
            .group_by(_i.followup_queue)
            .order_by(_i.followup_queue)
        )
        return [
            QueueSummary(r.followup_queue, int(r.open), int(r.taken), r.oldest)
            for r in await self._rows(q)
        ]

    async def take_followup(self, interaction_id: int, agent_id: int, now: datetime) -> None:
        await self._upsert(interaction_id, {"taken_by": agent_id, "taken_at": now})

    async def close_followup(self, interaction_id: int, agent_id: int, now: datetime) -> None:
        """Close the follow-up and the request itself (``interactions.closed``)."""

        async def work(conn: AsyncConnection) -> None:
            await self._write_followup(
                conn, interaction_id, {"closed_by": agent_id, "closed_at": now}
            )
            await conn.execute(
                sa.update(t.interactions).where(_i.id == interaction_id).values(closed=True)
            )

        await self._tx(work)

    async def add_followup_note(
        self, interaction_id: int, author_id: int, text: str, now: datetime
    ) -> FollowupNote:
        async def work(conn: AsyncConnection) -> FollowupNote:
            note_id = (
                await conn.execute(
                    sa.insert(t.followup_notes)
                    .values(
                        interaction_id=interaction_id,
                        author_id=author_id,
                        text=text,
                        created_at=now,
                    )
                    .returning(t.followup_notes.c.id)
                )
            ).scalar_one()
            name = (
                await conn.execute(sa.select(t.agents.c.username).where(t.agents.c.id == author_id))
            ).scalar_one()
            return FollowupNote(note_id, interaction_id, author_id, name, text, now)

        return await self._tx(work)

    async def followup_notes(self, interaction_id: int) -> list[FollowupNote]:
        n, a = t.followup_notes.c, t.agents.c
        rows = await self._rows(
            sa.select(n.id, n.interaction_id, n.author_id, a.username, n.text, n.created_at)
            .join(t.agents, a.id == n.author_id)
            .where(n.interaction_id == interaction_id)
            .order_by(n.id)
        )
        return [
            FollowupNote(r.id, r.interaction_id, r.author_id, r.username, r.text, r.created_at)
            for r in rows
        ]

    async def _upsert(self, interaction_id: int, values: dict[str, Any]) -> None:
        async def work(conn: AsyncConnection) -> None:
            await self._write_followup(conn, interaction_id, values)

        await self._tx(work)

    @staticmethod
    async def _write_followup(
        conn: AsyncConnection, interaction_id: int, values: dict[str, Any]
    ) -> None:
        done = await conn.execute(
            sa.update(t.followups).where(_f.interaction_id == interaction_id).values(**values)
        )
        if done.rowcount == 0:
            await conn.execute(
                sa.insert(t.followups).values(interaction_id=interaction_id, **values)
            )
