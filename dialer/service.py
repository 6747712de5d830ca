"""``ringback serve``: the AMI bridge, the engine and the agent API in one asyncio process.

This is the composition root: it builds every part once and hands each its collaborators.
Resources are stacked in one ``AsyncExitStack`` and closed in reverse order; every task
lives in one ``TaskGroup``. uvicorn owns the signals: SIGTERM or SIGINT ends the HTTP
server, after which the engine stops claiming, lets calls in progress finish their
bookkeeping, and the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import structlog
import uvicorn

from agent_api.app import create_app
from agent_api.hub import AgentHub
from agent_api.mqtt import MqttPublisher, NullPublisher
from agent_api.notifier import Notifier, Topics
from agent_api.server import server_config
from ami_bridge import AsteriskAmiBridge
from ami_bridge.simulator import PbxSimulator
from campaigns.callbacks import Callback
from campaigns.errors import NotFound as Unknown
from campaigns.model import Contact, Outcome
from campaigns.retry import Decision
from campaigns.services import Services
from campaigns.spec import Campaign
from campaigns.storage.store import SqlAgentStore, SqlStore
from campaigns.wrapup import SEED_END_REASONS, Direction
from dialer.agents import AgentStatus, Roster, Seat
from dialer.app import open_store
from dialer.clock import Clock, SystemClock, seconds_until
from dialer.engine import Engine, EngineConfig, TrunkLimit
from dialer.pacing import CampaignStats
from dialer.settings import Settings

log = structlog.get_logger()


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

    def state_of(self, agent_id: int) -> tuple[str, str | None]:
        seat = self._roster.get(agent_id)
        if seat is None:
            return "logged_out", None
        if seat.status is AgentStatus.FREE:
            return "ready", None
        return seat.status.value, seat.pause_reason or None

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


class ApiServer(uvicorn.Server):
    """uvicorn without its own signal handling.

    uvicorn re-raises SIGTERM/SIGINT once its server is down, which would end the process
    before the engine has settled the calls in progress; the service handles them instead.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _handle_signals(server: uvicorn.Server) -> Callable[[], None]:
    """SIGTERM/SIGINT end the HTTP server (a second SIGINT: at once); returns the undo."""
    loop = asyncio.get_running_loop()

    def stop(sig: signal.Signals) -> None:
        log.info("signal_received", signal=sig.name)
        if server.should_exit and sig is signal.SIGINT:
            server.force_exit = True
        server.should_exit = True

    handled = (signal.SIGTERM, signal.SIGINT)
    for sig in handled:
        loop.add_signal_handler(sig, stop, sig)

    def undo() -> None:
        for sig in handled:
            loop.remove_signal_handler(sig)

    return undo


@dataclass
class Running:
    """What a started service exposes to whoever started it (the demo, tests)."""

    url: str
    store: SqlStore
    services: Services
    engine: Engine
    roster: Roster
    simulator: PbxSimulator | None
    server: uvicorn.Server


async def serve(
    settings: Settings,
    *,
    clock: Clock | None = None,
    simulator_options: dict[str, Any] | None = None,
    on_started: Callable[[Running], Awaitable[None]] | None = None,
) -> None:
    """Run until SIGTERM/SIGINT (or ``running.server.should_exit``), then stop cleanly."""
    clock = clock or SystemClock()
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(open_store(settings))
        agent_store = SqlAgentStore(store.engine)
        await agent_store.seed_end_reasons(SEED_END_REASONS)
        ami = settings.ami
        host, port, secret = ami.host, ami.port, ami.secret.get_secret_value()
        simulator = None
        if ami.simulate:
            secret = secret or "ringback"
            options = {"time_scale": ami.simulator_time_scale, **(simulator_options or {})}
            simulator = await stack.enter_async_context(
                PbxSimulator(username=ami.username, secret=secret, **options)
            )
            host, port = "127.0.0.1", simulator.port
        bridge = await stack.enter_async_context(
            AsteriskAmiBridge(
                host=host,
                port=port,
                username=ami.username,
                secret=secret,
                ping_interval=ami.ping_interval_seconds,
                connect_timeout=ami.connect_timeout_seconds,
                reconnect_max=ami.reconnect_max_seconds,
            )
        )
        publisher: MqttPublisher | NullPublisher = NullPublisher()
        if settings.mqtt.enabled:
            publisher = await stack.enter_async_context(
                MqttPublisher(settings.mqtt, client_id=f"ringback-{settings.instance_id}")
            )
        hub = AgentHub()
        notifier = Notifier(hub, publisher, Topics(settings.mqtt.topic_prefix))
        roster = Roster()
        engine_ref: list[Engine] = []
        floor = RosterFloor(roster, clock, lambda: engine_ref[0])
        services = Services.build(agent_store, store, notifier, clock.now, floor=floor)
        spawner = Spawner()
        stack.push_async_callback(spawner.close)
        events = ServiceEvents(services, notifier, spawner, lambda c: engine_ref[0].stats(c))

        def announce(before: Seat | None, after: Seat | None) -> None:
            seat = after or before
            assert seat is not None
            state, reason = floor.state_of(seat.agent_id)
            notifier.agent_state(seat.agent_id, state, reason)

        roster.listen(announce)
        if simulator is not None:
            # The simulator tells agents' phones from contacts by the agents' extensions.
            phones = simulator.agent_phones
            roster.listen(lambda before, after: phones.add(after.channel) if after else None)
        engine = Engine(
            store=store,
            bridge=bridge,
            roster=roster,
            clock=clock,
            config=EngineConfig(
                owner=settings.instance_id,
                trunks={
                    name: TrunkLimit(t.max_concurrent, t.calls_per_second)
                    for name, t in settings.trunks.items()
                },
            ),
            events=events,
        )
        engine_ref.append(engine)
        app = create_app(services, settings.api, hub, publisher=publisher)
        config = server_config(app, settings.api.host, settings.api.port)
        server = ApiServer(config)
        stack.callback(_handle_signals(server))
        async with asyncio.TaskGroup() as tasks:
            engine_task = tasks.create_task(engine.run(), name="engine")
            wrapups = tasks.create_task(
                auto_wrapup(services, roster, clock, events.wrapup_changed), name="wrapups"
            )
            if on_started is not None:
                tasks.create_task(
                    _when_started(server, on_started, store, services, engine, roster, simulator),
                    name="started",
                )
            settle_heap()
            log.info("service_starting", api=f"{settings.api.host}:{settings.api.port}")
            await server.serve()
            log.info("service_stopping")
            engine.stop()
            await engine_task
            wrapups.cancel()
    log.info("service_stopped")


def settle_heap() -> None:
    """Once start-up is done: what it built lives as long as the process. Frozen, it is out
    of the garbage collector's sight, and a full collection under load takes milliseconds
    instead of the 75 ms measured without (a request's latency, the API's p99)."""
    gc.collect()
    gc.freeze()


async def _when_started(
    server: uvicorn.Server,
    on_started: Callable[[Running], Awaitable[None]],
    store: SqlStore,
    services: Services,
    engine: Engine,
    roster: Roster,
    simulator: PbxSimulator | None,
) -> None:
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for this
        await asyncio.sleep(0.05)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    running = Running(f"http://{host}:{port}", store, services, engine, roster, simulator, server)
    await on_started(running)
