"""A call's life after the Originate, driven by the bridge's call events: a person
answered (find an agent within the abandon wait, or abandon), the agent's phone took it
or not, Asterisk's outcome, and the end of the call (wrap-up starts)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from ami_bridge import AgentLeg, AmiBridge, AmiError, CallAnswered, CallEnded, CallOutcome
from ami_bridge.events import DialStatus
from campaigns.callbacks import Callback
from campaigns.model import Outcome
from dialer.clock import Clock
from dialer.engine.calls import Call, Calls
from dialer.engine.config import EngineConfig, EngineEvents
from dialer.engine.settlement import Settlement
from dialer.pacing import CampaignStats
from dialer.roster import AgentStatus, Roster

log = structlog.get_logger()

# Why an agent's phone did not take a call put through to it (DialEnd's DialStatus).
_PHONE_FAILURES: dict[DialStatus | None, str] = {
    DialStatus.NOANSWER: "phone not answered",
    DialStatus.BUSY: "phone busy",
    DialStatus.CHANUNAVAIL: "phone unreachable",
    DialStatus.CONGESTION: "phone unreachable",
}
Spawn = Callable[[Coroutine[Any, Any, None], str], object]


class CallFlow:
    def __init__(
        self,
        *,
        bridge: AmiBridge,
        roster: Roster,
        clock: Clock,
        config: EngineConfig,
        calls: Calls,
        settlement: Settlement,
        stats: Callable[[int], CampaignStats],
        events: EngineEvents,
        spawn: Spawn,
        callback_missed: Callable[[Callback], None],
    ) -> None:
        self._bridge = bridge
        self._roster = roster
        self._clock = clock
        self._config = config
        self._calls = calls
        self._settlement = settlement
        self._stats = stats
        self._events = events
        self._spawn = spawn
        """Starts a task in the engine's task group (the search for an agent)."""
        self._callback_missed = callback_missed
        # Set, then replaced, whenever an agent becomes free: waiters hold the one they saw.
        self._agent_freed = asyncio.Event()

    def agent_freed(self) -> None:
        self._agent_freed.set()
        self._agent_freed = asyncio.Event()

    async def consume(self) -> None:
        """Every call event of the bridge, to the call it belongs to."""
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

    def _on_answered(self, call: Call) -> None:
        call.answered_at = asyncio.get_running_loop().time()
        if call.agent_first:
            assert call.agent_id is not None
            self._roster.on_call(call.agent_id, self._clock.now())
            self._events.call_connected(
                call.agent_id, call.attempt_id, call.contact, call.campaign, call.callback
            )
            return
        self._spawn(self._connect(call), f"connect-{call.attempt_id}")

    async def _connect(self, call: Call) -> None:
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
        await self._settlement.maybe_settle(call)

    async def _abandon(self, call: Call) -> None:
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

    async def _on_agent_leg(self, call: Call, event: AgentLeg) -> None:
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
        await self._settlement.maybe_settle(call)

    async def _on_outcome(self, call: Call, event: CallOutcome) -> None:
        call.outcome = event
        if event.outcome is Outcome.ANSWERED and (call.agent_first or call.answered_at):
            await self._settlement.maybe_settle(call)
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
        await self._settlement.settle(call, event.outcome)
        if call.callback is not None and event.outcome is Outcome.FAILED_SYSTEM:
            # The store put the callback back to due: offer it again (its reservation
            # still holds for the owner).
            self._callback_missed(call.callback)

    async def hang_up(self, agent_id: int, attempt_id: int) -> bool:
        """The agent ends the call they are on. The agent goes to wrap-up now, so that the
        CallEnded that follows the Hangup finds them there (or already ready again) and does
        not move them a second time."""
        call = self._calls.get(str(attempt_id))
        if call is None or call.ended or call.agent_id != agent_id or call.abandoned:
            return False
        seat = self._roster.get(agent_id)
        if seat is not None and seat.status is AgentStatus.ON_CALL:
            self._roster.wrapup(agent_id, self._clock.now())
        log.info("agent_hangup", attempt_id=attempt_id, agent_id=agent_id)
        with contextlib.suppress(AmiError):
            await self._bridge.hangup(str(attempt_id))
        return True

    async def _on_ended(self, call: Call, event: CallEnded) -> None:
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
            await self._settlement.maybe_settle(call)
        if call.agent_id is not None and not call.abandoned:
            seat = self._roster.get(call.agent_id)
            if seat is not None and seat.status is AgentStatus.ON_CALL:
                self._roster.wrapup(call.agent_id, self._clock.now())
            self._stats(call.campaign.id).record_talk(
                event.talk_seconds, asyncio.get_running_loop().time()
            )
            self._events.call_ended(call.agent_id, call.attempt_id, event.talk_seconds)
        if not call.settled and call.outcome is None:
            # Ended before any outcome was seen (connection lost): nothing more will come.
            await self._settlement.settle(call, Outcome.FAILED_SYSTEM)
        self._calls.forget(call)
