"""Pacing simulation: the real engine and store, in virtual time, progressive vs predictive.

    .venv/bin/python bench/bench_pacing.py [--hours 8] [--agents 20] [--seed 1]

20 agents, 25 % of calls answered by a person, 10 % by machines, exponential talk time
with mean 120 s, 15 s wrap-up, 8 hours. Prints, for each mode, agent talk minutes per
logged-in hour, the abandon rate (abandoned / calls answered by a person) and calls per
hour. Target for predictive: at least 50 talk minutes per agent hour with the abandon rate
at or under 3 % (a well-tuned VICIdial reaches 45-50); progressive is the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from campaigns.importer import ContactRow
from campaigns.migrate import upgrade
from campaigns.model import CampaignState, Outcome
from campaigns.spec import CampaignSpec
from campaigns.sqlbase import make_engine
from campaigns.sqlstore import SqlStore
from dialer.agents import Roster
from dialer.clock import LoopClock
from dialer.engine import Engine, EngineConfig
from dialer.testing import (
    CallModel,
    CountingStore,
    SimulatedAgents,
    SimulatedPbx,
    VirtualTimeLoop,
)

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 in Oslo, a Monday
MODEL = CallModel(
    human=0.25, machine=0.10, busy=0.10, congestion=0.02, invalid=0.02, mean_talk=120.0
)
TARGET_TALK = 50.0
CAP = 0.03


async def simulate(
    loop: VirtualTimeLoop, folder: Path, mode: str, hours: float, agents: int, seed: int
) -> dict[str, float]:
    loop.in_flight += 1
    sql = make_engine(f"sqlite+aiosqlite:///{folder / f'{mode}.db'}")
    await upgrade(sql)
    raw = SqlStore(sql)
    spec = CampaignSpec.parse(
        {
            "name": mode,
            "dialing": {
                "mode": mode,
                "max_concurrent": 200,
                "calls_per_second": 20,
                "ring_timeout_seconds": 30,
            },
            "hours": {"start": "00:00", "end": "23:59", "weekdays": [0, 1, 2, 3, 4, 5, 6]},
            "retry": {"max_attempts": 3},
            "wrapup": {"seconds": 15},
        }
    )
    campaign = await raw.create_campaign(spec, START)
    await raw.set_campaign_state(campaign.id, CampaignState.RUNNING, START)
    needed = int(agents * hours * 400)  # far more than can be dialled
    for first in range(0, needed, 5000):
        rows = [
            ContactRow(i + 2, f"+474{i:07d}", "Europe/Oslo", {})
            for i in range(first, min(needed, first + 5000))
        ]
        await raw.add_contacts(campaign.id, rows, START)
    loop.in_flight -= 1

    clock = LoopClock(START)
    roster = Roster()
    pbx = SimulatedPbx(MODEL, seed=seed)
    floor = SimulatedAgents(roster, clock, wrapup_seconds=15.0)
    engine = Engine(
        store=CountingStore(raw, loop),
        bridge=pbx,
        roster=roster,
        clock=clock,
        config=EngineConfig(owner="bench", max_idle=600),
        events=floor,
    )
    for agent_id in range(1, agents + 1):
        roster.login(agent_id, f"PJSIP/agent{agent_id}", [campaign.id], clock.now())
        roster.ready(agent_id, clock.now())
    task = asyncio.get_running_loop().create_task(engine.run())
    await asyncio.sleep(hours * 3600)
    talk = pbx.talk_until_now()
    calls = len(pbx.originates)
    for agent_id in range(1, agents + 1):
        roster.logout(agent_id)
    engine.stop()
    await task
    loop.in_flight += 1
    await raw.dispose()
    loop.in_flight -= 1
    answered = floor.outcomes.get(Outcome.ANSWERED, 0)
    abandoned = floor.outcomes.get(Outcome.ABANDONED, 0)
    return {
        "talk_minutes_per_agent_hour": talk / 60 / (agents * hours),
        "abandon_rate": abandoned / (answered + abandoned) if answered + abandoned else 0.0,
        "calls_per_hour": calls / hours,
        "answered": answered,
        "abandoned": abandoned,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    print(
        f"{args.agents} agents, {args.hours:g} h, 25% human / 10% machine, "
        "talk exp(120 s), wrap-up 15 s"
    )
    print(
        f"{'mode':12} {'talk min/agent h':>17} {'vs 50':>7} {'abandon':>8} {'vs 3%':>7} "
        f"{'calls/h':>8} {'answered':>9} {'abandoned':>9} {'real s':>7}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("progressive", "predictive"):
            loop = VirtualTimeLoop()
            started = time.perf_counter()
            try:
                r = loop.run_until_complete(
                    simulate(loop, Path(tmp), mode, args.hours, args.agents, args.seed)
                )
            finally:
                loop.close()
            print(
                f"{mode:12} {r['talk_minutes_per_agent_hour']:>17.1f} "
                f"{r['talk_minutes_per_agent_hour'] / TARGET_TALK:>6.2f}x "
                f"{r['abandon_rate']:>7.2%} {r['abandon_rate'] / CAP:>6.2f}x "
                f"{r['calls_per_hour']:>8.0f} {r['answered']:>9.0f} {r['abandoned']:>9.0f} "
                f"{time.perf_counter() - started:>7.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
