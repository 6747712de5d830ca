"""Settling an attempt: its one outcome, what becomes of the contact, the canonical log
line, the campaign's statistics and the event to the rest of Ringback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import structlog

from campaigns.model import Contact, Outcome
from campaigns.ports import Store
from campaigns.retry import Decision, decide
from campaigns.spec import Campaign
from dialer.clock import Clock
from dialer.engine.calls import Call, Calls
from dialer.engine.config import EngineEvents
from dialer.pacing import CampaignStats

log = structlog.get_logger()
# Seconds between tries of a settlement the store refused; then one last try, whose
# failure is logged by the caller (and the attempt is closed by the next start's recovery).
_RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def decide_for(contact: Contact, campaign: Campaign, outcome: Outcome, now: datetime) -> Decision:
    """The campaign's retry rules and calling hours applied to this outcome."""
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


class Settlement:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        calls: Calls,
        stats: Callable[[int], CampaignStats],
        events: EngineEvents,
        settled: Callable[[int], None],
    ) -> None:
        self._store = store
        self._clock = clock
        self._calls = calls
        self._stats = stats
        self._events = events
        self._settled = settled
        """Told the campaign id after each settlement: its pacing looks again."""

    async def maybe_settle(self, call: Call) -> None:
        """An answered call settles once both Asterisk and the agent search have spoken."""
        if call.settled or call.outcome is None:
            return
        if call.abandoned:
            await self.settle(call, Outcome.ABANDONED)
        elif call.agent_answered:
            await self.settle(call, Outcome.ANSWERED)

    async def settle(self, call: Call, outcome: Outcome) -> None:
        if call.settled:
            return
        call.settled = True
        now = self._clock.now()
        decision = decide_for(call.contact, call.campaign, outcome, now)
        await self._finish(call, outcome, decision, now)
        loop_now = asyncio.get_running_loop().time()
        if not call.agent_first and outcome is not Outcome.FAILED_SYSTEM:
            human = outcome in (Outcome.ANSWERED, Outcome.ABANDONED)
            until = call.answered_at if call.answered_at is not None else loop_now
            self._stats(call.campaign.id).record_call(
                human,
                until - call.placed_at,
                abandoned=outcome is Outcome.ABANDONED,
                placed_at=call.placed_at,
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
            self._calls.forget(call)
        self._settled(call.campaign.id)

    async def _finish(
        self, call: Call, outcome: Outcome, decision: Decision, now: datetime
    ) -> None:
        """Write the outcome, trying again while the store fails (overloaded, restarting):
        an attempt left open would hold its contact ``dialing`` for as long as the service
        renews its leases. Closing is exactly once, so a retry never counts twice."""
        for delay in _RETRY_DELAYS:
            try:
                await self._store.finish_attempt(call.attempt_id, outcome, decision, now)
                return
            except Exception:
                log.exception("settle_failed", attempt_id=call.attempt_id, retry_in=delay)
                await asyncio.sleep(delay)
        await self._store.finish_attempt(call.attempt_id, outcome, decision, now)
