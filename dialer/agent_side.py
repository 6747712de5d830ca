"""The engine as the agent side sees it, and the agent side as the engine sees it.

- :class:`RosterFloor`: the agent API's :class:`agent_api.ports.AgentFloor` over the
  roster and the engine (log in, ready, pause, preview);
- :class:`ServiceEvents`: the engine's events turned into interactions and notifications;
- :func:`auto_wrapup`: interactions whose countdown reached zero are wrapped up;
- :class:`Spawner`: tasks those events start, awaited when the service closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any

import structlog

from agent_api.notifier import Notifier
from campaigns.callbacks import Callback
from campaigns.errors import NotFound as Unknown
from campaigns.model import Contact, Outcome
from campaigns.retry import Decision
from campaigns.services import Services
from campaigns.spec import Campaign
from campaigns.users import AgentState
from campaigns.wrapup import Direction
from dialer.clock import Clock, seconds_until
from dialer.engine import Engine
from dialer.pacing import CampaignStats
from dialer.roster import AgentStatus, Roster

log = structlog.get_logger()

# The roster's statuses as agents and managers see them (a free agent is "ready").
_STATES = {
    AgentStatus.FREE: AgentState.READY,
    AgentStatus.RESERVED: AgentState.RESERVED,
    AgentStatus.ON_CALL: AgentState.ON_CALL,
    AgentStatus.WRAPUP: AgentState.WRAPUP,
    AgentStatus.PAUSED: AgentState.PAUSED,
}


class Spawner:
    """Fire-and-remember: tasks for work the engine's events start, awaited at close."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(self._logged(work, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    async def _logged(work: Awaitable[Any], name: str) -> Any:
        try:
            return await work
        except Exception:
            log.exception("background_work_failed", work=name)
            return None

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=10)


class RosterFloor:
    """The agent API's :class:`agent_api.ports.AgentFloor` over the engine and its roster."""

    def __init__(self, roster: Roster, clock: Clock, engine: Callable[[], Engine]) -> None:
        self._roster = roster
        self._clock = clock
        self._engine = engine
        # One held contact per agent at most: bounded by the logged-in agents.
        self._previewing: dict[int, Contact] = {}

    def _running(self) -> list[int]:
        return self._engine().running_campaigns()

    def state_of(self, agent_id: int) -> tuple[AgentState, str | None]:
        seat = self._roster.get(agent_id)
        if seat is None:
            return AgentState.LOGGED_OUT, None
        return _STATES[seat.status], seat.pause_reason or None

    def since(self, agent_id: int) -> datetime | None:
        seat = self._roster.get(agent_id)
        return seat.since if seat is not None else None

    def campaigns_of(self, agent_id: int) -> tuple[list[int], bool]:
        seat = self._roster.get(agent_id)
        if seat is None:
            return [], False
        return sorted(seat.campaigns), seat.follows_running

    def log_in(self, agent_id: int, channel: str, campaigns: Sequence[int] | None) -> None:
        chosen = list(campaigns) if campaigns is not None else self._running()
        self._roster.login(
            agent_id, channel, chosen, self._clock.now(), follows_running=campaigns is None
        )

    def ready(self, agent_id: int) -> None:
        self._roster.ready(agent_id, self._clock.now())

    def pause(self, agent_id: int, reason: str | None) -> None:
        self._roster.pause(agent_id, reason or "", self._clock.now())

    def log_out(self, agent_id: int) -> None:
        self._roster.logout(agent_id)

    async def hang_up(self, agent_id: int, attempt_id: int) -> bool:
        return await self._engine().hang_up(agent_id, attempt_id)

    async def preview_next(self, agent_id: int, campaign_id: int) -> Contact | None:
        held = self._previewing.pop(agent_id, None)
        if held is not None:
            await self._engine().preview_skip(held)
        contact = await self._engine().preview_next(agent_id, campaign_id)
        if contact is not None:
            self._previewing[agent_id] = contact
        return contact

    def previewing(self, agent_id: int) -> int | None:
        held = self._previewing.get(agent_id)
        return held.id if held is not None else None

    def _held(self, agent_id: int, contact_id: int) -> Contact:
        held = self._previewing.get(agent_id)
        if held is None or held.id != contact_id:
            raise Unknown(f"contact {contact_id} is not being previewed by you")
        return held

    async def preview_dial(self, agent_id: int, contact_id: int) -> int:
        contact = self._held(agent_id, contact_id)
        attempt_id = await self._engine().preview_dial(agent_id, contact)
        self._previewing.pop(agent_id, None)
        return attempt_id

    async def preview_skip(self, agent_id: int, contact_id: int) -> None:
        contact = self._held(agent_id, contact_id)
        self._previewing.pop(agent_id, None)
        await self._engine().preview_skip(contact)


class ServiceEvents:
    """The engine's events, turned into the agent side's interactions and notifications."""

    def __init__(
        self,
        services: Services,
        notifier: Notifier,
        spawner: Spawner,
        stats: Callable[[int], CampaignStats],
    ) -> None:
        self._services = services
        self._notifier = notifier
        self._spawner = spawner
        self._stats = stats
        self._started: dict[int, asyncio.Task[Any]] = {}
        # Per campaign, bounded by the campaigns: outcomes since this service started.
        self._outcomes: dict[int, Counter[str]] = {}
        self.wrapup_changed = asyncio.Event()

    def call_connected(
        self,
        agent_id: int,
        attempt_id: int,
        contact: Contact,
        campaign: Campaign,
        callback: Callback | None,
    ) -> None:
        start = self._services.interactions.start_interaction(
            agent_id,
            contact.phone,
            Direction.OUTBOUND,
            contact=contact,
            attempt_id=attempt_id,
            callback=callback,
        )
        self._started[attempt_id] = self._spawner.spawn(start, f"interaction-{attempt_id}")

    def call_ended(self, agent_id: int, attempt_id: int, talk_seconds: float) -> None:
        started = self._started.pop(attempt_id, None)
        if started is not None:
            self._spawner.spawn(self._end(started), f"wrapup-{attempt_id}")

    async def _end(self, started: asyncio.Task[Any]) -> None:
        interaction = await started
        if interaction is not None:
            await self._services.interactions.end_interaction(interaction.id)
            self.wrapup_changed.set()

    def attempt_settled(
        self, attempt_id: int, contact: Contact, outcome: Outcome, decision: Decision
    ) -> None:
        campaign_id = contact.campaign_id
        self._notifier.call_outcome(attempt_id, campaign_id, contact.id, outcome.value)
        counts = self._outcomes.setdefault(campaign_id, Counter())
        counts[outcome.value] += 1
        stats = self._stats(campaign_id)
        self._notifier.campaign_progress(
            campaign_id,
            {
                "outcomes": dict(counts),
                "answered": stats.answered,
                "abandoned": stats.abandoned,
                "abandon_rate": round(stats.abandon_rate, 4),
                "answer_rate": round(stats.answer_rate, 4),
            },
        )

    def agent_phone_failed(self, agent_id: int, attempt_id: int, reason: str) -> None:
        self._notifier.call_failed(agent_id, attempt_id, reason)

    def callback_due(self, callback: Callback) -> None:
        self._spawner.spawn(
            self._services.callbacks.callback_due(callback), f"callback-due-{callback.id}"
        )


async def auto_wrapup(
    services: Services, roster: Roster, clock: Clock, changed: asyncio.Event
) -> None:
    """Wrap up interactions whose countdown reached zero; their agents become ready."""
    while True:
        changed.clear()
        deadline = await services.interactions.next_wrapup_deadline()
        timeout = 60.0 if deadline is None else seconds_until(clock, deadline) + 0.01
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await changed.wait()
        try:
            done = await services.interactions.auto_wrapup_due()
        except Exception:
            log.exception("auto_wrapup_failed")
            continue
        for interaction in done:
            seat = roster.get(interaction.agent_id)
            if seat is not None and seat.status is AgentStatus.WRAPUP:
                roster.ready(interaction.agent_id, clock.now())
