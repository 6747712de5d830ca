"""aiosqlite with fewer trips to its thread.

aiosqlite runs every call on its connection's thread and wakes the event loop with each
result: creating a cursor, executing, fetching the rows, closing the cursor, and the
rollback SQLAlchemy's pool issues on every check-in. A one-row read costs six such trips,
more than the read itself. Here only what can wait on the database file goes to the
thread: executing a statement (it may wait for another process's write lock, or read
pages from disk), committing (a WAL checkpoint fsyncs) and a real rollback. Cursors are
made and closed, already stepped rows fetched, and a rollback with no transaction open
(a no-op in SQLite) done on the caller's thread.

The connection is still used by one task at a time (the pool hands it to one checkout),
so the two threads never use it at once, save one case: a statement left running in the
thread by a cancelled task. SQLite's serialized mode makes the other thread wait for it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import aiosqlite
from sqlalchemy.engine import make_url

# Calls on a cursor that only touch rows SQLite has already produced, or free the cursor.
_CURSOR_INLINE = frozenset({"fetchone", "fetchmany", "fetchall", "close"})


class _Connection(aiosqlite.Connection):
    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._connection is not None and self._running and _inline(fn, self._connection):
            return fn(*args, **kwargs)
        # aiosqlite leaves _execute unannotated.
        return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]


def _inline(fn: Callable[..., Any], connection: sqlite3.Connection) -> bool:
    owner = getattr(fn, "__self__", None)
    name = getattr(fn, "__name__", "")
    if isinstance(owner, sqlite3.Cursor):
        return name in _CURSOR_INLINE
    if owner is connection:
        return name == "cursor" or (name == "rollback" and not connection.in_transaction)
    return False


def connector(url: str, timeout: float) -> Callable[[], aiosqlite.Connection]:
    """An ``async_creator`` for SQLAlchemy's aiosqlite dialect, for ``url``'s database."""
    parsed = make_url(url)
    database = parsed.database or ":memory:"
    uri = parsed.query.get("uri") in ("true", "1")

    def create() -> aiosqlite.Connection:
        # check_same_thread off: statements run on aiosqlite's thread, the rest here.
        def connect() -> sqlite3.Connection:
            return sqlite3.connect(database, timeout=timeout, check_same_thread=False, uri=uri)

        connection = _Connection(connect, iter_chunk_size=64)
        connection._thread.daemon = True  # as SQLAlchemy does for its own aiosqlite connections
        return connection

    return create
