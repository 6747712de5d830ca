"""The reads of every agent request, on SQLite, straight through sqlite3.

SQLAlchemy's async execution costs about 130 µs a connection checkout and 200 µs a
statement; SQLite's own work on a one-row read is about 5 µs. The agent API makes some
ten reads for each call an agent handles (the interaction, the contact, the campaign,
the catalogue, the registration, the scheduled callbacks), so on SQLite those run here:
on a read-only connection of their own, on the event loop's thread (each is one short
statement; in WAL mode a reader never waits for a writer), with no pool in between.

A :class:`Read` is one of the stores' prebuilt SQLAlchemy statements: the SQL is the one
SQLAlchemy compiles for the dialect, and each column goes through its type's own result
processing, so rows come out as they would from SQLAlchemy. What is read here was
committed: the stores read through SQLAlchemy inside their write transactions.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine


def _row_type(keys: list[str]) -> Callable[[Sequence[Any]], Any]:
    """Rows with attribute access and ``_mapping``, as SQLAlchemy's have."""
    base: Any = namedtuple("Row", keys)  # type: ignore[misc]

    class Row(base):
        __slots__ = ()

        @property
        def _mapping(self) -> dict[str, Any]:
            return dict(self._asdict())

    return Row._make


class _Compiled(NamedTuple):
    sql: str
    names: tuple[str, ...]
    fixed: Mapping[str, Any]
    processors: Sequence[Callable[[Any], Any] | None]


class Read:
    """A prebuilt select, run through SQLAlchemy or, on SQLite, straight through sqlite3."""

    def __init__(self, statement: sa.Select[Any]) -> None:
        self.statement = statement
        self._compiled: _Compiled | None = None
        self._make = _row_type([str(column.key) for column in statement.selected_columns])

    def _compile(self, dialect: Dialect) -> _Compiled:
        if self._compiled is None:
            compiled = self.statement.compile(dialect=dialect)
            assert compiled.positiontup is not None
            processors = [
                column.type._cached_result_processor(dialect, None)
                for column in self.statement.selected_columns
            ]
            self._compiled = _Compiled(
                compiled.string, tuple(compiled.positiontup), compiled.params, processors
            )
        return self._compiled

    def run(
        self, connection: sqlite3.Connection, dialect: Dialect, params: Mapping[str, Any]
    ) -> list[Any]:
        sql, names, fixed, processors = self._compile(dialect)
        # Values written in the statement (a state to match) come with it.
        values = [params[name] if name in params else fixed[name] for name in names]
        raw = connection.execute(sql, values).fetchall()
        make = self._make
        if not any(processors):
            return [make(row) for row in raw]
        return [
            make(
                [
                    value if convert is None or value is None else convert(value)
                    for value, convert in zip(row, processors, strict=True)
                ]
            )
            for row in raw
        ]


class Reader:
    """A read-only connection to the engine's SQLite database, used on the loop's thread.

    Look it up with :func:`reader` at each use: disposing of the engine closes it."""

    def __init__(self, engine: AsyncEngine) -> None:
        url = engine.url
        self._dialect = engine.dialect
        # Autocommit: each read is its own read transaction and holds no snapshot after.
        self._connection = sqlite3.connect(
            url.database or ":memory:",
            uri=url.query.get("uri") in ("true", "1"),
            isolation_level=None,
            check_same_thread=False,
        )
        self._connection.execute("PRAGMA query_only = ON")

    def rows(self, read: Read, params: Mapping[str, Any] | None = None) -> list[Any]:
        return read.run(self._connection, self._dialect, params or {})

    def close(self) -> None:
        self._connection.close()


async def read(
    engine: AsyncEngine, query: Read, params: Mapping[str, Any] | None = None
) -> list[Any]:
    """The rows of ``query``: straight through sqlite3 on SQLite, else through SQLAlchemy."""
    fast = reader(engine)
    if fast is not None:
        return fast.rows(query, params)
    async with engine.connect() as conn:
        return list(await conn.execute(query.statement, params))


_readers: WeakKeyDictionary[Any, Reader] = WeakKeyDictionary()


def reader(engine: AsyncEngine) -> Reader | None:
    """The engine's reader: one per engine on a SQLite file, None on other databases (and
    on in-memory SQLite, where another connection would see another database)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or ":memory:" in database:
        return None
    sync_engine = engine.sync_engine
    found = _readers.get(sync_engine)
    if found is None:
        found = _readers[sync_engine] = Reader(engine)
        sa.event.listen(sync_engine, "engine_disposed", lambda _: _drop(sync_engine))
    return found


def _drop(sync_engine: Any) -> None:
    found = _readers.pop(sync_engine, None)
    if found is not None:
        found.close()
