"""Shared fixtures: a store on SQLite and on PostgreSQL, each test in a fresh schema."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaigns.storage.engine import make_engine
from campaigns.storage.migrate import upgrade
from campaigns.storage.store import SqlStore
from dialer.testing import TEST_PG_URL

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday, 11:00 in Oslo


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every storage test runs on both backends; PostgreSQL is not optional."""
    return str(request.param)


@pytest.fixture
async def engine(backend: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A migrated database: a SQLite file, or a throw-away PostgreSQL schema."""
    if backend == "sqlite":
        eng = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        await upgrade(eng)
        yield eng
        await eng.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(TEST_PG_URL)
    async with admin.begin() as conn:
        await conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    eng = make_engine(TEST_PG_URL, connect_args={"server_settings": {"search_path": schema}})
    try:
        await upgrade(eng)
        yield eng
    finally:
        await eng.dispose()
        async with admin.begin() as conn:
            await conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.dispose()


@pytest.fixture
async def store(engine: AsyncEngine) -> SqlStore:
    """The SQL store over the migrated test database."""
    return SqlStore(engine)
