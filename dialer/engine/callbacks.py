"""Delivering due callbacks, agent first: the owner when free, else (once the reservation
runs out, or for a callback booked for all) the first free agent of the campaign.

Owners a callback waits for are held back from ordinary calls, and the free agents due
callbacks wait for are not counted by the pacing (:meth:`CallbackDelivery.demand`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import structlog

from ami_bridge import AmiBridge
from campaigns.callbacks import Callback
from campaigns.errors import Conflict
from campaigns.model import CampaignState
from campaigns.ports import Store
from campaigns.spec import Campaign
from dialer.callbacks import Route, route
from dialer.clock import Clock, seconds_until
from dialer.engine.calls import Call
from dialer.engine.config import EngineConfig, EngineEvents
from dialer.engine.placing import Placer
from dialer.engine.waiting import guard, until_pbx_available, wait
from dialer.roster import Roster, Seat

log = structlog.get_logger()


class CallbackDelivery:
    def __init__(
        self,
        *,
        store: Store,
        bridge: AmiBridge,
        roster: Roster,
        clock: Clock,
        config: EngineConfig,
        placer: Placer,
        events: EngineEvents,
        known: Callable[[int], Campaign | None],
        stopping: asyncio.Event,
    ) -> None:
        self._store = store
        self._bridge = bridge
        self._roster = roster
        self._clock = clock
        self._config = config
        self._placer = placer
        self._events = events
        self._known = known
        self._stopping = stopping
        self._wake = asyncio.Event()
        self._look = True
        """Read the store on the next pass (else only route the pending callbacks)."""
        self._next_look = 0.0
        """Loop time by which the store is read again: the next booked callback's due
        time, or ``max_idle`` after the last look."""
        self._pending: dict[int, Callback] = {}
        """Due callbacks not yet delivered (bounded by the store's due callbacks)."""
        self._demand: dict[int, int] = {}
        self._elsewhere: set[int] = set()
        """Owners of pending callbacks logged in to another service, as of the last look."""

    def wake(self) -> None:
        """Campaigns or callbacks changed: read the due callbacks from the store again now."""
        self._look = True
        self._wake.set()

    def agents_changed(self) -> None:
        """An agent's state changed: route the pending callbacks again, if any. The store
        is not read for it: on a floor of a thousand agents that was two queries per state
        change, and what the store holds changes at the deadlines read from it."""
        if self._pending:
            self._wake.set()

    def demand(self, campaign_id: int) -> int:
        """Due callbacks of the campaign waiting for a free agent."""
        return self._demand.get(campaign_id, 0)

    def missed(self, callback: Callback) -> None:
        """The store put the callback back to due: offer it again (its reservation still
        holds for the owner)."""
        self._pending[callback.id] = callback
        self._wake.set()

    async def run(self) -> None:
        pending = self._pending
        for callback in await self._store.open_due_callbacks():
            pending[callback.id] = callback
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            if not self._bridge.available:
                await until_pbx_available(self._bridge, self._stopping)
                continue
            now = self._clock.now()
            look = self._look or loop.time() >= self._next_look
            self._look = False
            taken = await guard(self._store.take_due_callbacks(now)) if look else []
            for callback in taken or []:
                pending[callback.id] = callback
                self._events.callback_due(callback)
                log.info(
                    "callback_due",
                    callback_id=callback.id,
                    owner_id=callback.owner_id,
                    reserved_until=callback.reserved_until.isoformat()
                    if callback.reserved_until
                    else None,
                )
            if pending or look:
                # On a look, also the callbacks another service made due: it may have no
                # agent for them (a service takes every campaign's due callbacks).
                await self._refresh(pending, add_new=look)
            if look:
                await self._owners_elsewhere(pending)
            deadlines: list[datetime] = []
            held: set[int] = set()
            demand: dict[int, int] = {}
            for callback in sorted(pending.values(), key=lambda c: (c.due_at, c.id)):
                campaign = self._known(callback.campaign_id)
                if campaign is None or campaign.state is not CampaignState.RUNNING:
                    continue
                decision = route(callback, self._roster, now, self._elsewhere)
                seat: Seat | None = None
                if decision.route is Route.OWNER:
                    seat = self._roster.take_free(
                        callback.campaign_id, now, prefer=callback.owner_id, held_ok=True
                    )
                elif decision.route in (Route.WAIT_FOR_OWNER, Route.ELSEWHERE):
                    # Until the reservation runs out; an owner here is held back from
                    # ordinary calls meanwhile.
                    assert callback.owner_id is not None and decision.until is not None
                    if decision.route is Route.WAIT_FOR_OWNER:
                        held.add(callback.owner_id)
                    deadlines.append(decision.until)
                    continue
                else:
                    seat = self._roster.take_free(callback.campaign_id, now)
                if seat is None:
                    demand[callback.campaign_id] = demand.get(callback.campaign_id, 0) + 1
                    continue
                pending.pop(callback.id)
                await self._deliver(callback, campaign, seat)
            self._roster.hold(held)
            self._demand = demand
            if look:
                upcoming = await guard(self._store.next_callback_at())
                until = self._config.max_idle
                if isinstance(upcoming, datetime):
                    until = min(until, seconds_until(self._clock, upcoming) + 0.01)
                self._next_look = loop.time() + until
            timeout = self._next_look - loop.time()
            if deadlines:
                timeout = min(timeout, seconds_until(self._clock, min(deadlines)) + 0.01)
            await wait(self._wake, timeout)

    async def _owners_elsewhere(self, pending: dict[int, Callback]) -> None:
        """Which owners of pending callbacks, not logged in here, are logged in to another
        service (read on looks only: agents' state changes do not read the store)."""
        absent = {
            c.owner_id
            for c in pending.values()
            if c.owner_id is not None and self._roster.get(c.owner_id) is None
        }
        found = await guard(self._store.agents_logged_in_elsewhere(absent, self._config.owner))
        if found is not None:
            self._elsewhere = found

    async def _refresh(self, pending: dict[int, Callback], *, add_new: bool) -> None:
        """Route each pending callback as the store has it now: a manager may have given it
        to another owner (reserved for them anew), rebooked or cancelled it meanwhile, or
        another service is calling it. ``add_new``: take in the due ones not pending."""
        before = dict(pending)
        stored = await guard(self._store.open_due_callbacks())
        if stored is None:
            return
        current = {callback.id: callback for callback in stored}
        if add_new:
            for callback_id, callback in current.items():
                pending.setdefault(callback_id, callback)
        for callback_id, known in before.items():
            if pending.get(callback_id) is not known:
                continue  # offered again (missed) while we read: that one is newer
            fresh = current.get(callback_id)
            if fresh is None:
                del pending[callback_id]
            else:
                pending[callback_id] = fresh

    async def _deliver(self, callback: Callback, campaign: Campaign, seat: Seat) -> None:
        """Agent first: ring the agent, then the contact."""
        now = self._clock.now()
        try:
            contact, attempt = await self._store.start_callback_attempt(
                callback, seat.agent_id, self._config.owner, now, now + self._config.lease
            )
        except Conflict as exc:
            log.warning("callback_not_deliverable", callback_id=callback.id, error=str(exc))
            self._roster.release(seat.agent_id, now)
            return
        call = Call(
            attempt.id,
            contact,
            campaign,
            asyncio.get_running_loop().time(),
            agent_first=True,
            callback=callback,
            agent_id=seat.agent_id,
        )
        log.info(
            "callback_delivering",
            callback_id=callback.id,
            attempt_id=attempt.id,
            agent_id=seat.agent_id,
            owner_id=callback.owner_id,
        )
        await self._placer.dial_agent_first(call, seat)
