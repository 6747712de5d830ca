"""The wrap-up catalogue (categories and their topics) and end reasons."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns.errors import Conflict, NotFound
from campaigns.storage import mappers
from campaigns.storage import tables as t
from campaigns.storage.base import SqlBase
from campaigns.storage.fast.prepared import Prepared
from campaigns.wrapup import Category, EndReason, SeedReason, Topic

_CATALOGUE = Prepared(
    sa.select(t.wrapup_categories, *[col.label(f"topic_{col.name}") for col in t.wrapup_topics.c])
    .outerjoin(t.wrapup_topics, t.wrapup_topics.c.category_id == t.wrapup_categories.c.id)
    .order_by(t.wrapup_categories.c.id, t.wrapup_topics.c.id)
)


class CatalogueRows(SqlBase):
    async def create_category(
        self, name: str, multi_choice: bool, campaign_id: int | None, required: bool = False
    ) -> Category:
        async def work(conn: AsyncConnection) -> Category:
            row = (
                await conn.execute(
                    sa.insert(t.wrapup_categories)
                    .values(
                        name=name,
                        multi_choice=multi_choice,
                        campaign_id=campaign_id,
                        active=True,
                        required=required,
                    )
                    .returning(*t.wrapup_categories.c)
                )
            ).one()
            return mappers.category(row)

        try:
            return await self._tx(work)
        except IntegrityError:
            raise NotFound(f"campaign_id: no campaign {campaign_id}", field="campaign_id") from None

    async def set_category_active(self, category_id: int, active: bool) -> Category:
        return await self._update_category(category_id, active=active)

    async def set_category_required(self, category_id: int, required: bool) -> Category:
        return await self._update_category(category_id, required=required)

    async def _update_category(self, category_id: int, **values: bool) -> Category:
        async def work(conn: AsyncConnection) -> Category:
            row = (
                await conn.execute(
                    sa.update(t.wrapup_categories)
                    .where(t.wrapup_categories.c.id == category_id)
                    .values(**values)
                    .returning(*t.wrapup_categories.c)
                )
            ).one_or_none()
            if row is None:
                raise NotFound(f"no category {category_id}")
            return mappers.category(row)

        return await self._tx(work)

    async def create_topic(self, category_id: int, name: str, script: str) -> Topic:
        async def work(conn: AsyncConnection) -> Topic:
            row = (
                await conn.execute(
                    sa.insert(t.wrapup_topics)
                    .values(category_id=category_id, name=name, script=script, active=True)
                    .returning(*t.wrapup_topics.c)
                )
            ).one()
            return mappers.topic(row)

        if not await self._rows(
            sa.select(t.wrapup_categories.c.id).where(t.wrapup_categories.c.id == category_id)
        ):
            raise NotFound(f"no category {category_id}")
        try:
            return await self._tx(work)
        except IntegrityError:
            raise Conflict(
                f"name: the category has a topic {name!r} already", field="name"
            ) from None

    async def catalogue(self) -> tuple[list[Category], list[Topic]]:
        """Every category and every topic, in one query (agents read it with each call)."""
        rows = await self._rows(_CATALOGUE)
        categories = list({r.id: mappers.category(r) for r in rows}.values())
        topics = [
            Topic(r.topic_id, r.id, r.topic_name, r.topic_script, r.topic_active)
            for r in rows
            if r.topic_id is not None
        ]
        topics.sort(key=lambda topic: topic.id)
        return categories, topics

    async def topics_with_categories(
        self, topic_ids: Sequence[int]
    ) -> tuple[dict[int, Topic], dict[int, Category]]:
        """The topics of ``topic_ids`` that exist, and their categories."""
        if not topic_ids:
            return {}, {}
        # From the catalogue, a few hundred rows at most: one fast read (see catalogue),
        # where a query by the ids goes through SQLAlchemy.
        categories, topics = await self.catalogue()
        wanted = set(topic_ids)
        found = {topic.id: topic for topic in topics if topic.id in wanted}
        used = {topic.category_id for topic in found.values()}
        return found, {category.id: category for category in categories if category.id in used}

    async def seed_end_reasons(self, reasons: Sequence[SeedReason]) -> int:
        """Add the reasons not present yet (by name); returns how many were added."""

        async def work(conn: AsyncConnection) -> int:
            known = set((await conn.execute(sa.select(t.end_reasons.c.name))).scalars())
            new = [
                {
                    "name": r.name,
                    "close_by_default": r.close_by_default,
                    "followup_queue": r.followup_queue,
                    "active": True,
                }
                for r in reasons
                if r.name not in known
            ]
            if new:
                await conn.execute(sa.insert(t.end_reasons), new)
            return len(new)

        return await self._tx(work)

    async def create_end_reason(
        self, name: str, close_by_default: bool, followup_queue: str
    ) -> EndReason:
        async def work(conn: AsyncConnection) -> EndReason:
            row = (
                await conn.execute(
                    sa.insert(t.end_reasons)
                    .values(
                        name=name,
                        close_by_default=close_by_default,
                        followup_queue=followup_queue,
                        active=True,
                    )
                    .returning(*t.end_reasons.c)
                )
            ).one()
            return mappers.end_reason(row)

        try:
            return await self._tx(work)
        except IntegrityError:
            raise Conflict(f"name: an end reason {name!r} exists", field="name") from None

    async def list_end_reasons(self) -> list[EndReason]:
        q = sa.select(t.end_reasons).order_by(t.end_reasons.c.id)
        return [mappers.end_reason(r) for r in await self._rows(q)]

    async def get_end_reason(self, ref: int | str) -> EndReason:
        col = t.end_reasons.c.id if isinstance(ref, int) else t.end_reasons.c.name
        return mappers.end_reason(
            await self._one(
                sa.select(t.end_reasons).where(col == ref), f"end_reason: no end reason {ref!r}"
            )
        )
