"""Batch writes of imported contacts (campaigns.bulk), through the store, on both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaigns.model import ContactRow, ContactState
from campaigns.spec import CampaignSpec
from campaigns.storage import tables as t
from campaigns.storage.store import SqlStore
from tests.conftest import NOW

LATER = NOW + timedelta(hours=1)


def row(line: int, phone: str, **attributes: str) -> ContactRow:
    return ContactRow(line, phone, "Europe/Oslo", attributes)


async def stored(engine: AsyncEngine, phone: str) -> tuple[Any, ...]:
    c = t.contacts.c
    async with engine.connect() as conn:
        query = sa.select(c.state, c.attributes, c.updated_at).where(c.phone == phone)
        return tuple((await conn.execute(query)).one())


async def test_repeated_dnc_number_is_refused_on_every_line(store: SqlStore) -> None:
    """A do-not-call number refuses each of its lines; its repeats are not counted as merged."""
    cid = (await store.create_campaign(CampaignSpec(name="c"), NOW)).id
    await store.dnc_add(["+4741000009"], "asked", NOW)
    batch = [
        row(2, "+4741000009"),
        row(3, "+4741000001"),
        row(4, "+4741000009", name="again"),
        row(5, "+4741000001", name="b"),
    ]
    result = await store.add_contacts(cid, batch, NOW)
    assert (result.inserted, result.merged, result.dnc_lines) == (1, 1, (2, 4))


async def test_merge_touches_a_contact_only_when_attributes_change(
    store: SqlStore, engine: AsyncEngine
) -> None:
    """A row adding nothing leaves the contact as it was; a newer value wins and state stays."""
    cid = (await store.create_campaign(CampaignSpec(name="c"), NOW)).id
    await store.add_contacts(cid, [row(2, "+4741000001", name="Ola", city="Oslo")], NOW)
    await store.add_contacts(cid, [row(2, "+4741000002", name="Kari")], NOW)
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(t.contacts)
            .where(t.contacts.c.phone == "+4741000002")
            .values(state=ContactState.COMPLETED.value, due_at=None)
        )

    same = await store.add_contacts(cid, [row(7, "+4741000001", name="Ola")], LATER)
    changed = await store.add_contacts(cid, [row(8, "+4741000002", name="K", x="1")], LATER)

    assert (same.inserted, same.merged, changed.inserted, changed.merged) == (0, 1, 0, 1)
    state, attributes, updated_at = await stored(engine, "+4741000001")
    assert (attributes, updated_at) == ({"name": "Ola", "city": "Oslo"}, NOW)
    state, attributes, updated_at = await stored(engine, "+4741000002")
    assert (state, attributes, updated_at) == (
        ContactState.COMPLETED.value,
        {"name": "K", "x": "1"},
        LATER,
    )


async def test_attribute_text_round_trips(store: SqlStore, engine: AsyncEngine) -> None:
    """Quotes, line breaks, backslashes and non-ASCII text are stored exactly as given."""
    cid = (await store.create_campaign(CampaignSpec(name="c"), NOW)).id
    odd = {"notes": 'ring "etter" kl. 16\nspør\\etter Per', "city": "Göteborg ✓", "x": "{}"}
    await store.add_contacts(cid, [ContactRow(2, "+4741000001", "Europe/Stockholm", odd)], NOW)
    _, attributes, _ = await stored(engine, "+4741000001")
    assert attributes == odd


async def test_a_batch_larger_than_any_parameter_limit(store: SqlStore) -> None:
    """Forty thousand rows in one batch: one transaction, no limit on bound parameters."""
    cid = (await store.create_campaign(CampaignSpec(name="c"), NOW)).id
    rows = [row(i + 2, f"+4741{i:06d}", n=str(i)) for i in range(40_000)]
    first = await store.add_contacts(cid, rows, NOW)
    again = await store.add_contacts(cid, rows[:100], NOW)
    assert (first.inserted, first.merged) == (40_000, 0)
    assert (again.inserted, again.merged) == (0, 100)
    stats = await store.campaign_stats(cid)
    assert stats.contacts_by_state == {ContactState.PENDING: 40_000}


async def test_dnc_list_larger_than_any_parameter_limit(
    store: SqlStore, engine: AsyncEngine
) -> None:
    """Forty thousand do-not-call numbers at once: counted once each, queued contacts stopped."""
    cid = (await store.create_campaign(CampaignSpec(name="c"), NOW)).id
    await store.add_contacts(cid, [row(2, "+4741000001"), row(3, "+4799999999")], NOW)
    numbers = [f"+4741{i:06d}" for i in range(40_000)]
    assert await store.dnc_add(numbers + numbers[:10], "registry", NOW) == 40_000
    assert await store.dnc_add([*numbers[:5], "+4741999999"], "registry", LATER) == 1
    state, _, updated = await stored(engine, "+4741000001")
    assert (state, updated) == (ContactState.DNC.value, NOW)
    state, _, updated = await stored(engine, "+4799999999")
    assert (state, updated) == (ContactState.PENDING.value, NOW)
