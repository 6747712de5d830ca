"""Dispatch latency: from an agent becoming free to the Originate arriving at the PBX.

    .venv/bin/python bench/bench_dispatch.py [--dispatches 10000]

The real engine, SQLite store and AMI bridge, against the PBX simulator over TCP on
127.0.0.1. One agent in a progressive campaign; every number is busy, so each call ends
at once. Each round pauses the agent, waits until no call is in progress, makes the agent
ready (t0) and measures until the simulator has read the Originate (t1): wake-up, pacing,
claim, attempt record, rate limiter, AMI encoding, TCP. Target: p99 under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ami_bridge.simulator import Behaviour, PbxSimulator
from campaigns.model import CampaignState, ContactRow
from campaigns.spec import CampaignSpec
from campaigns.storage.store import SqlStore
from dialer.app import build_engine, open_bridge, open_store
from dialer.clock import SystemClock
from dialer.roster import AgentStatus, Roster
from dialer.settings import load_settings

TARGET_P99_MS = 50.0


class TimedSimulator(PbxSimulator):
    """The simulator, noting when each Originate was read."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arrived = asyncio.Event()

    def _originate(self, session: Any, m: Any) -> None:
        self.arrived.set()
        super()._originate(session, m)


async def run(dispatches: int, folder: Path) -> list[float]:
    settings = load_settings(
        data_dir=folder, database_url="", instance_id="bench", ami={"simulate": True}
    )
    simulator = {"rules": [(r".", Behaviour.BUSY)], "time_scale": 0.001}
    async with (
        open_store(settings) as store,
        open_bridge(settings, simulator_options=simulator, simulator=TimedSimulator) as (
            bridge,
            sim,
        ),
    ):
        assert isinstance(sim, TimedSimulator)
        pbx = sim
        await fill(store, dispatches + 10)
        roster = Roster()
        clock = SystemClock()
        engine = build_engine(settings, store=store, bridge=bridge, roster=roster, clock=clock)
        roster.login(1, "PJSIP/agent1", [1], clock.now())
        task = asyncio.create_task(engine.run())
        latencies = []
        loop = asyncio.get_running_loop()
        for _ in range(dispatches):
            seat = roster.get(1)
            if seat is not None and seat.status is not AgentStatus.PAUSED:
                roster.pause(1, "bench", clock.now())
            await asyncio.wait_for(engine.until_quiet(), 5)
            pbx.arrived.clear()
            start = loop.time()
            roster.ready(1, clock.now())
            await asyncio.wait_for(pbx.arrived.wait(), 5)
            latencies.append((loop.time() - start) * 1000)
        engine.stop()
        await task
        return latencies


async def fill(store: SqlStore, n: int) -> None:
    now = datetime.now(UTC)
    spec = CampaignSpec.parse(
        {
            "name": "dispatch",
            "dialing": {"mode": "progressive", "calls_per_second": 1000, "max_concurrent": 10},
            "hours": {"start": "00:00", "end": "23:59", "weekdays": [0, 1, 2, 3, 4, 5, 6]},
            "retry": {"max_attempts": 1},
        }
    )
    campaign = await store.create_campaign(spec, now)
    for first in range(0, n, 5000):
        rows = [
            ContactRow(i + 2, f"+474{i:07d}", "Europe/Oslo", {})
            for i in range(first, min(n, first + 5000))
        ]
        await store.add_contacts(campaign.id, rows, now)
    await store.set_campaign_state(campaign.id, CampaignState.RUNNING, now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dispatches", type=int, default=10_000)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        latencies = asyncio.run(run(args.dispatches, Path(tmp)))
    q = statistics.quantiles(latencies, n=100)
    p50, p99 = statistics.median(latencies), q[98]
    took = time.perf_counter() - started
    print(f"dispatch latency over {len(latencies):,} dispatches ({took:.0f} s)")
    print(f"p50 {p50:.2f} ms   p99 {p99:.2f} ms   max {max(latencies):.2f} ms")
    print(f"p99 vs target {TARGET_P99_MS:.0f} ms: {p99 / TARGET_P99_MS:.2f}x")


if __name__ == "__main__":
    main()
