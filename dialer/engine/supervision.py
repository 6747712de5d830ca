"""Campaign supervision: one pacing task per running campaign, started and ended as
campaigns start, pause and change (here or in another process).

Each pacing task asks the :class:`~dialer.engine.placing.Placer` how many calls to place,
places them, and sleeps until something wakes it (an agent freed, a call settled, the
campaign changed) or the next due contact, never on a fixed tick.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

import structlog

from ami_bridge import AmiBridge
from campaigns.model import CampaignState
from campaigns.ports import Store
from campaigns.spec import Campaign
from dialer.clock import Clock, seconds_until
from dialer.engine.config import EngineConfig
from dialer.engine.placing import Placer
from dialer.engine.waiting import guard, until_pbx_available, wait
from dialer.roster import Roster

log = structlog.get_logger()
_PACING_SHARE = 5
"""A pacing decision waits this many times as long as the last one took since it..."""
_MAX_COALESCE = 0.025
"""... up to this many seconds."""
Spawn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]


class Supervisor:
    def __init__(
        self,
        *,
        store: Store,
        bridge: AmiBridge,
        roster: Roster,
        clock: Clock,
        config: EngineConfig,
        placer: Placer,
        stopping: asyncio.Event,
        running_changed: Callable[[], None],
    ) -> None:
        self._store = store
        self._bridge = bridge
        self._roster = roster
        self._clock = clock
        self._config = config
        self._placer = placer
        self._stopping = stopping
        self._running_changed = running_changed
        self._campaigns: dict[int, Campaign] = {}
        self._runners: dict[int, asyncio.Task[None]] = {}
        self._wakes: dict[int, asyncio.Event] = {}
        self._wake = asyncio.Event()

    def known(self, campaign_id: int) -> Campaign | None:
        """The campaign as last read from the store."""
        return self._campaigns.get(campaign_id)

    def running(self) -> list[int]:
        return [c.id for c in self._campaigns.values() if c.state is CampaignState.RUNNING]

    def wake(self, campaign_id: int | None = None) -> None:
        """Read the campaigns again now; and wake this campaign's pacing task."""
        self._wake.set()
        if campaign_id is not None:
            self.wake_campaign(campaign_id)

    def wake_campaign(self, campaign_id: int) -> None:
        """Wake the campaign's pacing task, if it has one."""
        if campaign_id in self._wakes:
            self._wakes[campaign_id].set()

    def stop_runners(self) -> None:
        for runner in self._runners.values():
            runner.cancel()

    async def supervise(self, spawn: Spawn) -> None:
        """Keep one pacing task per running campaign."""
        while True:
            self._wake.clear()
            try:
                campaigns = await self._store.list_campaigns()
            except Exception:
                log.exception("campaign_list_failed")
                campaigns = list(self._campaigns.values())
            running = {c.id: c for c in campaigns if c.state is CampaignState.RUNNING}
            was_running = set(self.running())
            self._campaigns = {c.id: c for c in campaigns}
            for campaign_id in running:
                task = self._runners.get(campaign_id)
                if task is None or task.done():
                    self._wakes.setdefault(campaign_id, asyncio.Event())
                    self._runners[campaign_id] = spawn(
                        self._pace(campaign_id), f"campaign-{campaign_id}"
                    )
            for campaign_id, wake in self._wakes.items():
                if campaign_id not in running:
                    wake.set()  # its runner sees the state and ends
            self._roster.running(running)
            if set(running) != was_running:
                self._running_changed()  # callbacks of a resumed campaign may go now
            await wait(self._wake, self._config.max_idle)

    async def watch(self) -> None:
        """A campaign started, paused or changed (here or by another process): look now."""
        while True:
            try:
                async with contextlib.aclosing(self._store.watch_campaigns()) as changes:
                    async for _ in changes:
                        self._wake.set()
            except Exception:
                log.exception("campaign_watch_failed")
            await asyncio.sleep(self._config.max_idle)  # then listen again

    async def _pace(self, campaign_id: int) -> None:
        wake = self._wakes[campaign_id]
        log.info("campaign_dialing", campaign_id=campaign_id)
        loop = asyncio.get_running_loop()
        decided_at = took = 0.0
        while not self._stopping.is_set():
            wake.clear()
            campaign = self._campaigns.get(campaign_id)
            if campaign is None or campaign.state is not CampaignState.RUNNING:
                break
            timeout = self._config.max_idle
            if not self._bridge.available:
                await until_pbx_available(self._bridge, self._stopping)
                continue
            # A decision looks at every call in flight and every agent, and a large floor
            # changes hundreds of times a second: deciding at each change took three
            # quarters of the process at 500 agents, and the AMI events queued behind it
            # (answers seen 8 s late, so the pacer dialled for answers already in). The
            # pacer takes at most a fifth of the time, and a change waits at most
            # _MAX_COALESCE for its decision; what changes meanwhile is in that decision.
            pause = decided_at + min(_MAX_COALESCE, _PACING_SHARE * took) - loop.time()
            if pause > 0:
                await asyncio.sleep(pause)
            decided_at = loop.time()
            wanted, recheck = self._placer.capacity(campaign)
            took = loop.time() - decided_at
            if recheck is not None:
                timeout = min(timeout, recheck)
            if wanted > 0:
                try:
                    placed = await self._placer.dial_batch(campaign, wanted)
                except Exception:
                    log.exception("dial_batch_failed", campaign_id=campaign_id)
                    placed = 0
                if placed >= wanted:
                    continue
                due = await guard(self._store.next_due_at(campaign_id))
                if isinstance(due, datetime):
                    timeout = min(timeout, seconds_until(self._clock, due) + 0.01)
            await wait(wake, timeout)
        log.info("campaign_idle", campaign_id=campaign_id)
        self._runners.pop(campaign_id, None)
