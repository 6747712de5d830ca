"""Writing a batch of imported contacts: one transaction, a few statements per batch.

The semantics are :meth:`campaigns.store.Store.add_contacts`'s. An import's cost is per
row, so rows never go through SQLAlchemy's per-parameter processing: constants are bound
once per batch through the columns' own types, and the batch travels as one JSON document
that the database takes apart. SQLite: two indexed look-ups (do-not-call, already in the
campaign), one ``INSERT … SELECT FROM json_each``, an update per merged contact.
PostgreSQL: one statement that refuses, inserts and reports the numbers already there,
and a second one, only if there are such numbers, to merge their attributes.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from campaigns import tables as t
from campaigns.importer import ContactRow
from campaigns.model import ContactState
from campaigns.store import AddResult

# [[phone, zone, attributes], ...], encoded by one C call. On SQLite the insert is then one
# statement step, which releases the GIL for the whole batch (executemany takes it back for
# every row, and the parser thread is competing for it).
_encode = json.JSONEncoder(check_circular=False).encode
_decode = json.JSONDecoder().decode

_SQLITE_DNC = "SELECT phone FROM dnc WHERE phone IN (SELECT value FROM json_each(?))"
_SQLITE_EXISTING = (
    "SELECT phone, id, attributes FROM contacts"
    " WHERE campaign_id = ? AND phone IN (SELECT value FROM json_each(?))"
)
_SQLITE_INSERT = """
INSERT INTO contacts (campaign_id, phone, timezone, state, due_at, attributes,
                      created_at, updated_at)
SELECT ?1, json_extract(value, '$[0]'), json_extract(value, '$[1]'), ?2, ?3,
       json_extract(value, '$[2]'), ?4, ?4
FROM json_each(?5)
"""
_SQLITE_MERGE = "UPDATE contacts SET attributes = ?, updated_at = ? WHERE id = ?"

# PostgreSQL, statement 1: $1 campaign, $2 the batch (distinct numbers), $3 now, $4 state.
# Refuses do-not-call numbers and inserts the rest, leaving numbers already in the
# campaign to statement 2. Lookups go through the unique indexes (a scalar subquery per
# row, ON CONFLICT), never through a join: the planner's row estimates for a table that
# an import is filling are always stale.
_POSTGRES_INSERT = """
WITH batch AS MATERIALIZED (
    SELECT r->>0 AS phone, r->>1 AS timezone, r->2 AS attributes,
           (SELECT true FROM dnc WHERE dnc.phone = r->>0) AS refused
    FROM jsonb_array_elements($2::jsonb) AS r
),
inserted AS (
    INSERT INTO contacts (campaign_id, phone, timezone, state, due_at, attributes,
                          created_at, updated_at)
    SELECT $1::integer, phone, timezone, $4::text, $3::timestamptz, attributes,
           $3::timestamptz, $3::timestamptz
    FROM batch WHERE refused IS NULL
    ON CONFLICT (campaign_id, phone) DO NOTHING
    RETURNING phone
)
SELECT (SELECT count(*) FROM inserted),
       ARRAY(SELECT phone FROM batch WHERE refused),
       ARRAY(SELECT phone FROM batch WHERE refused IS NULL
             EXCEPT ALL SELECT phone FROM inserted)
"""
# Statement 2, for the numbers already there: $1 campaign, $2 [[phone, attributes], ...],
# $3 now. The row's attributes go over the contact's (jsonb ||, a dict update for flat
# objects); the contact is touched only if that adds something (@>: every key and value
# of the row is already there). State and history are kept.
_POSTGRES_MERGE = """
UPDATE contacts SET attributes = contacts.attributes || (r->1), updated_at = $3::timestamptz
FROM jsonb_array_elements($2::jsonb) AS r
WHERE contacts.campaign_id = $1::integer AND contacts.phone = r->>0
  AND NOT contacts.attributes @> (r->1)
"""


@dataclass(frozen=True, slots=True)
class _Batch:
    """A batch reduced to one row per number, in first-seen order."""

    rows: Sequence[ContactRow]
    unique: dict[str, ContactRow]
    merged: int
    """Rows merged into an earlier row of the same batch."""

    def result(self, inserted: int, existing: int, refused: set[str]) -> AddResult:
        if not refused:
            return AddResult(inserted, self.merged + existing)
        dnc_lines = tuple(sorted(row.line for row in self.rows if row.phone in refused))
        # A refused number's repeats were counted as merged; they are refusals instead.
        merged = self.merged - (len(dnc_lines) - len(refused)) + existing
        return AddResult(inserted, merged, dnc_lines)


def reduce(rows: Sequence[ContactRow]) -> _Batch:
    """Merge the batch's repeats of a number: first line and zone kept, later attributes win."""
    unique: dict[str, ContactRow] = {}
    setdefault = unique.setdefault
    merged = 0
    for row in rows:
        first = setdefault(row.phone, row)
        if first is not row:
            merged += 1
            unique[row.phone] = ContactRow(
                first.line, first.phone, first.timezone, {**first.attributes, **row.attributes}
            )
    return _Batch(rows, unique, merged)


async def add_contacts(
    conn: AsyncConnection, campaign_id: int, rows: Sequence[ContactRow], now: datetime
) -> AddResult:
    """:meth:`Store.add_contacts` inside the caller's transaction ``conn``."""
    batch = reduce(rows)
    if not batch.unique:
        return AddResult()
    if conn.dialect.name == "postgresql":
        return await _add_postgres(conn, campaign_id, batch, now)
    return await _add_sqlite(conn, campaign_id, batch, now)


async def _add_sqlite(
    conn: AsyncConnection, campaign_id: int, batch: _Batch, now: datetime
) -> AddResult:
    unique = batch.unique
    phones = _encode(list(unique))
    refused = {phone for (phone,) in await conn.exec_driver_sql(_SQLITE_DNC, (phones,))}
    found = await conn.exec_driver_sql(_SQLITE_EXISTING, (campaign_id, phones))
    existing = {
        phone: (contact_id, attributes)
        for phone, contact_id, attributes in map(tuple, found)
        if phone not in refused
    }
    stamp = _bind(conn, t.contacts.c.updated_at, now)
    due = _bind(conn, t.contacts.c.due_at, now)
    new = _rows(unique.values(), refused | existing.keys())
    if new:
        await conn.exec_driver_sql(
            _SQLITE_INSERT, (campaign_id, ContactState.PENDING.value, due, stamp, _encode(new))
        )
    changed = []
    for phone, (contact_id, stored) in existing.items():
        attributes = unique[phone].attributes
        old = _decode(stored)
        if attributes.items() - old.items():
            changed.append((_encode({**old, **attributes}), stamp, contact_id))
    if changed:
        await conn.exec_driver_sql(_SQLITE_MERGE, changed)
    return batch.result(len(new), len(existing), refused)


async def _add_postgres(
    conn: AsyncConnection, campaign_id: int, batch: _Batch, now: datetime
) -> AddResult:
    unique = batch.unique
    stamp = _bind(conn, t.contacts.c.updated_at, now)
    result = await conn.exec_driver_sql(
        _POSTGRES_INSERT,
        (campaign_id, _encode(_rows(unique.values())), stamp, ContactState.PENDING.value),
    )
    inserted, refused, existing = tuple(result.one())
    if existing:
        merge = [(phone, unique[phone].attributes) for phone in existing]
        await conn.exec_driver_sql(_POSTGRES_MERGE, (campaign_id, _encode(merge), stamp))
    return batch.result(inserted, len(existing), set(refused))


def _rows(
    rows: Iterable[ContactRow], leave_out: Collection[str] = ()
) -> list[tuple[str, str, dict[str, str]]]:
    if leave_out:
        return [(r.phone, r.timezone, r.attributes) for r in rows if r.phone not in leave_out]
    return [(r.phone, r.timezone, r.attributes) for r in rows]


def _bind(conn: AsyncConnection, column: sa.Column[Any], value: Any) -> Any:
    """``value`` as the driver receives it for ``column`` (what SQLAlchemy would bind)."""
    dialect = conn.dialect
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return value if process is None else process(value)
