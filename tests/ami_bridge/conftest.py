"""Fixtures: a PBX simulator on 127.0.0.1 and a bridge/client connected to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

import pytest

from ami_bridge.bridge import AsteriskAmiBridge
from ami_bridge.call_events import CallEvent, CallOutcome
from ami_bridge.client import AmiClient
from ami_bridge.events import AmiEvent, Newchannel
from ami_bridge.simulator import Behaviour, PbxSimulator

# The last digit of a number picks what the simulated contact does.
RULES = [
    (r"1$", Behaviour.HUMAN),
    (r"2$", Behaviour.MACHINE),
    (r"3$", Behaviour.NO_ANSWER),
    (r"4$", Behaviour.BUSY),
    (r"5$", Behaviour.CONGESTION),
    (r"6$", Behaviour.UNALLOCATED),
    (r"7$", Behaviour.INVALID_FORMAT),
    (r"8$", Behaviour.REJECTED),
]
SCALE = 0.02  # 4 s of ringing take 80 ms


@pytest.fixture
async def pbx() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(
        rules=RULES, time_scale=SCALE, talk_seconds=10.0, login_failure_delay=0.05
    ) as sim:
        yield sim


def make_client(pbx: PbxSimulator, **overrides: Any) -> AmiClient:
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": pbx.port,
        "username": "ringback",
        "secret": "ringback",
        "ping_interval": 5.0,
        "connect_timeout": 1.0,
        "action_timeout": 2.0,
        "reconnect_initial": 0.02,
        "reconnect_max": 0.1,
    }
    options.update(overrides)
    return AmiClient(**options)


@pytest.fixture
async def bridge(pbx: PbxSimulator) -> AsyncIterator[AsteriskAmiBridge]:
    async with make_client(pbx) as client, AsteriskAmiBridge(client, amd_timeout=2.0) as b:
        yield b


async def dial(bridge: AsteriskAmiBridge, attempt_id: str, phone: str, **kw: Any) -> None:
    options: dict[str, Any] = {
        "phone": phone,
        "channel_template": "PJSIP/{number}@trunk",
        "context": "ringback",
        "exten": "connect",
        "caller_id": '"Ringback" <5550100>',
        "timeout_s": 5.0,
    }
    options.update(kw)
    await bridge.originate(attempt_id, **options)


async def dial_until_ringing(
    bridge: AsteriskAmiBridge, attempt_id: str, phone: str, **kw: Any
) -> None:
    """:func:`dial`, returning once the call's channel has reached the bridge."""
    ringing = asyncio.Event()

    def watch(event: AmiEvent) -> None:
        if isinstance(event, Newchannel) and event.uniqueid.startswith(f"rb-{attempt_id}-"):
            ringing.set()

    bridge.client.subscribe(watch)
    await dial(bridge, attempt_id, phone, **kw)
    async with asyncio.timeout(2):
        await ringing.wait()


async def collect(
    bridge: AsteriskAmiBridge,
    done: Callable[[list[CallEvent]], bool],
    within: float = 5.0,
) -> list[CallEvent]:
    """Call events until ``done(events)`` holds; fails after ``within`` seconds."""
    events: list[CallEvent] = []
    async with asyncio.timeout(within), aclosing(bridge.call_events()) as stream:
        async for event in stream:
            events.append(event)
            if done(events):
                return events
    raise AssertionError("unreachable")


def outcomes(events: list[CallEvent]) -> dict[str, CallOutcome]:
    return {e.attempt_id: e for e in events if isinstance(e, CallOutcome)}


def settled(*attempt_ids: str) -> Callable[[list[CallEvent]], bool]:
    return lambda events: set(attempt_ids) <= outcomes(events).keys()
