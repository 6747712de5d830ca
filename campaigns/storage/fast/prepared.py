"""The statements of every agent request, on SQLite, straight through sqlite3.

SQLAlchemy's async execution costs about 130 µs a connection checkout and 200 µs a
statement; SQLite's own work on a one-row read or write is a few µs. The agent API runs
some fifteen statements for each call an agent handles (reading the interaction, the
contact, the campaign, the catalogue, the registration, the scheduled callbacks; writing
the interaction, its ending, the registration), so on SQLite those skip SQLAlchemy:

- reads (:func:`read`) run on a read-only connection of their own, on the event loop's
  thread (each is one short statement; in WAL mode a reader never waits for a writer),
  with no pool in between. What they see was committed;
- writes (:func:`write`) run in one transaction on the service's connection, checked out
  of the pool as usual, through its aiosqlite driver (:mod:`.sqlite_driver`: on the loop,
  or in the thread if another process holds the lock).

A :class:`Prepared` is one of the stores' prebuilt SQLAlchemy statements: the SQL is the
one SQLAlchemy compiles for the dialect, each parameter and column goes through its type's
own processing, and rows come out as they would from SQLAlchemy. On PostgreSQL the same
statements run through SQLAlchemy.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar
from weakref import WeakKeyDictionary

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from campaigns.storage.transactions import transaction

T = TypeVar("T")


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
    binds: Sequence[Callable[[Any], Any] | None]
    results: Sequence[Callable[[Any], Any] | None]


class Prepared:
    """A prebuilt statement, run through SQLAlchemy or, on SQLite, straight through sqlite3.

    Parameters are named ``b_*`` and passed by those names."""

    def __init__(self, statement: sa.Select[Any] | sa.Insert | sa.Update | sa.Delete) -> None:
        self.statement = statement
        self._columns = list(
            statement.selected_columns
            if isinstance(statement, sa.Select)
            else statement.exported_columns
        )
        self._compiled: _Compiled | None = None
        self._make = _row_type([str(column.key) for column in self._columns])

    def _compile(self, dialect: Dialect) -> _Compiled:
        if self._compiled is None:
            compiled = self.statement.compile(dialect=dialect)
            assert compiled.positiontup is not None
            names = tuple(compiled.positiontup)
            self._compiled = _Compiled(
                compiled.string,
                names,
                compiled.params,
                [compiled.binds[name].type._cached_bind_processor(dialect) for name in names],
                [column.type._cached_result_processor(dialect, None) for column in self._columns],
            )
        return self._compiled

    def bound(self, dialect: Dialect, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQL and its positional values for ``params``."""
        sql, names, fixed, binds, _ = self._compile(dialect)
        # Values written in the statement (a state to match) come with it.
        values = [params[name] if name in params else fixed[name] for name in names]
        return sql, [
            value if convert is None or value is None else convert(value)
            for value, convert in zip(values, binds, strict=True)
        ]

    def rows(self, dialect: Dialect, raw: Sequence[Sequence[Any]]) -> list[Any]:
        """Rows as SQLAlchemy would give them, from the driver's tuples."""
        results = self._compile(dialect).results
        make = self._make
        if not any(results):
            return [make(row) for row in raw]
        return [
            make(
                [
                    value if convert is None or value is None else convert(value)
                    for value, convert in zip(row, results, strict=True)
                ]
            )
            for row in raw
        ]


def inserting(table: sa.Table, given: tuple[str, ...]) -> Prepared:
    """An INSERT of the ``given`` columns (parameters ``b_<column>``), returning the row."""
    values: dict[str, Any] = {name: sa.bindparam(f"b_{name}") for name in given}
    return Prepared(sa.insert(table).values(values).returning(*table.c))


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

    def rows(self, query: Prepared, params: Mapping[str, Any] | None = None) -> list[Any]:
        sql, values = query.bound(self._dialect, params or {})
        return query.rows(self._dialect, self._connection.execute(sql, values).fetchall())

    def close(self) -> None:
        self._connection.close()


async def read(
    engine: AsyncEngine, query: Prepared, params: Mapping[str, Any] | None = None
) -> list[Any]:
    """The rows of ``query``: straight through sqlite3 on SQLite, else through SQLAlchemy."""
    fast = reader(engine)
    if fast is not None:
        return fast.rows(query, params)
    async with engine.connect() as conn:
        return list(await conn.execute(query.statement, params))


class Writes(Protocol):
    """The statements of one transaction (see :func:`write`)."""

    async def rows(self, query: Prepared, params: Mapping[str, Any]) -> list[Any]:
        """The rows ``query`` returns (``RETURNING``)."""

    async def count(self, query: Prepared, params: Mapping[str, Any]) -> int:
        """How many rows ``query`` changed."""

    async def many(self, query: Prepared, params: Sequence[Mapping[str, Any]]) -> None:
        """``query`` once for each of ``params``."""


async def write(engine: AsyncEngine, work: Callable[[Writes], Awaitable[T]]) -> T:
    """``work`` in one transaction: on SQLite through the service's connection's driver,
    elsewhere through SQLAlchemy (:func:`~campaigns.storage.transactions.transaction`,
    which retries)."""
    if engine.dialect.name != "sqlite":
        return await transaction(engine, lambda conn: work(_SqlAlchemyWrites(conn)))
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        try:
            result = await work(_SqliteWrites(driver, engine.dialect))
        except BaseException:
            await driver.rollback()
            raise
        await driver.commit()
        return result


class _SqliteWrites:
    def __init__(self, driver: Any, dialect: Dialect) -> None:
        self._driver = driver
        self._dialect = dialect

    async def rows(self, query: Prepared, params: Mapping[str, Any]) -> list[Any]:
        cursor = await self._driver.execute(*query.bound(self._dialect, params))
        try:
            return query.rows(self._dialect, await cursor.fetchall())
        finally:
            await cursor.close()

    async def count(self, query: Prepared, params: Mapping[str, Any]) -> int:
        cursor = await self._driver.execute(*query.bound(self._dialect, params))
        changed = int(cursor.rowcount)
        await cursor.close()
        return changed

    async def many(self, query: Prepared, params: Sequence[Mapping[str, Any]]) -> None:
        bound = [query.bound(self._dialect, one) for one in params]
        if bound:
            cursor = await self._driver.executemany(bound[0][0], [values for _, values in bound])
            await cursor.close()


class _SqlAlchemyWrites:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def rows(self, query: Prepared, params: Mapping[str, Any]) -> list[Any]:
        return list(await self._conn.execute(query.statement, params))

    async def count(self, query: Prepared, params: Mapping[str, Any]) -> int:
        return int((await self._conn.execute(query.statement, params)).rowcount)

    async def many(self, query: Prepared, params: Sequence[Mapping[str, Any]]) -> None:
        if params:
            await self._conn.execute(query.statement, list(params))


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
        if not sa.event.contains(sync_engine, "engine_disposed", _drop):
            sa.event.listen(sync_engine, "engine_disposed", _drop)
    return found


def _drop(sync_engine: Any) -> None:
    """On ``engine_disposed``: the reader closes with the engine's connections."""
    found = _readers.pop(sync_engine, None)
    if found is not None:
        found.close()
