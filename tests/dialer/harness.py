"""Run the real engine on a real store in virtual time (see dialer.testing)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from campaigns.model import CampaignState, ContactRow
from campaigns.spec import CampaignSpec
from campaigns.storage.engine import make_engine
from campaigns.storage.migrate import upgrade
from campaigns.storage.store import SqlStore
from dialer.app import build_engine
from dialer.clock import LoopClock
from dialer.engine import Engine
from dialer.roster import Roster
from dialer.settings import load_settings
from dialer.testing import CallModel, CountingStore, SimulatedAgents, SimulatedPbx, VirtualTimeLoop

T = TypeVar("T")
# Monday 23 November 2026, 09:00 in Oslo: inside the default calling hours.
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SETTINGS = load_settings(database_url="sqlite+aiosqlite://")


def run_virtual(main: Callable[[VirtualTimeLoop], Awaitable[T]]) -> T:
    """Run ``main(loop)`` to completion on a fresh virtual-time loop."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main(loop))
    finally:
        # After a failed scenario: end what is left before closing the loop.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(_settle(pending))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _settle(tasks: set[asyncio.Task[Any]]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class Floor:
    loop: VirtualTimeLoop
    store: Any  # CountingStore over SqlStore
    raw: SqlStore
    pbx: SimulatedPbx
    roster: Roster
    clock: LoopClock
    agents: SimulatedAgents
    engine: Engine
    campaign_id: int
    task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.engine.run())

    async def stop(self) -> None:
        """Stop gracefully: calls in progress finish their bookkeeping."""
        self.engine.stop()
        assert self.task is not None
        async with asyncio.timeout(3600):
            await self.task

    async def kill(self) -> None:
        """Stop dead, as SIGKILL would: nothing more is written."""
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def close(self) -> None:
        with counted(self.loop):
            await self.raw.dispose()

    def login(self, *agent_ids: int, ready: bool = True) -> None:
        for agent_id in agent_ids:
            self.roster.login(agent_id, f"PJSIP/agent{agent_id}", [self.campaign_id], self.now())
            if ready:
                self.roster.ready(agent_id, self.now())

    def now(self) -> datetime:
        return self.clock.now()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@contextmanager
def counted(loop: VirtualTimeLoop) -> Iterator[None]:
    loop.in_flight += 1
    try:
        yield
    finally:
        loop.in_flight -= 1


async def make_floor(
    loop: VirtualTimeLoop,
    tmp_path: Path,
    *,
    contacts: int,
    spec: dict[str, Any] | None = None,
    model: CallModel | None = None,
    seed: int = 1,
    outcome_for: Any = None,
    wrapup_seconds: float = 15.0,
    owner: str = "test",
    db: str = "engine.db",
    start_at: datetime = START,
    max_idle: float = 600.0,
    raw: SqlStore | None = None,
    campaign_id: int | None = None,
    pbx: SimulatedPbx | None = None,
) -> Floor:
    if raw is None and campaign_id is not None:
        # An existing database (a restart).
        raw = SqlStore(make_engine(f"sqlite+aiosqlite:///{tmp_path / db}"))
    if raw is None:
        with counted(loop):
            engine_sql = make_engine(f"sqlite+aiosqlite:///{tmp_path / db}")
            await upgrade(engine_sql)
            raw = SqlStore(engine_sql)
            campaign = await raw.create_campaign(
                CampaignSpec.parse({"name": "c", **(spec or {})}), start_at
            )
            await raw.set_campaign_state(campaign.id, CampaignState.RUNNING, start_at)
            rows = [
                ContactRow(i + 2, f"+4741{i:06d}", "Europe/Oslo", {"n": str(i)})
                for i in range(contacts)
            ]
            for i in range(0, len(rows), 5000):
                await raw.add_contacts(campaign.id, rows[i : i + 5000], start_at)
            campaign_id = campaign.id
    assert campaign_id is not None
    store = CountingStore(raw, loop)
    clock = LoopClock(start_at)
    roster = Roster()
    pbx = pbx or SimulatedPbx(model, seed=seed, outcome_for=outcome_for)
    agents = SimulatedAgents(roster, clock, wrapup_seconds)
    engine = build_engine(
        SETTINGS,
        store=store,
        bridge=pbx,
        roster=roster,
        clock=clock,
        events=agents,
        owner=owner,
        lease=timedelta(minutes=5),
        max_idle=max_idle,
    )
    return Floor(loop, store, raw, pbx, roster, clock, agents, engine, campaign_id)
