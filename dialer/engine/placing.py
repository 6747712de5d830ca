"""Placing calls: how many a campaign may place now, claiming due contacts, and the
Originates (contact first, or the agent's phone first for callbacks and preview).

The attempt is written before its Originate is sent, so a crash leaves a trace
:mod:`dialer.engine.recovery` settles.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import structlog

from ami_bridge import AmiBridge, AmiError
from campaigns.hours import next_open
from campaigns.model import Contact, DialMode, Outcome
from campaigns.ports import Store
from campaigns.spec import Campaign
from dialer.clock import Clock
from dialer.engine.calls import Call, Calls
from dialer.engine.config import EngineConfig
from dialer.engine.settlement import Settlement
from dialer.engine.waiting import guard
from dialer.pacing import CampaignStats, Floor, calls_to_place, recheck_in
from dialer.roster import AgentStatus, Roster, Seat

log = structlog.get_logger()
Spawn = Callable[[Coroutine[Any, Any, None], str], object]

_FAILED_BATCH_BACKOFF = timedelta(minutes=1)


class RateLimiter:
    """Calls per second as spacing between calls: each caller gets the next free slot."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._next = 0.0

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next)
        self._next = slot + 1.0 / self.rate
        if slot > now:
            await asyncio.sleep(slot - now)


class Placer:
    def __init__(
        self,
        *,
        store: Store,
        bridge: AmiBridge,
        roster: Roster,
        clock: Clock,
        config: EngineConfig,
        calls: Calls,
        settlement: Settlement,
        stats: Callable[[int], CampaignStats],
        callback_demand: Callable[[int], int],
        spawn: Spawn,
    ) -> None:
        self._store = store
        self._bridge = bridge
        self._roster = roster
        self._clock = clock
        self._config = config
        self._calls = calls
        self._settlement = settlement
        self._stats = stats
        self._callback_demand = callback_demand
        """Free agents of a campaign that due callbacks are waiting for."""
        self._rates: dict[str, RateLimiter] = {}
        self._behind = False
        self._spawn = spawn
        """Starts a task in the engine's task group (an Originate in its rate slot)."""

    def capacity(self, campaign: Campaign) -> tuple[int, float | None]:
        """Calls to place now for the campaign (pacing mode, limits, agents), and in how
        many seconds to look again if nothing happens before."""
        cid, dialing = campaign.id, campaign.spec.dialing
        loop_now = asyncio.get_running_loop().time()
        # One pass over the calls in flight (thousands on a large floor, and this runs on
        # every change): the campaign's, the trunk's, and the campaign's ringing ones.
        mine = trunk_calls = waiting = 0
        ringing: list[float] = []
        for call in self._calls:
            if call.campaign.spec.dialing.trunk == dialing.trunk:
                trunk_calls += 1
            if call.campaign.id != cid:
                continue
            mine += 1
            if call.ringing:
                if not call.agent_first:
                    ringing.append(loop_now - call.placed_at)
            elif call.waiting:
                waiting += 1
        trunk = self._config.trunk(dialing.trunk)
        limit = min(dialing.max_concurrent - mine, trunk.max_concurrent - trunk_calls)
        now = self._clock.now()
        stats = self._stats(cid)
        # A second's margin past the ring timeout for Asterisk's word to come.
        stats.mature(loop_now - dialing.ring_timeout_seconds - 1.0)
        free = self._roster.count(cid, AgentStatus.FREE) - self._callback_demand(cid)
        wrapup: list[float] = []
        talking: list[float] = []
        for seat in self._roster.seats():
            if cid in seat.campaigns and seat.status is AgentStatus.WRAPUP:
                wrapup.append((now - seat.since).total_seconds())
            elif cid in seat.campaigns and seat.status is AgentStatus.ON_CALL:
                talking.append((now - seat.since).total_seconds())
        floor = Floor(
            free=max(0, free),
            on_call=self._roster.count(cid, AgentStatus.ON_CALL, AgentStatus.RESERVED),
            wrapup=tuple(wrapup),
            talking=tuple(talking),
            ringing=tuple(ringing),
            waiting=waiting,
            ring_timeout=dialing.ring_timeout_seconds,
            abandon_wait=self._config.abandon_wait,
            at=loop_now,
        )
        mode = self._pacing_mode(dialing.mode)
        wanted = calls_to_place(mode, floor, stats, dialing.abandon_rate_cap, limit=limit)
        return wanted, recheck_in(mode, floor, stats)

    def _pacing_mode(self, mode: DialMode) -> DialMode:
        """Predictive only while the engine keeps up with its call events. Behind, it sees
        answers late, ringing calls look lost, and a pacer that dials again for them adds
        load and falls further behind: 1,100 agents starting together ran to 9,821 calls,
        82 % of the answered ones abandoned and answers seen 48 s after the Originate.
        Dialling for free agents only lets the calls in flight drain."""
        lag = self._bridge.event_lag
        behind = lag > self._config.behind_after
        if behind != self._behind:
            self._behind = behind
            if behind:
                log.warning("pacing_held_back", event_lag=round(lag, 2))
            else:
                log.info("pacing_resumed", event_lag=round(lag, 2))
        return DialMode.PROGRESSIVE if behind and mode is DialMode.PREDICTIVE else mode

    async def dial_batch(self, campaign: Campaign, wanted: int) -> int:
        """Claim up to ``wanted`` due contacts and call those inside their calling hours."""
        now = self._clock.now()
        contacts = await self._store.claim_due(
            campaign.id, wanted, now, self._config.owner, now + self._config.lease
        )
        try:
            # Due, but it may be night where the contact lives.
            at = self._clock.now()
            callable_now = []
            for contact in contacts:
                opens = next_open(campaign.spec.hours, contact.timezone, at)
                if opens > at:
                    await self._store.defer(contact.id, opens, self._config.owner)
                else:
                    callable_now.append(contact)
            # One transaction records the batch's attempts; then each Originate goes out
            # in its rate limiters' slot, in a task of its own: the pacer does not wait
            # for Asterisk's replies (nor for the slots) to decide again, and sees the
            # calls as placed from now on.
            attempts = await self._store.start_attempts(
                callable_now, self._config.owner, at, at + self._config.lease
            )
        except Exception:
            await self._give_back(contacts)
            raise
        if len(attempts) < len(callable_now):
            started = {a.contact_id for a in attempts}
            lost = [k.id for k in callable_now if k.id not in started]
            log.warning("lease_lost", contact_ids=lost)
        by_id = {k.id: k for k in callable_now}
        loop_now = asyncio.get_running_loop().time()
        for attempt in attempts:
            call = Call(attempt.id, by_id[attempt.contact_id], campaign, loop_now)
            self._calls.add(call)
            self._spawn(self._place(call), f"originate-{attempt.id}")
        return len(contacts)

    async def _give_back(self, contacts: list[Contact]) -> None:
        """Give back what a batch claimed and did not dial, a minute later (a fault that
        repeats must not spin); the caller logs the fault."""
        later = self._clock.now() + _FAILED_BATCH_BACKOFF
        dialling = self._calls.contact_ids()
        for left in contacts:
            if left.id not in dialling:  # an attempt holds it: settling frees it
                await guard(self._store.defer(left.id, later, self._config.owner))

    def _rate(self, key: str, rate: float) -> RateLimiter:
        limiter = self._rates.get(key)
        if limiter is None or limiter.rate != rate:
            limiter = self._rates[key] = RateLimiter(rate)
        return limiter

    async def _place(self, call: Call) -> None:
        campaign, contact, attempt_id = call.campaign, call.contact, call.attempt_id
        dialing = campaign.spec.dialing
        trunk = self._config.trunk(dialing.trunk)
        try:
            await self._rate(f"campaign:{campaign.id}", dialing.calls_per_second).acquire()
            await self._rate(f"trunk:{dialing.trunk}", trunk.calls_per_second).acquire()
        except BaseException:
            # Stopped before its slot: never sent. Its attempt stays open and its contact
            # leased, as after a crash: the next start's recovery settles both.
            call.ended = True
            self._calls.forget(call)
            raise
        call.placed_at = asyncio.get_running_loop().time()
        try:
            await self._bridge.originate(
                str(attempt_id),
                phone=contact.phone,
                channel_template=dialing.channel,
                context=dialing.context,
                exten=dialing.extension,
                caller_id=dialing.caller_id,
                timeout_s=dialing.ring_timeout_seconds,
                variables={"RINGBACK_CAMPAIGN": str(campaign.id)},
            )
        except (AmiError, ValueError) as exc:
            log.error("originate_failed", attempt_id=attempt_id, error=str(exc))
            await self._settlement.settle(call, Outcome.FAILED_SYSTEM)
        except Exception:
            # A fault of ours: whether Asterisk got the Originate is unknown, so end the
            # call if it is up, and close the attempt rather than leave the contact
            # dialing for as long as the service runs.
            with contextlib.suppress(Exception):
                await self._bridge.hangup(str(attempt_id))
            await self._settlement.settle(call, Outcome.FAILED_SYSTEM)
            raise

    async def dial_agent_first(self, call: Call, seat: Seat) -> None:
        """Ring the agent's phone; once they answer, the dialplan dials the contact."""
        self._calls.add(call)
        dialing = call.campaign.spec.dialing
        try:
            await self._bridge.originate_agent_first(
                str(call.attempt_id),
                agent_channel=seat.channel,
                phone=call.contact.phone,
                channel_template=dialing.channel,
                caller_id=dialing.caller_id,
                timeout_s=dialing.ring_timeout_seconds,
                variables={"RINGBACK_CAMPAIGN": str(call.campaign.id)},
            )
        except (AmiError, ValueError) as exc:
            log.error("originate_failed", attempt_id=call.attempt_id, error=str(exc))
            self._roster.release(seat.agent_id, self._clock.now())
            await self._settlement.settle(call, Outcome.FAILED_SYSTEM)
