"""The dialer engine: claims due contacts, places calls, connects answers, settles outcomes,
and delivers callbacks.

:class:`Engine` is the public face; it wires collaborators that each own their state:
:class:`~dialer.engine.calls.Calls` (the calls in flight),
:class:`~dialer.engine.supervision.Supervisor` (a pacing task per running campaign),
:class:`~dialer.engine.placing.Placer` (capacity, claims, Originates),
:class:`~dialer.engine.connecting.CallFlow` (the bridge's call events: connect or
abandon, the agent's leg, the end of the call),
:class:`~dialer.engine.settlement.Settlement` (one outcome per attempt),
:class:`~dialer.engine.callbacks.CallbackDelivery`, :class:`~dialer.engine.preview.Preview`
and :class:`~dialer.engine.recovery.Recovery` (what a crash left, and leases).

Every loop waits for events (an agent freed, a call settled, a campaign changed) or for
deadlines (the next due contact, the next callback, a reservation running out), never on a
fixed tick. The store holds everything that must survive a crash: the attempt is written
before its Originate is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

import structlog

from ami_bridge import AmiBridge
from campaigns.model import Contact
from campaigns.ports import Store
from dialer.clock import Clock
from dialer.engine.callbacks import CallbackDelivery
from dialer.engine.calls import Calls
from dialer.engine.config import EngineConfig, EngineEvents, NoEvents
from dialer.engine.connecting import CallFlow
from dialer.engine.placing import Placer
from dialer.engine.preview import Preview
from dialer.engine.recovery import Recovery
from dialer.engine.settlement import Settlement
from dialer.engine.supervision import Supervisor
from dialer.pacing import CampaignStats
from dialer.roster import AgentStatus, Roster, Seat

log = structlog.get_logger()


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
        events = events or NoEvents()
        self._config = config
        self._stats: dict[int, CampaignStats] = {}
        self._stopping = asyncio.Event()
        self._tasks: asyncio.TaskGroup | None = None
        self._calls = Calls()
        self._recovery = Recovery(store=store, bridge=bridge, clock=clock, config=config)
        settlement = Settlement(
            store=store,
            clock=clock,
            calls=self._calls,
            stats=self.stats,
            events=events,
            settled=lambda campaign_id: self._supervisor.wake_campaign(campaign_id),
        )
        self._placer = Placer(
            store=store,
            bridge=bridge,
            roster=roster,
            clock=clock,
            config=config,
            calls=self._calls,
            settlement=settlement,
            stats=self.stats,
            callback_demand=lambda campaign_id: self._callbacks.demand(campaign_id),
            spawn=self._spawn,
        )
        self._supervisor = Supervisor(
            store=store,
            bridge=bridge,
            roster=roster,
            clock=clock,
            config=config,
            placer=self._placer,
            stopping=self._stopping,
            running_changed=lambda: self._callbacks.wake(),
        )
        self._callbacks = CallbackDelivery(
            store=store,
            bridge=bridge,
            roster=roster,
            clock=clock,
            config=config,
            placer=self._placer,
            events=events,
            known=self._supervisor.known,
            stopping=self._stopping,
        )
        self._flow = CallFlow(
            bridge=bridge,
            roster=roster,
            clock=clock,
            config=config,
            calls=self._calls,
            settlement=settlement,
            stats=self.stats,
            events=events,
            spawn=self._spawn,
            callback_missed=self._callbacks.missed,
        )
        self._preview = Preview(
            store=store,
            roster=roster,
            clock=clock,
            config=config,
            placer=self._placer,
            known=self._supervisor.known,
        )
        roster.listen(self._on_roster)

    # Life cycle

    async def run(self) -> None:
        """Recover what a previous run left, then dial until :meth:`stop`."""
        await self._recovery.recover()
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            background = [
                tasks.create_task(self._flow.consume(), name="call-events"),
                tasks.create_task(self._recovery.keep_leases(self.wake), name="leases"),
                tasks.create_task(self._callbacks.run(), name="callbacks"),
                tasks.create_task(self._supervisor.supervise(self._spawn), name="campaigns"),
                tasks.create_task(self._supervisor.watch(), name="campaign-changes"),
            ]
            await self._stopping.wait()
            log.info("engine_stopping", calls_in_progress=len(self._calls))
            self._supervisor.stop_runners()
            self._calls.check_quiet()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._config.drain_timeout):
                    await self._calls.until_quiet()
            for task in background:
                task.cancel()
        log.info("engine_stopped", calls_abandoned_to_recovery=len(self._calls))

    def stop(self) -> None:
        """Stop claiming; calls in progress finish their bookkeeping, then :meth:`run` returns."""
        self._stopping.set()

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A task of the engine's (a call's search for an agent, a campaign's pacing). Its
        failure is logged and ends it alone: in the task group it would end the engine,
        and every call with it (a store that timed out under load once stopped a whole
        service so)."""
        assert self._tasks is not None

        async def guarded() -> None:
            try:
                await work
            except Exception:
                log.exception("engine_task_failed", task=name)

        return self._tasks.create_task(guarded(), name=name)

    def wake(self, campaign_id: int | None = None) -> None:
        """Something changed (a campaign, its contacts): look again now."""
        self._supervisor.wake(campaign_id)

    def callbacks_changed(self) -> None:
        """A callback was booked, rebooked or reassigned: read the due ones again now
        (agents' state changes alone no longer do)."""
        self._callbacks.wake()

    def running_campaigns(self) -> list[int]:
        return self._supervisor.running()

    def stats(self, campaign_id: int) -> CampaignStats:
        return self._stats.setdefault(campaign_id, CampaignStats())

    @property
    def calls_in_progress(self) -> int:
        return len(self._calls)

    async def until_quiet(self) -> None:
        """Until no call is in progress."""
        await self._calls.until_quiet()

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
                    self._supervisor.wake_campaign(campaign_id)
        self._callbacks.agents_changed()
        if after is not None and after.status is AgentStatus.FREE:
            self._flow.agent_freed()

    async def hang_up(self, agent_id: int, attempt_id: int) -> bool:
        """The agent ends their call: hung up in Asterisk, the agent in wrap-up at once."""
        return await self._flow.hang_up(agent_id, attempt_id)

    # Preview

    async def preview_next(self, agent_id: int, campaign_id: int) -> Contact | None:
        """Claim the next due contact of a preview campaign for the agent to look at."""
        return await self._preview.next(agent_id, campaign_id)

    async def preview_dial(self, agent_id: int, contact: Contact) -> int:
        """The agent starts the call: their phone rings first, then the contact's."""
        return await self._preview.dial(agent_id, contact)

    async def preview_skip(self, contact: Contact, until: datetime | None = None) -> None:
        """Put a previewed contact back, due again at ``until`` (default: now)."""
        await self._preview.skip(contact, until)
