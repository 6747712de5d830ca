"""The simulator against the real Asterisk transcripts: same events, order, fields, codes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from ami_bridge.protocol import AmiParser, Banner, Message, encode_action
from ami_bridge.simulator import Behaviour, PbxSimulator
from tests.ami_bridge import traces

SCENARIOS = {
    "human": Behaviour.HUMAN,
    "machine": Behaviour.MACHINE,
    "noanswer": Behaviour.NO_ANSWER,
    "busy": Behaviour.BUSY,
    "busy-with-channelid": Behaviour.BUSY,
    "congestion": Behaviour.CONGESTION,
    "unallocated": Behaviour.UNALLOCATED,
    "invalid-format": Behaviour.INVALID_FORMAT,
    "cancel-while-ringing": Behaviour.NO_ANSWER,
    "answer": Behaviour.HANGUP_DURING_AMD,
}
COMPARED = traces.DIALER_EVENTS
VARIABLES = {traces.ATTEMPT_VARIABLE, "AMDSTATUS", "AMDCAUSE"}


def signature(m: Message) -> tuple[str, str, str]:
    """(event, which Local half, the code that matters)."""
    channel = m.get("Channel") or m.get("DestChannel")
    half = channel[-2:] if channel.endswith((";1", ";2")) else ""
    code = (
        m.get("DialStatus")
        or m.get("Variable")
        or (m.get("Status") if m.event == "UserEvent" else "")
        or (f"{m.get('Cause')}/{m.get('Cause-txt')}" if "Cause" in m else "")
        or (m.get("ChannelStateDesc") if m.event in ("Newstate", "Newchannel") else "")
    )
    return m.event or "", half, code


def sequence(messages: list[Message]) -> list[tuple[str, str, str]]:
    return [
        signature(m)
        for m in messages
        if m.event in COMPARED and (m.event != "VarSet" or m.get("Variable") in VARIABLES)
    ]


def originate_result(messages: list[Message]) -> tuple[str, str, bool, bool]:
    (m,) = [m for m in messages if m.event == "OriginateResponse"]
    return (
        m.get("Response"),
        m.get("Reason"),
        m.get("Uniqueid") == "<unknown>",
        m.get("Channel").endswith(";1"),
    )


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    rules = [(f"^{name}$", b) for name, b in SCENARIOS.items()]
    async with PbxSimulator(
        username="dialer",
        secret="dialer-secret",
        rules=rules,
        contexts=("dialer",),
        attempt_variable=traces.ATTEMPT_VARIABLE,
        time_scale=0.01,
    ) as pbx:
        yield pbx


async def play(pbx: PbxSimulator, name: str) -> list[Message]:
    """Send the transcript's own actions to the simulator; return what came back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", pbx.port)
    parser = AmiParser()
    received: list[Message] = []
    actions = [m for m in traces.sent(name) if m.get("Action") != "Logoff"]

    async def read_until(done: Callable[[], bool]) -> None:
        while not done():
            data = await reader.read(65536)
            assert data, "simulator closed the connection"
            items = parser.feed(data)
            assert not any(isinstance(i, Banner) for i in items[1:])
            received.extend(i for i in items if isinstance(i, Message))

    try:
        async with asyncio.timeout(5):
            for action in actions:
                fields = [(k, v) for k, v in action.pairs if k not in ("Action", "ActionID")]
                if action.get("Action") == "Hangup":
                    # Hang up the ringing ;1 half, as the recording did.
                    await read_until(lambda: any(m.event == "DialState" for m in received))
                    (ch,) = [m for m in received if m.event == "Newchannel"][:1]
                    fields = [("Channel", ch.get("Channel")), ("Cause", "16")]
                writer.write(encode_action(action.get("Action"), action.action_id or "", fields))
            await read_until(
                lambda: (
                    sum(m.event == "Hangup" for m in received) >= 2
                    and any(m.event == "OriginateResponse" for m in received)
                )
            )
    finally:
        writer.close()
    return received


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_simulator_matches_transcript(sim: PbxSimulator, name: str) -> None:
    """Same channel events in the same order with the same codes, and the same OR."""
    real = traces.received(name)
    simulated = await play(sim, name)
    assert len(sequence(real)) >= 6, "the transcript has the call's channel events"
    assert sequence(simulated) == sequence(real)
    assert originate_result(simulated) == originate_result(real)


@pytest.mark.parametrize("name", ["human", "busy", "noanswer", "unallocated"])
async def test_simulator_field_names_match(sim: PbxSimulator, name: str) -> None:
    """Every event type the simulator sends has the real event's header names, in order."""
    real = traces.received(name)
    simulated = await play(sim, name)

    def layouts(messages: list[Message]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for m in messages:
            key = m.event or f"Response:{m.response}"
            out.setdefault(key, [k for k, _ in m.pairs if not k.startswith("ChanVariable")])
        return out

    real_layouts = layouts(real)
    simulated_layouts = layouts(simulated)
    # Every kind of message the simulator sends must exist in the real stream: an event
    # name the real Asterisk never sends would otherwise pass unchecked.
    assert set(simulated_layouts) <= set(real_layouts), set(simulated_layouts) - set(real_layouts)
    assert {"Newchannel", "Hangup", "OriginateResponse"} <= set(simulated_layouts)
    for event, keys in simulated_layouts.items():
        assert keys == real_layouts[event], event


async def test_simulator_replies_match_transcripts(sim: PbxSimulator) -> None:
    """Login, Ping, CoreShowChannels and Logoff replies have the real layout."""
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    parser = AmiParser()
    got: list[Message] = []
    try:
        for action, fields in (
            ("Login", [("Username", "dialer"), ("Secret", "dialer-secret"), ("Events", "on")]),
            ("Ping", []),
            ("CoreShowChannels", []),
            ("Logoff", []),
        ):
            writer.write(encode_action(action, action.lower(), fields))
        async with asyncio.timeout(2):
            while data := await reader.read(65536):
                got += [i for i in parser.feed(data) if isinstance(i, Message)]
    finally:
        writer.close()
    real = traces.received("login-ping-logoff") + traces.received("coreshowchannels-status")

    def keys(messages: list[Message], pick: str) -> list[str]:
        m = next(m for m in messages if (m.event or m.get("Ping") or m.get("Message")) == pick)
        return [k for k, _ in m.pairs]

    for pick in (
        "Authentication accepted",
        "Pong",
        "Channels will follow",
        "CoreShowChannelsComplete",
        "FullyBooted",
        "Thanks for all the fish.",
    ):
        assert keys(got, pick) == keys(real, pick), pick
