"""Claiming the next 50 due contacts at 10k, 100k and 1M contacts, SQLite and PostgreSQL.

    .venv/bin/python bench/bench_claim.py [--sizes 10000,100000,1000000] [--claims 100]

Target: flat in the number of contacts (indexed) and under 5 ms median on both backends.
Half of the contacts are due, half are queued for later; a few carry priority.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from campaigns.model import CampaignState
from campaigns.spec import CampaignSpec
from campaigns.storage.engine import make_engine
from campaigns.storage.migrate import upgrade
from campaigns.storage.store import SqlStore
from dialer.testing import TEST_PG_URL

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TARGET_MS = 5.0

# Generated rows: phone from the row number, half due an hour ago, half due tomorrow,
# one in a thousand with priority (abandoned calls waiting to be redialled).
_FILL = """
INSERT INTO contacts (campaign_id, phone, timezone, state, due_at, priority, attempts, dials,
                      attributes, created_at, updated_at)
SELECT :cid, '+4740' || CAST(100000000 + n AS TEXT), 'Europe/Oslo',
       CASE WHEN n % 2 = 0 THEN 'pending' ELSE 'retry' END,
       CASE WHEN n % 2 = 0 THEN :past ELSE :future END,
       CASE WHEN n % 1000 = 0 THEN 5 ELSE 0 END, 0, 0, {attrs}, :now, :now
FROM numbers
"""


async def fill(store: SqlStore, engine: sa.ext.asyncio.AsyncEngine, size: int) -> int:
    campaign = await store.create_campaign(CampaignSpec(name=f"bench-{size}"), NOW)
    await store.set_campaign_state(campaign.id, CampaignState.RUNNING, NOW)
    postgres = engine.dialect.name == "postgresql"
    past = NOW - timedelta(hours=1)
    future = NOW + timedelta(days=1)
    numbers = (
        "WITH numbers(n) AS (SELECT generate_series(1, :size))"
        if postgres
        else "WITH RECURSIVE numbers(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers "
        "WHERE n < :size)"
    )
    if not postgres:
        past, future, now = (v.replace(tzinfo=None) for v in (past, future, NOW))
    else:
        now = NOW
    async with engine.begin() as conn:
        when = sa.DateTime(timezone=True)
        fill_rows = sa.text(
            numbers + _FILL.format(attrs="CAST('{}' AS JSONB)" if postgres else "'{}'")
        ).bindparams(
            sa.bindparam("past", type_=when),
            sa.bindparam("future", type_=when),
            sa.bindparam("now", type_=when),
        )
        await conn.execute(
            fill_rows,
            {"cid": campaign.id, "size": size, "past": past, "future": future, "now": now},
        )
        if postgres:
            await conn.execute(sa.text("ANALYZE contacts"))
        else:
            await conn.execute(sa.text("ANALYZE"))
    return campaign.id


async def measure(url: str, size: int, claims: int, **engine_kw: object) -> list[float]:
    engine = make_engine(url, **engine_kw)
    try:
        await upgrade(engine)
        store = SqlStore(engine)
        cid = await fill(store, engine, size)
        lease = NOW + timedelta(minutes=5)
        timings = []
        for _ in range(claims):
            start = time.perf_counter()
            got = await store.claim_due(cid, 50, NOW, "bench", lease)
            timings.append((time.perf_counter() - start) * 1000)
            assert len(got) == 50, len(got)
        return timings
    finally:
        await engine.dispose()


async def run_sqlite(size: int, claims: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        return await measure(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", size, claims)


async def run_postgres(size: int, claims: int) -> list[float]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(TEST_PG_URL)
    async with admin.begin() as conn:
        await conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        return await measure(
            TEST_PG_URL, size, claims, connect_args={"server_settings": {"search_path": schema}}
        )
    finally:
        async with admin.begin() as conn:
            await conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--claims", type=int, default=100)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"claim 50 due contacts, {args.claims} claims per size; target median < {TARGET_MS} ms")
    print(f"{'backend':10} {'contacts':>10} {'median ms':>10} {'p95 ms':>8} {'vs target':>10}")
    for backend, run in (("sqlite", run_sqlite), ("postgresql", run_postgres)):
        for size in sizes:
            timings = await run(size, args.claims)
            median = statistics.median(timings)
            p95 = statistics.quantiles(timings, n=20)[-1]
            print(
                f"{backend:10} {size:>10,} {median:>10.2f} {p95:>8.2f} {median / TARGET_MS:>9.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())
