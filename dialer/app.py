"""The one composition root: every part of Ringback is built here, from the settings, and
handed its collaborators. ``ringback serve`` (:mod:`dialer.service`), the demo, the CLI,
the tests and the benchmarks build through these functions; nothing else constructs the
store, the bridge, the engine or the agent API.

- :func:`open_store`: the store on the configured database, migrated;
- :func:`open_bridge`: the AMI bridge to Asterisk, or to the built-in simulator;
- :func:`build_engine`: the engine over a store, a bridge and a roster;
- :func:`build_api`: the agent side (services, live-event hub, notifier, HTTP app);
- :func:`build`: all of it, as ``serve`` runs it (resources on one ``AsyncExitStack``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import FastAPI

from agent_api.app import create_app
from agent_api.hub import AgentHub
from agent_api.mqtt import MqttPublisher, NullPublisher
from agent_api.notifier import Notifier, Publisher, Topics
from ami_bridge import AmiBridge, AsteriskAmiBridge
from ami_bridge.simulator import PbxSimulator
from campaigns.ports import AgentEvents, AgentFloor, Store
from campaigns.services import Services
from campaigns.storage.engine import make_engine
from campaigns.storage.migrate import upgrade
from campaigns.storage.store import SqlAgentStore, SqlStore
from dialer.agent_side import RosterFloor, ServiceEvents, Spawner
from dialer.clock import Clock, SystemClock
from dialer.engine import Engine, EngineConfig, EngineEvents, TrunkLimit
from dialer.forecast import simulate
from dialer.roster import Roster, Seat
from dialer.settings import Settings

log = structlog.get_logger()


@asynccontextmanager
async def open_store(
    settings: Settings, *, migrate: bool = True, **engine_options: Any
) -> AsyncIterator[SqlStore]:
    """The store on the configured database, migrated to the current schema.

    ``engine_options`` go to SQLAlchemy's engine (e.g. ``pool_size``)."""
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url, **engine_options)
    try:
        if migrate:
            await upgrade(engine)
        yield SqlStore(engine)
    finally:
        await engine.dispose()


@asynccontextmanager
async def open_bridge(
    settings: Settings,
    *,
    simulator_options: dict[str, Any] | None = None,
    simulator: type[PbxSimulator] = PbxSimulator,
) -> AsyncIterator[tuple[AsteriskAmiBridge, PbxSimulator | None]]:
    """The AMI bridge; with ``[ami] simulate`` also the simulator it dials (started first,
    closed last). ``simulator``: the simulator class (a benchmark's instrumented one)."""
    ami = settings.ami
    host, port, secret = ami.host, ami.port, ami.secret.get_secret_value()
    async with AsyncExitStack() as stack:
        pbx = None
        if ami.simulate:
            secret = secret or "ringback"
            options = {"time_scale": ami.simulator_time_scale, **(simulator_options or {})}
            pbx = await stack.enter_async_context(
                simulator(username=ami.username, secret=secret, **options)
            )
            host, port = "127.0.0.1", pbx.port
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
        yield bridge, pbx


def engine_config(settings: Settings, **overrides: Any) -> EngineConfig:
    """The engine's settings: this instance's name on leases, the trunks' limits."""
    trunks = {
        name: TrunkLimit(t.max_concurrent, t.calls_per_second)
        for name, t in settings.trunks.items()
    }
    options: dict[str, Any] = {"owner": settings.instance_id, "trunks": trunks, **overrides}
    return EngineConfig(**options)


def build_engine(
    settings: Settings,
    *,
    store: Store,
    bridge: AmiBridge,
    roster: Roster,
    clock: Clock,
    events: EngineEvents | None = None,
    **overrides: Any,
) -> Engine:
    """The engine; ``overrides`` replace :class:`EngineConfig` fields (tests: lease, idle)."""
    return Engine(
        store=store,
        bridge=bridge,
        roster=roster,
        clock=clock,
        config=engine_config(settings, **overrides),
        events=events,
    )


@dataclass
class AgentSide:
    services: Services
    hub: AgentHub
    notifier: Notifier
    api: FastAPI


def build_services(
    store: SqlStore,
    events: AgentEvents,
    clock: Clock,
    floor: AgentFloor | None = None,
    owner: str | None = None,
) -> Services:
    """The agent side's use cases over the store (``floor``: the dialer's agents, ``owner``
    its instance id; the forecast replays the store's history through the dialer's floor
    simulation)."""
    return Services.build(
        SqlAgentStore(store.engine),
        store,
        events,
        clock.now,
        floor=floor,
        history=store,
        simulator=simulate,
        owner=owner,
    )


def build_api(
    settings: Settings,
    store: SqlStore,
    clock: Clock,
    *,
    publisher: Publisher | None = None,
    floor: AgentFloor | None = None,
) -> AgentSide:
    """Services, the live-event hub, the notifier (hub and MQTT) and the HTTP app."""
    hub = AgentHub()
    publisher = publisher or NullPublisher()
    notifier = Notifier(hub, publisher, Topics(settings.mqtt.topic_prefix))
    services = build_services(store, notifier, clock, floor, settings.instance_id)
    api = create_app(services, settings.api, hub, publisher=publisher)
    return AgentSide(services, hub, notifier, api)


@dataclass
class Parts:
    """Everything :func:`build` made, for whoever runs it (``serve``, the demo, tests)."""

    settings: Settings
    clock: Clock
    store: SqlStore
    bridge: AsteriskAmiBridge
    simulator: PbxSimulator | None
    roster: Roster
    agent_side: AgentSide
    events: ServiceEvents
    engine: Engine

    @property
    def services(self) -> Services:
        return self.agent_side.services


@asynccontextmanager
async def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    simulator_options: dict[str, Any] | None = None,
) -> AsyncIterator[Parts]:
    """The whole service, its resources open; closed in reverse order on exit."""
    clock = clock or SystemClock()
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(open_store(settings))
        # Starting: nobody is logged in to this service yet, whatever a crash left.
        await store.log_out_agents_of(settings.instance_id)
        bridge, simulator = await stack.enter_async_context(
            open_bridge(settings, simulator_options=simulator_options)
        )
        publisher: MqttPublisher | NullPublisher = NullPublisher()
        if settings.mqtt.enabled:
            publisher = await stack.enter_async_context(
                MqttPublisher(settings.mqtt, client_id=f"ringback-{settings.instance_id}")
            )
        roster = Roster()
        engine_ref: list[Engine] = []
        floor = RosterFloor(roster, clock, lambda: engine_ref[0])
        side = build_api(settings, store, clock, publisher=publisher, floor=floor)
        spawner = Spawner()
        stack.push_async_callback(spawner.close)
        events = ServiceEvents(
            side.services, side.notifier, spawner, lambda c: engine_ref[0].stats(c)
        )

        def announce(before: Seat | None, after: Seat | None) -> None:
            seat = after or before
            assert seat is not None
            state, reason = floor.state_of(seat.agent_id)
            side.notifier.agent_state(seat.agent_id, state, reason)

        roster.listen(announce)
        if simulator is not None:
            # The simulator tells agents' phones from contacts by the agents' extensions.
            phones = simulator.agent_phones
            roster.listen(lambda before, after: phones.add(after.channel) if after else None)
        engine = build_engine(
            settings, store=store, bridge=bridge, roster=roster, clock=clock, events=events
        )
        engine_ref.append(engine)
        side.notifier.callbacks_changed = engine.callbacks_changed
        yield Parts(settings, clock, store, bridge, simulator, roster, side, events, engine)
