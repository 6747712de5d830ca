"""Statements straight through sqlite3: the rows SQLAlchemy would give, or SQLAlchemy itself."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from campaigns.storage import tables as t
from campaigns.storage.engine import make_engine
from campaigns.storage.fast.prepared import Prepared, Writes, read, reader, write

_meta = sa.MetaData()
_things = sa.Table(
    "things",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(20), nullable=True),
    sa.Column("at", t.UtcDateTime(), nullable=True),
    sa.Column("flag", sa.Boolean, nullable=False),
    sa.Column("data", t.Json, nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
)
_BY_KIND = Prepared(
    sa.select(_things, (_things.c.id * 10).label("tenfold"))
    .where(_things.c.kind == sa.bindparam("b_kind"), _things.c.flag.is_(True))
    .order_by(_things.c.id)
)
_FIXED = Prepared(sa.select(_things.c.id).where(_things.c.kind == "b").order_by(_things.c.id))
_AT = datetime(2026, 11, 23, 10, 30, 15, 123456, tzinfo=UTC)


async def _filled(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_meta.create_all)
        await conn.execute(
            sa.insert(_things),
            [
                {"name": "å", "at": _AT, "flag": True, "data": {"n": [1, 2]}, "kind": "a"},
                {"name": None, "at": None, "flag": True, "data": {}, "kind": "a"},
                {"name": "x", "at": _AT, "flag": False, "data": {"n": 3}, "kind": "a"},
                {"name": "y", "at": _AT, "flag": True, "data": [], "kind": "b"},
            ],
        )


async def test_rows_are_those_sqlalchemy_gives(engine: AsyncEngine) -> None:
    """Types (aware datetimes, booleans, JSON, nulls), labels, bound and fixed values."""
    await _filled(engine)
    async with engine.connect() as conn:
        expected = (await conn.execute(_BY_KIND.statement, {"b_kind": "a"})).all()
        fixed = (await conn.execute(_FIXED.statement)).all()
    rows = await read(engine, _BY_KIND, {"b_kind": "a"})
    assert [tuple(row) for row in rows] == [tuple(row) for row in expected]
    assert rows[0].at == _AT and rows[0].at.tzinfo is not None
    assert rows[0].data == {"n": [1, 2]} and rows[0].flag is True
    assert rows[0]._mapping["tenfold"] == 10
    assert [tuple(row) for row in await read(engine, _FIXED)] == [tuple(row) for row in fixed]
    assert (reader(engine) is not None) == (engine.dialect.name == "sqlite")


async def test_a_reader_outlives_the_engine_being_disposed(tmp_path: Path) -> None:
    """Disposing of the engine closes its reader; the next read opens another."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'r.db'}")
    await _filled(engine)
    first = reader(engine)
    await engine.dispose()
    assert reader(engine) is not first
    assert len(await read(engine, _BY_KIND, {"b_kind": "a"})) == 2
    await engine.dispose()


async def test_in_memory_databases_read_through_sqlalchemy() -> None:
    """Another connection to :memory: would be another database."""
    engine = create_async_engine("sqlite+aiosqlite://")
    await _filled(engine)
    assert reader(engine) is None
    assert len(await read(engine, _BY_KIND, {"b_kind": "a"})) == 2
    await engine.dispose()


_ADD = Prepared(
    sa.insert(_things)
    .values(
        name=sa.bindparam("b_name"),
        at=sa.bindparam("b_at"),
        flag=sa.bindparam("b_flag"),
        data=sa.bindparam("b_data"),
        kind=sa.bindparam("b_kind"),
    )
    .returning(_things.c.id, _things.c.at, _things.c.data)
)
_FLIP = Prepared(
    sa.update(_things).where(_things.c.kind == sa.bindparam("b_kind")).values(flag=sa.false())
)


async def test_writes_bind_like_sqlalchemy_and_are_all_or_nothing(engine: AsyncEngine) -> None:
    """Parameters go through their types; an error rolls the whole transaction back."""
    await _filled(engine)

    async def add(tx: Writes) -> list[Any]:
        one = {"b_name": "z", "b_at": _AT, "b_flag": True, "b_data": {"k": 1}, "b_kind": "c"}
        await tx.many(_ADD, [{**one, "b_name": "m1"}, {**one, "b_name": "m2"}])
        assert await tx.count(_FLIP, {"b_kind": "a"}) == 3
        return await tx.rows(_ADD, one)

    (row,) = await write(engine, add)
    assert row.at == _AT and row.data == {"k": 1}
    async with engine.connect() as conn:
        names = await conn.execute(sa.select(_things.c.name).where(_things.c.kind == "c"))
        assert sorted(names.scalars()) == ["m1", "m2", "z"]
        assert [r.at for r in await read(engine, _BY_KIND, {"b_kind": "c"})] == [_AT] * 3

    async def fail(tx: Writes) -> None:
        await tx.count(_FLIP, {"b_kind": "c"})
        raise RuntimeError("half way")

    with pytest.raises(RuntimeError):
        await write(engine, fail)
    assert len(await read(engine, _BY_KIND, {"b_kind": "c"})) == 3
