"""aiosqlite, with statements run on the event loop unless they would wait.

aiosqlite runs every call on its connection's thread and wakes the event loop with each
result: creating a cursor, executing, fetching the rows, closing the cursor, committing,
and the rollback SQLAlchemy's pool issues on every check-in. Under load each of those
trips waits for its turn in the loop, and all that time the service's one SQLite
connection is held: requests queue behind trips, not behind work (the agent API served
90 requests/s at 45 % of a core that way). SQLite's own work for our statements takes
microseconds, so here statements and commits run on the loop's thread, with no busy
timeout. A transaction then runs without yielding to the loop, and the connection is
never held by a task that waits. Only what can wait goes to aiosqlite's thread:

- a statement SQLite refused as busy (another process holds the write lock, such as a
  CLI import): it is run again there, waiting up to the connection's timeout;
- WAL checkpoints, which fsync: automatic checkpoints are off (with synchronous=NORMAL,
  a commit then writes the WAL without fsync), and every ``CHECKPOINT_EVERY`` commits a
  passive checkpoint runs on a connection and thread of its own. Passive, it takes no
  lock that the service's connection would wait for;
- statements run under :func:`offloaded`: the long ones (statistics, bulk imports).

The two threads never use the connection at once: the pool hands it to one task at a
time, and whatever comes while a job of the thread is unfinished (a task cancelled during
its commit, then the pool's rollback or close) queues behind that job in the thread.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

import aiosqlite
import structlog
from sqlalchemy.engine import make_url

log = structlog.get_logger()
P = ParamSpec("P")
T = TypeVar("T")

# About 1,000 WAL pages at a few pages a commit: SQLite's own automatic interval.
CHECKPOINT_EVERY = 200

_offloaded: ContextVar[bool] = ContextVar("ringback_sqlite_offloaded", default=False)


@contextmanager
def offloaded() -> Iterator[None]:
    """Statements in this block run on the connection's thread: for long ones."""
    token = _offloaded.set(True)
    try:
        yield
    finally:
        _offloaded.reset(token)


def long_running(
    method: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """A store method whose statements run :func:`offloaded` (imports, statistics)."""

    @functools.wraps(method)
    async def offloading(*args: P.args, **kwargs: P.kwargs) -> T:
        with offloaded():
            return await method(*args, **kwargs)

    return offloading


class _Connection(aiosqlite.Connection):
    def __init__(
        self,
        connector: Callable[[], sqlite3.Connection],
        timeout: float,
        checkpointer: _Checkpointer | None,
    ) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._timeout_ms = int(timeout * 1000)
        self._thread_idle = threading.Event()
        self._thread_idle.set()
        self._commits = 0
        self._checkpointer = checkpointer

    @property
    def checkpoints(self) -> int:
        """Checkpoints run so far (for tests)."""
        return self._checkpointer.done if self._checkpointer else 0

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            if self._checkpointer is not None:
                await asyncio.to_thread(self._checkpointer.stop)

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        connection = self._connection
        name = getattr(fn, "__name__", "")
        if connection is None or not self._running or not self._thread_idle.is_set():
            return await self._in_thread(fn, args, kwargs)
        if name == "close" and getattr(fn, "__self__", None) is connection:
            return await self._in_thread(fn, args, kwargs)
        if name == "commit" and self._checkpointer is not None:
            self._commits += 1
            if self._commits % CHECKPOINT_EVERY == 0:
                self._checkpointer.request()
        if _offloaded.get():
            return await self._in_thread(fn, args, kwargs, wait=True)
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
        # Refused before doing anything: waiting for the lock is safe in the thread.
        return await self._in_thread(fn, args, kwargs, wait=True)

    async def _in_thread(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        wait: bool = False,
    ) -> Any:
        """Run ``fn`` on aiosqlite's thread; with ``wait``, waiting up to the timeout for
        another process's lock."""
        # Set by the thread when the job is over, even if its caller was cancelled.
        done = self._thread_idle = threading.Event()
        connection = self._connection

        def job() -> Any:
            try:
                if not wait or connection is None:
                    return fn(*args, **kwargs)
                connection.execute(f"PRAGMA busy_timeout = {self._timeout_ms}")
                try:
                    return fn(*args, **kwargs)
                finally:
                    connection.execute("PRAGMA busy_timeout = 0")
            finally:
                done.set()

        # aiosqlite leaves _execute unannotated.
        return await super()._execute(job)  # type: ignore[no-untyped-call]


class _Checkpointer:
    """Passive WAL checkpoints, when asked, on a connection and thread of its own."""

    def __init__(self, database: str, uri: bool) -> None:
        self._database = database
        self._uri = uri
        self._wanted = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.done = 0

    def request(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
            self._thread.start()
        self._wanted.set()

    def stop(self) -> None:
        self._stopping = True
        self._wanted.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self._database, uri=self._uri)
        try:
            while True:
                self._wanted.wait()
                self._wanted.clear()
                if self._stopping:
                    return
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:
                    # The next request tries again; the WAL only grows meanwhile.
                    log.warning("sqlite_checkpoint_failed", error=str(exc))
                else:
                    self.done += 1
        finally:
            connection.close()


def connector(url: str, timeout: float) -> Callable[[], aiosqlite.Connection]:
    """An ``async_creator`` for SQLAlchemy's aiosqlite dialect, for ``url``'s database.

    ``timeout``: how long a statement waits for another process's lock (in the thread).
    """
    parsed = make_url(url)
    database = parsed.database or ":memory:"
    uri = parsed.query.get("uri") in ("true", "1")

    def create() -> aiosqlite.Connection:
        def connect() -> sqlite3.Connection:
            # No busy wait on the loop; check_same_thread off: both threads use it.
            connection = sqlite3.connect(database, timeout=0, check_same_thread=False, uri=uri)
            connection.execute("PRAGMA wal_autocheckpoint = 0")
            return connection

        memory = database == ":memory:" or "mode=memory" in database
        connection = _Connection(connect, timeout, None if memory else _Checkpointer(database, uri))
        connection._thread.daemon = True  # as SQLAlchemy does for its own aiosqlite connections
        return connection

    return create
