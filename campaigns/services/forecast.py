"""Forecasting a campaign: its history replayed through a simulation of the floor.

The simulation is CPU work that blocks: it runs in a worker thread, at most
``concurrent`` at a time, and stops at the time limit. A thread shares the interpreter
lock with the event loop, so a running forecast slows the service's other requests a
little; the limits keep that short.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import datetime

from campaigns.errors import Code, Conflict, Invalid
from campaigns.hours import next_open
from campaigns.ports import Clock, Store
from campaigns.ports.forecast import Forecast, ForecastPlan, ForecastSimulator, HistoryStore


class Forecasts:
    def __init__(
        self,
        campaigns: Store,
        history: HistoryStore,
        simulate: ForecastSimulator,
        clock: Clock,
        *,
        time_limit: float | None = 20.0,
        concurrent: int = 1,
    ) -> None:
        self._campaigns = campaigns
        self._history = history
        self._simulate = simulate
        self._clock = clock
        self.time_limit = time_limit
        """Seconds a forecast may take, waiting for its turn included; None: no limit."""
        self._turns = asyncio.Semaphore(concurrent)
        self._running: set[asyncio.Future[Forecast]] = set()

    async def forecast(
        self,
        campaign_ref: int | str,
        *,
        agents: int,
        hours: float,
        seeds: int,
        start: datetime | None = None,
    ) -> Forecast:
        """Expected figures of the campaign's floor with ``agents`` agents for ``hours``
        from ``start`` (default: now, or when the campaign's calling hours next open in
        its own zone), over ``seeds`` runs. The campaign is found by id or name."""
        if agents < 1:
            raise Invalid("agents: at least 1", field="agents")
        if not (hours > 0 and math.isfinite(hours)):
            raise Invalid("hours: more than 0", field="hours")
        if seeds < 1:
            raise Invalid("seeds: at least 1", field="seeds")
        if start is not None and start.tzinfo is None:
            raise Invalid("start: a time with its UTC offset", field="start")
        campaign = await self._campaigns.get_campaign(campaign_ref)
        spec = campaign.spec
        if start is None:
            start = next_open(spec.hours, spec.timezone, self._clock())
        plan = ForecastPlan(agents=agents, hours=hours, seeds=seeds, start=start)
        history = await self._history.forecast_history(campaign.id)
        limit = self.time_limit
        began = time.monotonic()
        try:
            async with asyncio.timeout(limit):
                await self._turns.acquire()
        except TimeoutError:
            raise Conflict(
                f"other forecasts kept this one waiting {limit:g} s", code=Code.FORECAST_BUSY
            ) from None
        deadline = None if limit is None else began + limit
        # A thread cannot be cancelled: the turn is given back when the simulation ends,
        # not when a client that stopped waiting goes away.
        running = asyncio.ensure_future(
            asyncio.to_thread(self._simulate, campaign, history, plan, deadline=deadline)
        )
        self._running.add(running)
        running.add_done_callback(self._done)
        try:
            return await asyncio.shield(running)
        except TimeoutError:
            raise Invalid(
                f"the forecast took more than {limit:g} s: ask for fewer agents, hours or runs",
                code=Code.FORECAST_TOO_LONG,
            ) from None

    def _done(self, running: asyncio.Future[Forecast]) -> None:
        self._running.discard(running)
        self._turns.release()
        if not running.cancelled():
            running.exception()  # retrieved: nobody may be awaiting it any more
