"""The dialer engine: claims due contacts, places calls, connects answers, settles outcomes,
and delivers callbacks.

One task per running campaign paces its calls; one task consumes the bridge's call events;
one delivers callbacks; one keeps this process's leases alive. They wait for events (an
agent freed, a call settled, a campaign changed) or for deadlines (the next due contact,
the next callback, a reservation running out), never on a fixed tick. The store holds
everything that must survive a crash: the attempt is written before its Originate is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

import structlog

from ami_bridge import AgentLeg, AmiBridge, AmiError, CallAnswered, CallEnded, CallOutcome
from ami_bridge.events import DialStatus
from campaigns.model import CampaignState, Contact, Outcome
from campaigns.retry import Decision, decide, next_open
from campaigns.spec import Campaign
from campaigns.store import Conflict, Store
from campaigns.wrapup import Callback
from dialer.agents import AgentBusy, AgentStatus, Roster, Seat, UnknownAgent
from dialer.callbacks import Route, route
from dialer.clock import Clock, seconds_until
from dialer.pacing import CampaignStats, Floor, calls_to_place, recheck_in

log = structlog.get_logger()
T = TypeVar("T")

_FAILED_BATCH_BACKOFF = timedelta(minutes=1)
# Why an agent's phone did not take a call put through to it (DialEnd's DialStatus).
_PHONE_FAILURES: dict[DialStatus | None, str] = {
    DialStatus.NOANSWER: "phone not answered",
    DialStatus.BUSY: "phone busy",
    DialStatus.CHANUNAVAIL: "phone unreachable",
    DialStatus.CONGESTION: "phone unreachable",
}


class EngineEvents(Protocol):
    """What the engine tells the rest of Ringback (agent API, MQTT). Must not block."""

    def call_connected(
        self,
        agent_id: int,
        attempt_id: int,
        contact: Contact,
        campaign: Campaign,
        callback: Callback | None,
    ) -> None:
        """A call is on the agent's line: show the contact (and the booking comment)."""

    def call_ended(self, agent_id: int, attempt_id: int, talk_seconds: float) -> None:
        """The agent's call is over: wrap-up starts."""

    def attempt_settled(
        self, attempt_id: int, contact: Contact, outcome: Outcome, decision: Decision
    ) -> None:
        """An attempt's one final outcome, and what became of its contact."""

    def callback_due(self, callback: Callback) -> None:
        """A callback fell due and waits in its owner's personal queue."""

    def agent_phone_failed(self, agent_id: int, attempt_id: int, reason: str) -> None:
        """The agent's phone did not take a call put through to it: they are paused."""


class NoEvents:
    def call_connected(
        self,
        agent_id: int,
        attempt_id: int,
        contact: Contact,
        campaign: Campaign,
        callback: Callback | None,
    ) -> None:
        pass

    def call_ended(self, agent_id: int, attempt_id: int, talk_seconds: float) -> None:
        pass

    def attempt_settled(
        self, attempt_id: int, contact: Contact, outcome: Outcome, decision: Decision
    ) -> None:
        pass

    def callback_due(self, callback: Callback) -> None:
        pass

    def agent_phone_failed(self, agent_id: int, attempt_id: int, reason: str) -> None:
        pass


@dataclass(frozen=True, slots=True)
class TrunkLimit:
    max_concurrent: int = 1000
    calls_per_second: float = 50.0


@dataclass(frozen=True, slots=True)
class EngineConfig:
    owner: str
    """This process's name on leases and attempts; stable across restarts."""
    lease: timedelta = timedelta(minutes=5)
    max_idle: float = 15.0
    """Longest wait without a look at the store: changes made by other processes."""
    abandon_wait: float = 2.0
    """An answered call with no agent after this long is abandoned (regulators: 2 s)."""
    drain_timeout: float = 120.0
    trunks: Mapping[str, TrunkLimit] = field(default_factory=dict)


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


@dataclass(slots=True)
class _Call:
    attempt_id: int
    contact: Contact
    campaign: Campaign
    placed_at: float
    agent_first: bool = False
    callback: Callback | None = None
    agent_id: int | None = None
    """The agent the call was put through to (their phone may still be ringing)."""
    agent_answered: bool = False
    outcome: CallOutcome | None = None
    answered_at: float | None = None
    abandoned: bool = False
    settled: bool = False
    ended: bool = False

    @property
    def ringing(self) -> bool:
        return self.answered_at is None and self.outcome is None

    @property
    def waiting(self) -> bool:
        """Answered by a person, not yet put through to an agent nor abandoned."""
        return (
            self.answered_at is not None
            and not self.agent_first
            and self.agent_id is None
            and not self.abandoned
            and not self.ended
        )

    @property
    def trunk(self) -> str:
        return self.campaign.spec.dialing.trunk


class Engine:
    def __init__(
        self,
        *,
        store: Store,
        bridge: AmiBridge,
        roster: Roster,
        clock: Clock,
        config: EngineConfig,
        events: EngineEvents | None = None,
    ) -> None:
        self._store = store
        self._bridge = bridge
        self._roster = roster
        self._clock = clock
        self._config = config
        self._events = events or NoEvents()
        self._campaigns: dict[int, Campaign] = {}
        self._runners: dict[int, asyncio.Task[None]] = {}
        self._wakes: dict[int, asyncio.Event] = {}
        self._stats: dict[int, CampaignStats] = {}
        self._rates: dict[str, RateLimiter] = {}
        self._calls: dict[str, _Call] = {}
        self._supervise_wake = asyncio.Event()
        self._callbacks_wake = asyncio.Event()
        # Set, then replaced, whenever an agent becomes free: waiters hold the one they saw.
        self._agent_freed = asyncio.Event()
        self._callback_demand: dict[int, int] = {}
        self._pending_callbacks: dict[int, Callback] = {}
        """Due callbacks not yet delivered (bounded by the store's due callbacks)."""
        self._stopping = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._tasks: asyncio.TaskGroup | None = None
        roster.listen(self._on_roster)

    # Life cycle

    async def run(self) -> None:
        """Recover what a previous run left, then dial until :meth:`stop`."""
        await self._recover()
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            background = [
                tasks.create_task(self._consume_events(), name="call-events"),
                tasks.create_task(self._keep_leases(), name="leases"),
                tasks.create_task(self._deliver_callbacks(), name="callbacks"),
                tasks.create_task(self._supervise(), name="campaigns"),
                tasks.create_task(self._watch_campaigns(), name="campaign-changes"),
            ]
            await self._stopping.wait()
            log.info("engine_stopping", calls_in_progress=len(self._calls))
            for runner in self._runners.values():
                runner.cancel()
            self._check_drained()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._config.drain_timeout):
                    await self._drained.wait()
            for task in background:
                task.cancel()
        log.info("engine_stopped", calls_abandoned_to_recovery=len(self._calls))

    def stop(self) -> None:
        """Stop claiming; calls in progress finish their bookkeeping, then :meth:`run` returns."""
        self._stopping.set()

    def wake(self, campaign_id: int | None = None) -> None:
        """Something changed (a campaign, its contacts): look again now."""
        self._supervise_wake.set()
        if campaign_id is not None and campaign_id in self._wakes:
            self._wakes[campaign_id].set()

    def running_campaigns(self) -> list[int]:
        return [c.id for c in self._campaigns.values() if c.state is CampaignState.RUNNING]

    def stats(self, campaign_id: int) -> CampaignStats:
        return self._stats.setdefault(campaign_id, CampaignStats())

    @property
    def calls_in_progress(self) -> int:
        return len(self._calls)

    async def until_quiet(self) -> None:
        """Until no call is in progress."""
        await self._drained.wait()

    def _on_roster(self, before: Seat | None, after: Seat | None) -> None:
        if (
            before is not None
            and after is not None
            and before.status is AgentStatus.WRAPUP
            and after.status is not AgentStatus.WRAPUP
        ):
            wrapup = (after.since - before.since).total_seconds()
            for campaign_id in after.campaigns:
                self.stats(campaign_id).record_wrapup(wrapup)
        for seat in (before, after):
            if seat is not None:
                for campaign_id in seat.campaigns:
                    if campaign_id in self._wakes:
                        self._wakes[campaign_id].set()
        self._callbacks_wake.set()
        if after is not None and after.status is AgentStatus.FREE:
            self._agent_freed.set()
            self._agent_freed = asyncio.Event()

    # Recovery and leases

    async def _recover(self) -> None:
        """Settle what a crash left: attempts with no outcome, contacts claimed but not dialled."""
        owner, now = self._config.owner, self._clock.now()
        open_attempts = await self._store.open_attempts(owner)
        live: frozenset[str] | None = None
        if open_attempts:
            try:
                live = await self._bridge.live_attempt_ids()
            except AmiError as exc:
                log.warning("recovery_without_asterisk", error=str(exc))
        for attempt in open_attempts:
            if live is not None and str(attempt.id) in live:
                # Its events are lost to us: end the call rather than dial the contact
                # again while it is still up.
                with contextlib.suppress(AmiError):
                    await self._bridge.hangup(str(attempt.id))
            contact = await self._store.get_contact(attempt.contact_id)
            campaign = await self._store.get_campaign(attempt.campaign_id)
            decision = self._decide(contact, campaign, Outcome.FAILED_SYSTEM, now)
            await self._store.finish_attempt(attempt.id, Outcome.FAILED_SYSTEM, decision, now)
            log.warning(
                "attempt_recovered",
                attempt_id=attempt.id,
                contact_id=contact.id,
                call_was_live=live is not None and str(attempt.id) in live,
            )
        released = await self._store.release_owned(owner, now)
        if open_attempts or released:
            log.info("recovered", attempts=len(open_attempts), contacts=len(released))

    async def _keep_leases(self) -> None:
        lease = self._config.lease
        while True:
            await asyncio.sleep(lease.total_seconds() / 3)
            now = self._clock.now()
            await self._guard(self._store.renew_leases(self._config.owner, now + lease))
            # Contacts of a dialer that died (on a shared database) come back.
            released = await self._guard(self._store.release_expired_leases(now))
            if released:
                self.wake()

    async def _guard(self, work: Awaitable[T]) -> T | None:
        """A store call whose failure is logged and waited out, not fatal to the loop."""
        try:
            return await work
        except Exception:
            log.exception("store_call_failed")
        return None

    # Campaigns

    async def _supervise(self) -> None:
        """Keep one pacing task per running campaign."""
        while True:
            self._supervise_wake.clear()
            try:
                campaigns = await self._store.list_campaigns()
            except Exception:
                log.exception("campaign_list_failed")
                campaigns = list(self._campaigns.values())
            running = {c.id: c for c in campaigns if c.state is CampaignState.RUNNING}
            was_running = set(self.running_campaigns())
            self._campaigns = {c.id: c for c in campaigns}
            for campaign_id in running:
                task = self._runners.get(campaign_id)
                if task is None or task.done():
                    assert self._tasks is not None
                    self._wakes.setdefault(campaign_id, asyncio.Event())
                    self._runners[campaign_id] = self._tasks.create_task(
                        self._run_campaign(campaign_id), name=f"campaign-{campaign_id}"
                    )
            for campaign_id, wake in self._wakes.items():
                if campaign_id not in running:
                    wake.set()  # its runner sees the state and ends
            self._roster.running(running)
            if set(running) != was_running:
                self._callbacks_wake.set()  # callbacks of a resumed campaign may go now
            await _wait(self._supervise_wake, self._config.max_idle)

    async def _watch_campaigns(self) -> None:
        """A campaign started, paused or changed (here or by another process): look now."""
        while True:
            try:
                async with contextlib.aclosing(self._store.watch_campaigns()) as changes:
                    async for _ in changes:
                        self._supervise_wake.set()
            except Exception:
                log.exception("campaign_watch_failed")
            await asyncio.sleep(self._config.max_idle)  # then listen again

    async def _run_campaign(self, campaign_id: int) -> None:
        wake = self._wakes[campaign_id]
        log.info("campaign_dialing", campaign_id=campaign_id)
        while not self._stopping.is_set():
            wake.clear()
            campaign = self._campaigns.get(campaign_id)
            if campaign is None or campaign.state is not CampaignState.RUNNING:
                break
            timeout = self._config.max_idle
            if not self._bridge.available:
                await self._until_pbx_available()
                continue
            wanted, recheck = self._capacity(campaign)
            if recheck is not None:
                timeout = min(timeout, recheck)
            if wanted > 0:
                try:
                    placed = await self._dial_batch(campaign, wanted)
                except Exception:
                    log.exception("dial_batch_failed", campaign_id=campaign_id)
                    placed = 0
                if placed >= wanted:
                    continue
                due = await self._guard(self._store.next_due_at(campaign_id))
                if isinstance(due, datetime):
                    timeout = min(timeout, seconds_until(self._clock, due) + 0.01)
            await _wait(wake, timeout)
        log.info("campaign_idle", campaign_id=campaign_id)
        self._runners.pop(campaign_id, None)

    async def _until_pbx_available(self) -> None:
        """Asterisk is away (shutting down, or the AMI connection is down): an Originate now
        would be refused or lost, so wait for the next session (or our stop)."""
        log.info("dialing_held", reason="asterisk unavailable")
        waiters = [
            asyncio.ensure_future(self._bridge.wait_available()),
            asyncio.ensure_future(self._stopping.wait()),
        ]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        log.info("dialing_resumed")

    def _capacity(self, campaign: Campaign) -> tuple[int, float | None]:
        """Calls to place now for the campaign (pacing mode, limits, agents), and in how
        many seconds to look again if nothing happens before."""
        cid, dialing = campaign.id, campaign.spec.dialing
        calls = [c for c in self._calls.values() if c.campaign.id == cid]
        trunk_calls = sum(1 for c in self._calls.values() if c.trunk == dialing.trunk)
        trunk = self._config.trunks.get(dialing.trunk, TrunkLimit())
        limit = min(dialing.max_concurrent - len(calls), trunk.max_concurrent - trunk_calls)
        now = self._clock.now()
        stats = self.stats(cid)
        free = self._roster.count(cid, AgentStatus.FREE) - self._callback_demand.get(cid, 0)
        loop_now = asyncio.get_running_loop().time()
        floor = Floor(
            free=max(0, free),
            on_call=self._roster.count(cid, AgentStatus.ON_CALL, AgentStatus.RESERVED),
            wrapup=tuple(
                (now - seat.since).total_seconds()
                for seat in self._roster.seats()
                if cid in seat.campaigns and seat.status is AgentStatus.WRAPUP
            ),
            ringing=tuple(loop_now - c.placed_at for c in calls if c.ringing and not c.agent_first),
            waiting=sum(1 for c in calls if c.waiting),
            ring_timeout=dialing.ring_timeout_seconds,
            abandon_wait=self._config.abandon_wait,
        )
        wanted = calls_to_place(dialing.mode, floor, stats, dialing.abandon_rate_cap, limit=limit)
        return wanted, recheck_in(dialing.mode, floor, stats)

    async def _dial_batch(self, campaign: Campaign, wanted: int) -> int:
        now = self._clock.now()
        contacts = await self._store.claim_due(
            campaign.id, wanted, now, self._config.owner, now + self._config.lease
        )
        hours = campaign.spec.hours
        for done, contact in enumerate(contacts):
            try:
                # Due, but it may be night where the contact lives.
                at = self._clock.now()
                opens = next_open(hours, contact.timezone, at)
                if opens > at:
                    await self._store.defer(contact.id, opens, self._config.owner)
                    continue
                await self._place(campaign, contact)
            except Exception:
                # Give back what this batch claimed and did not dial, a minute later (a
                # fault that repeats must not spin), then let the caller log it.
                later = self._clock.now() + _FAILED_BATCH_BACKOFF
                dialling = {c.contact.id for c in self._calls.values()}
                for left in contacts[done:]:
                    if left.id not in dialling:  # an attempt holds it: settling frees it
                        await self._guard(self._store.defer(left.id, later, self._config.owner))
                raise
        return len(contacts)

    def _rate(self, key: str, rate: float) -> RateLimiter:
        limiter = self._rates.get(key)
        if limiter is None or limiter.rate != rate:
            limiter = self._rates[key] = RateLimiter(rate)
        return limiter

    async def _place(self, campaign: Campaign, contact: Contact) -> None:
        dialing = campaign.spec.dialing
        trunk = self._config.trunks.get(dialing.trunk, TrunkLimit())
        await self._rate(f"campaign:{campaign.id}", dialing.calls_per_second).acquire()
        await self._rate(f"trunk:{dialing.trunk}", trunk.calls_per_second).acquire()
        now = self._clock.now()
        try:
            attempt = await self._store.start_attempt(
                contact, self._config.owner, now, now + self._config.lease
            )
        except Conflict:
            log.warning("lease_lost", contact_id=contact.id)
            return
        call = _Call(attempt.id, contact, campaign, asyncio.get_running_loop().time())
        self._calls[str(attempt.id)] = call
        self._drained.clear()
        try:
            await self._bridge.originate(
                str(attempt.id),
                phone=contact.phone,
                channel_template=dialing.channel,
                context=dialing.context,
                exten=dialing.extension,
                caller_id=dialing.caller_id,
                timeout_s=dialing.ring_timeout_seconds,
                variables={"RINGBACK_CAMPAIGN": str(campaign.id)},
            )
        except (AmiError, ValueError) as exc:
            log.error("originate_failed", attempt_id=attempt.id, error=str(exc))
            await self._settle(call, Outcome.FAILED_SYSTEM)

    # Call events

    async def _consume_events(self) -> None:
        async for event in self._bridge.call_events():
            call = self._calls.get(event.attempt_id)
            if call is None:
                log.warning("call_event_for_unknown_attempt", attempt_id=event.attempt_id)
                continue
            try:
                if isinstance(event, CallAnswered):
                    self._on_answered(call)
                elif isinstance(event, CallOutcome):
                    await self._on_outcome(call, event)
                elif isinstance(event, AgentLeg):
                    await self._on_agent_leg(call, event)
                elif isinstance(event, CallEnded):
                    await self._on_ended(call, event)
            except Exception:
                # One call's bookkeeping must not stop every other call's.
                log.exception("call_event_failed", attempt_id=call.attempt_id)

    def _on_answered(self, call: _Call) -> None:
        call.answered_at = asyncio.get_running_loop().time()
        if call.agent_first:
            assert call.agent_id is not None
            self._roster.on_call(call.agent_id, self._clock.now())
            self._events.call_connected(
                call.agent_id, call.attempt_id, call.contact, call.campaign, call.callback
            )
            return
        assert self._tasks is not None
        self._tasks.create_task(self._connect(call), name=f"connect-{call.attempt_id}")

    async def _connect(self, call: _Call) -> None:
        """Find an agent within the abandon wait, or drop the call as abandoned."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.abandon_wait
        seat = self._roster.take_free(call.campaign.id, self._clock.now())
        while seat is None and not call.ended and loop.time() < deadline:
            freed = self._agent_freed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await freed.wait()
            seat = self._roster.take_free(call.campaign.id, self._clock.now())
        if seat is not None and not call.ended:
            try:
                await self._bridge.connect(str(call.attempt_id), agent_channel=seat.channel)
            except (AmiError, ValueError) as exc:
                log.error("connect_failed", attempt_id=call.attempt_id, error=str(exc))
                # Asterisk refused to put the call through to this agent's phone: the next
                # call would fail the same way, so they are paused, not left ready.
                self._agent_failed(seat.agent_id, call.attempt_id, f"connect failed: {exc}")
                seat = None
        elif seat is not None:
            self._roster.release(seat.agent_id, self._clock.now())
            seat = None
        if seat is None:
            await self._abandon(call)
        else:
            # The agent's phone rings (still reserved); the AgentLeg event says whether
            # they took it.
            call.agent_id = seat.agent_id
        await self._maybe_settle(call)

    async def _abandon(self, call: _Call) -> None:
        call.abandoned = True
        log.warning("call_abandoned", attempt_id=call.attempt_id, campaign_id=call.campaign.id)
        if not call.ended:
            with contextlib.suppress(AmiError):
                await self._bridge.hangup(str(call.attempt_id))

    def _agent_failed(self, agent_id: int, attempt_id: int, reason: str) -> None:
        seat = self._roster.get(agent_id)
        if seat is not None and seat.status in (AgentStatus.RESERVED, AgentStatus.FREE):
            self._roster.pause(agent_id, reason, self._clock.now())
        log.warning("agent_phone_failed", agent_id=agent_id, attempt_id=attempt_id, reason=reason)
        self._events.agent_phone_failed(agent_id, attempt_id, reason)

    async def _on_agent_leg(self, call: _Call, event: AgentLeg) -> None:
        """The dialplan rang the agent's phone after our Redirect: answered, or not."""
        agent_id = call.agent_id
        if agent_id is None or call.agent_answered or call.abandoned:
            return
        if event.answered:
            call.agent_answered = True
            self._roster.on_call(agent_id, self._clock.now())
            self._events.call_connected(
                agent_id, call.attempt_id, call.contact, call.campaign, None
            )
        elif event.status is DialStatus.CANCEL:
            # The contact hung up while the agent's phone rang: not the agent's fault.
            self._roster.release(agent_id, self._clock.now())
            call.abandoned = True
        else:
            # The shipped dialplan hangs up on the contact when Dial() fails: a dropped call.
            reason = _PHONE_FAILURES.get(event.status, "phone did not take the call")
            self._agent_failed(agent_id, call.attempt_id, reason)
            await self._abandon(call)
        await self._maybe_settle(call)

    async def _on_outcome(self, call: _Call, event: CallOutcome) -> None:
        call.outcome = event
        if event.outcome is Outcome.ANSWERED and (call.agent_first or call.answered_at):
            await self._maybe_settle(call)
            return
        if call.agent_first and call.agent_id is not None:
            seat = self._roster.get(call.agent_id)
            if seat is not None and seat.status is AgentStatus.RESERVED:
                if event.outcome is Outcome.FAILED_SYSTEM:
                    # Their phone rang and nobody took it: they are not at their desk.
                    reason = "missed callback" if call.callback else "missed call"
                    self._agent_failed(call.agent_id, call.attempt_id, reason)
                else:
                    self._roster.release(call.agent_id, self._clock.now())
        await self._settle(call, event.outcome)
        if call.callback is not None and event.outcome is Outcome.FAILED_SYSTEM:
            # The store put the callback back to due: offer it again (its reservation
            # still holds for the owner).
            self._pending_callbacks[call.callback.id] = call.callback
            self._callbacks_wake.set()

    async def _maybe_settle(self, call: _Call) -> None:
        """An answered call settles once both Asterisk and the agent search have spoken."""
        if call.settled or call.outcome is None:
            return
        if call.abandoned:
            await self._settle(call, Outcome.ABANDONED)
        elif call.agent_answered:
            await self._settle(call, Outcome.ANSWERED)

    async def _on_ended(self, call: _Call, event: CallEnded) -> None:
        call.ended = True
        if call.agent_id is not None and not call.abandoned and not call.agent_answered:
            # The call ended with no word on the agent's leg (its events were lost): the
            # agent may have talked, so they wrap up as after any answered call.
            log.warning("agent_leg_unknown", attempt_id=call.attempt_id, agent_id=call.agent_id)
            call.agent_answered = True
            self._roster.on_call(call.agent_id, self._clock.now())
            self._events.call_connected(
                call.agent_id, call.attempt_id, call.contact, call.campaign, None
            )
            await self._maybe_settle(call)
        if call.agent_id is not None and not call.abandoned:
            seat = self._roster.get(call.agent_id)
            if seat is not None and seat.status is AgentStatus.ON_CALL:
                self._roster.wrapup(call.agent_id, self._clock.now())
            self.stats(call.campaign.id).record_talk(event.talk_seconds)
            self._events.call_ended(call.agent_id, call.attempt_id, event.talk_seconds)
        if not call.settled and call.outcome is None:
            # Ended before any outcome was seen (connection lost): nothing more will come.
            await self._settle(call, Outcome.FAILED_SYSTEM)
        self._forget(call)

    def _decide(
        self, contact: Contact, campaign: Campaign, outcome: Outcome, now: datetime
    ) -> Decision:
        spec = campaign.spec
        return decide(
            attempts=contact.attempts,
            dials=contact.dials,
            outcome=outcome,
            rules=spec.retry,
            hours=spec.hours,
            timezone=contact.timezone,
            now=now,
        )

    async def _settle(self, call: _Call, outcome: Outcome) -> None:
        if call.settled:
            return
        call.settled = True
        now = self._clock.now()
        decision = self._decide(call.contact, call.campaign, outcome, now)
        await self._store.finish_attempt(call.attempt_id, outcome, decision, now)
        loop_now = asyncio.get_running_loop().time()
        if not call.agent_first and outcome is not Outcome.FAILED_SYSTEM:
            human = outcome in (Outcome.ANSWERED, Outcome.ABANDONED)
            until = call.answered_at if call.answered_at is not None else loop_now
            self.stats(call.campaign.id).record_call(
                human, until - call.placed_at, abandoned=outcome is Outcome.ABANDONED
            )
        evidence = call.outcome
        log.info(
            "attempt_finished",
            attempt_id=call.attempt_id,
            campaign_id=call.campaign.id,
            contact_id=call.contact.id,
            outcome=outcome.value,
            counted=decision.counted,
            contact_state=decision.state.value,
            due_at=decision.due_at.isoformat() if decision.due_at else None,
            agent_id=call.agent_id,
            callback_id=call.callback.id if call.callback else None,
            seconds=round(loop_now - call.placed_at, 3),
            reason=evidence.reason if evidence else None,
            cause=evidence.cause if evidence else None,
        )
        self._events.attempt_settled(call.attempt_id, call.contact, outcome, decision)
        if call.answered_at is None or call.ended:
            self._forget(call)
        self._wakes.get(call.campaign.id, asyncio.Event()).set()

    def _forget(self, call: _Call) -> None:
        if call.settled or call.ended:
            self._calls.pop(str(call.attempt_id), None)
            self._check_drained()

    def _check_drained(self) -> None:
        if not self._calls:
            self._drained.set()

    # Callbacks

    async def _deliver_callbacks(self) -> None:
        pending = self._pending_callbacks
        for callback in await self._store.open_due_callbacks():
            pending[callback.id] = callback
        while True:
            self._callbacks_wake.clear()
            if not self._bridge.available:
                await self._until_pbx_available()
                continue
            now = self._clock.now()
            taken = await self._guard(self._store.take_due_callbacks(now))
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
            deadlines: list[datetime] = []
            held: set[int] = set()
            demand: dict[int, int] = {}
            for callback in sorted(pending.values(), key=lambda c: (c.due_at, c.id)):
                campaign = self._campaigns.get(callback.campaign_id)
                if campaign is None or campaign.state is not CampaignState.RUNNING:
                    continue
                decision = route(callback, self._roster, now)
                seat: Seat | None = None
                if decision.route is Route.OWNER:
                    seat = self._roster.take_free(
                        callback.campaign_id, now, prefer=callback.owner_id, held_ok=True
                    )
                elif decision.route is Route.WAIT_FOR_OWNER:
                    assert callback.owner_id is not None and decision.until is not None
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
            self._callback_demand = demand
            upcoming = await self._guard(self._store.next_callback_at())
            if isinstance(upcoming, datetime):
                deadlines.append(upcoming)
            timeout = self._config.max_idle
            if deadlines:
                timeout = min(timeout, seconds_until(self._clock, min(deadlines)) + 0.01)
            await _wait(self._callbacks_wake, timeout)

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
        call = _Call(
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
        await self._dial_agent_first(call, seat)

    async def _dial_agent_first(self, call: _Call, seat: Seat) -> None:
        """Ring the agent's phone; once they answer, the dialplan dials the contact."""
        self._calls[str(call.attempt_id)] = call
        self._drained.clear()
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
            await self._settle(call, Outcome.FAILED_SYSTEM)

    # Preview

    async def preview_next(self, agent_id: int, campaign_id: int) -> Contact | None:
        """Claim the next due contact of a preview campaign for the agent to look at."""
        now = self._clock.now()
        # The agent may read as long as they like; the lease is renewed with the others.
        contacts = await self._store.claim_due(
            campaign_id, 1, now, self._config.owner, now + self._config.lease
        )
        return contacts[0] if contacts else None

    async def preview_dial(self, agent_id: int, contact: Contact) -> int:
        """The agent starts the call: their phone rings first, then the contact's."""
        campaign = self._campaigns.get(contact.campaign_id) or await self._store.get_campaign(
            contact.campaign_id
        )
        now = self._clock.now()
        try:
            seat = self._roster.reserve(agent_id, now)
        except (UnknownAgent, AgentBusy) as exc:
            raise Conflict(f"agent {agent_id} cannot start a call now") from exc
        attempt = await self._store.start_attempt(
            contact, self._config.owner, now, now + self._config.lease
        )
        call = _Call(
            attempt.id,
            contact,
            campaign,
            asyncio.get_running_loop().time(),
            agent_first=True,
            agent_id=agent_id,
        )
        await self._dial_agent_first(call, seat)
        return attempt.id

    async def preview_skip(self, contact: Contact, until: datetime | None = None) -> None:
        """Put a previewed contact back, due again at ``until`` (default: now)."""
        await self._store.defer(contact.id, until or self._clock.now(), self._config.owner)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Until ``event`` is set or ``seconds`` pass."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, seconds)):
            await event.wait()
