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
from campaigns.wrapup import Category, EndReason, EndReasonChanges, NewEndReason, Topic

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

    async def add_end_reasons(self, reasons: Sequence[NewEndReason]) -> int:
        """Add the reasons not present yet (by name, in their scope); how many were added."""

        async def work(conn: AsyncConnection) -> int:
            known = {
                (row.campaign_id, row.name)
                for row in await conn.execute(
                    sa.select(t.end_reasons.c.campaign_id, t.end_reasons.c.name)
                )
            }
            new = [_reason_values(r) for r in reasons if (r.campaign_id, r.name) not in known]
            if new:
                await conn.execute(sa.insert(t.end_reasons), new)
            return len(new)

        await self._campaign_exists({r.campaign_id for r in reasons})
        return await self._tx(work)

    async def create_end_reason(self, reason: NewEndReason) -> EndReason:
        async def work(conn: AsyncConnection) -> EndReason:
            row = (
                await conn.execute(
                    sa.insert(t.end_reasons)
                    .values(**_reason_values(reason))
                    .returning(*t.end_reasons.c)
                )
            ).one()
            return mappers.end_reason(row)

        await self._campaign_exists({reason.campaign_id})
        try:
            return await self._tx(work)
        except IntegrityError:
            raise Conflict(
                f"name: an end reason {reason.name!r} exists there", field="name"
            ) from None

    async def update_end_reason(self, reason_id: int, changes: EndReasonChanges) -> EndReason:
        values = {
            name: value
            for name in (
                "name",
                "close_by_default",
                "followup_queue",
                "description",
                "position",
                "active",
            )
            if (value := getattr(changes, name)) is not None
        }

        async def work(conn: AsyncConnection) -> EndReason:
            query = (
                sa.select(t.end_reasons)
                if not values
                else (sa.update(t.end_reasons).values(**values).returning(*t.end_reasons.c))
            )
            row = (await conn.execute(query.where(t.end_reasons.c.id == reason_id))).one_or_none()
            if row is None:
                raise NotFound(f"no end reason {reason_id}")
            return mappers.end_reason(row)

        try:
            return await self._tx(work)
        except IntegrityError:
            raise Conflict(
                f"name: an end reason {changes.name!r} exists there", field="name"
            ) from None

    async def list_end_reasons(
        self, campaign_id: int | None = None, *, offered: bool = False
    ) -> list[EndReason]:
        c = t.end_reasons.c
        q = sa.select(t.end_reasons).order_by(c.position, c.name, c.id)
        if campaign_id is not None:
            q = q.where(sa.or_(c.campaign_id.is_(None), c.campaign_id == campaign_id))
        elif offered:
            q = q.where(c.campaign_id.is_(None))
        if offered:
            q = q.where(c.active.is_(True))
        return [mappers.end_reason(r) for r in await self._rows(q)]

    async def get_end_reason(self, ref: int | str, campaign_id: int | None = None) -> EndReason:
        c = t.end_reasons.c
        if isinstance(ref, int):
            q = sa.select(t.end_reasons).where(c.id == ref)
        else:
            # By name: the campaign's own reason before a global one.
            q = (
                sa.select(t.end_reasons)
                .where(c.name == ref, sa.or_(c.campaign_id.is_(None), c.campaign_id == campaign_id))
                .order_by(c.campaign_id.is_(None))
            )
        return mappers.end_reason(await self._one(q, f"end_reason: no end reason {ref!r}"))

    async def _campaign_exists(self, ids: set[int | None]) -> None:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return
        found = set(
            await self._rows(sa.select(t.campaigns.c.id).where(t.campaigns.c.id.in_(wanted)))
        )
        missing = wanted - {row.id for row in found}
        if missing:
            raise NotFound(f"campaign_id: no campaign {min(missing)}", field="campaign_id")


def _reason_values(reason: NewEndReason) -> dict[str, object]:
    return {
        "name": reason.name,
        "close_by_default": reason.close_by_default,
        "followup_queue": reason.followup_queue,
        "description": reason.description,
        "campaign_id": reason.campaign_id,
        "position": reason.position,
        "active": True,
    }
