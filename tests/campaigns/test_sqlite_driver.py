"""The SQLite driver: statements on the loop's thread, waits and commits on aiosqlite's."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaigns.storage.engine import make_engine
from campaigns.storage.fast.sqlite_driver import (
    CHECKPOINT_EVERY,
    connector,
    long_running,
    offloaded,
)

Trace = list[tuple[str, bool]]


def _verb(sql: str) -> str:
    word = sql.split()[0].upper()
    return sql if word == "PRAGMA" and "checkpoint" in sql.lower() else word


@pytest.fixture
async def traced(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, Trace]]:
    """An engine on a file with a table, recording each statement and whether it ran on
    the loop's thread."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    async with engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
    loop_thread = threading.get_ident()
    trace: Trace = []
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.set_trace_callback(
            lambda sql: trace.append((_verb(sql), threading.get_ident() == loop_thread))
        )
    yield engine, trace
    await engine.dispose()


async def test_transactions_run_on_the_loop_thread(traced: tuple[AsyncEngine, Trace]) -> None:
    """Statements and commits cost no thread trip."""
    engine, trace = traced
    async with engine.begin() as conn:
        await conn.execute(sa.text("INSERT INTO t VALUES (1)"))
        assert (await conn.execute(sa.text("SELECT count(*) FROM t"))).scalar() == 1
    ran = [(sql, here) for sql, here in trace if not sql.startswith("PRAGMA")]
    assert ran == [("BEGIN", True), ("INSERT", True), ("SELECT", True), ("COMMIT", True)]


async def test_checkpoints_run_on_a_connection_of_their_own(
    traced: tuple[AsyncEngine, Trace],
) -> None:
    """Every CHECKPOINT_EVERY commits a passive checkpoint (an fsync) runs on its own
    connection and thread; SQLite never checkpoints on its own in a commit on the loop."""
    engine, trace = traced
    for n in range(CHECKPOINT_EVERY + 1):
        async with engine.begin() as conn:
            await conn.execute(sa.text("INSERT INTO t VALUES (:n)"), {"n": n})
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert (await conn.execute(sa.text("PRAGMA wal_autocheckpoint"))).scalar() == 0
    for _ in range(1000):  # the checkpoint thread reports within 10 s
        if raw.checkpoints:
            break
        await asyncio.sleep(0.01)
    assert raw.checkpoints == 1
    assert all(here for sql, here in trace if sql != "PRAGMA")
    assert not [sql for sql, _ in trace if "wal_checkpoint" in sql.lower()]


async def test_offloaded_statements_run_in_the_thread(traced: tuple[AsyncEngine, Trace]) -> None:
    """Long statements can be sent to the connection's thread."""
    engine, trace = traced
    with offloaded():
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT count(*) FROM t"))
    assert ("SELECT", False) in trace and ("SELECT", True) not in trace


async def test_long_running_methods_run_their_statements_in_the_thread(
    traced: tuple[AsyncEngine, Trace],
) -> None:
    """Imports and statistics are marked long-running: their statements leave the loop."""
    engine, trace = traced

    @long_running
    async def count() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(sa.text("SELECT count(*) FROM t"))).scalar_one())

    assert await count() == 0
    async with engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))
    assert [here for sql, here in trace if sql == "SELECT"] == [False, True]


async def test_a_locked_database_is_waited_for_in_the_thread(
    traced: tuple[AsyncEngine, Trace], tmp_path: Path
) -> None:
    """Another process's write lock: the write waits off the loop, then succeeds."""
    engine, trace = traced
    other = sqlite3.connect(tmp_path / "d.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (7)")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    async def release() -> None:
        await asyncio.sleep(0.3)
        other.execute("COMMIT")

    ticker = asyncio.create_task(tick())
    releaser = asyncio.create_task(release())
    async with asyncio.timeout(10):
        async with engine.begin() as conn:
            await conn.execute(sa.text("INSERT INTO t VALUES (8)"))
    ticker.cancel()
    await releaser
    other.close()
    assert ticks >= 10, "the event loop was blocked while waiting for the lock"
    assert ("INSERT", False) in trace
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.text("SELECT x FROM t ORDER BY x"))).scalars().all()
    assert rows == [7, 8]


async def test_errors_other_than_busy_are_raised_at_once(
    traced: tuple[AsyncEngine, Trace],
) -> None:
    """A bad statement fails on the spot, not after a wait."""
    engine, _ = traced
    with pytest.raises(sa.exc.OperationalError, match="no such table"):
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT * FROM missing"))


async def test_closing_after_a_cancelled_statement_waits_for_it(tmp_path: Path) -> None:
    """A close after a cancellation queues behind the statement still running in the
    thread (closing under it crashed the process)."""
    connection = await connector(f"sqlite:///{tmp_path / 'c.db'}", timeout=1)()
    slow = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000000) "
        "SELECT count(*) FROM n"
    )

    async def long_read() -> None:
        with offloaded():
            await connection.execute(slow)

    task = asyncio.create_task(long_read())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(30):
        await connection.close()
