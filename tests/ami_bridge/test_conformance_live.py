"""The simulator against the live recordings in ``tests/fixtures/ami-live``.

Each recording is one call of ``tests/live/test_outcomes.py`` as an observer AMI connection
received it from a real Asterisk 22 running the shipped dialplan (``ringback``/``connect``:
AMD(), then UserEvent DialerAMD), over a Local channel (``local-NN``, the test carrier's
dialplan plays the far end on the ``;2`` half) and over PJSIP to a SIPp carrier
(``pjsip-NN``, one channel). NN is the scenario: the last two digits of the number.

The recordings hold what Asterisk sent, not the actions; the test sends the simulator the
Originate the bridge sent (same Channel, Context, Exten, ChannelId/OtherChannelId
``rb-<attempt>-1/-2``, Async) and, as the live run did, hangs up a call that AMD found
HUMAN. Then it compares what a dialer reasons about.

Compared (``COMPARED``): Newchannel, Newstate, DialBegin, DialState, DialEnd,
HangupRequest, SoftHangupRequest, Hangup (with Cause and Cause-txt), UserEvent (name,
Status, Cause), VarSet of RINGBACK_ATTEMPT_ID, AMDSTATUS and AMDCAUSE (with the value),
and the OriginateResponse (Response, Reason, Uniqueid, the shape of Channel, Context,
Exten, caller id). Left out as noise to a dialer: Newexten, NewCallerid,
NewConnectedLine, VarSet of other variables (RTPAUDIOQOS*, BRIDGEPEER, DIALSTATUS...),
Cdr, DeviceStateChange, RTCPSent/RTCPReceived, and the login reply, FullyBooted and
Goodbye of the observer's own session.

Normalised:

* Uniqueids become the channel's role, ``1`` or ``2`` (our ChannelId / OtherChannelId);
  anything else would be ``?``;
* channel names lose their per-boot sequence (``-0000000a`` → ``-<seq>``);
* the Context/Exten of an event is compared only where it is the dialplan's own
  ``ringback``/``connect``: before that it is the carrier's (``ringback-test-fate``, the
  PJSIP endpoint's ``from-carrier``/``s``), which the simulator cannot know;
* events are compared per channel, in order, not as one interleaved stream: Asterisk
  raises the two Local halves' events on different threads and their interleaving differs
  between calls of the same path (local-01: ``;2`` Newstate Up before ``;1``'s DialBegin;
  local-00: after). The OriginateResponse comes from the originate thread, at varying
  places (pjsip-00 before DialEnd, pjsip-08 after), and is compared on its own;
* the start of a dial, a run of DialBegin, Newstate and DialState on one channel, is
  compared in a fixed order: those come from the dialing thread and the channel's own,
  and their order varies (pjsip-02: DialState then Newstate Ringing; pjsip-05: Newstate
  then DialState; local-05: Newstate Ringing before DialBegin; local-02: after).

Timestamps are not in these events (``timestampevents`` is off); times are not compared.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from ami_bridge.protocol import AmiParser, Message, encode_action
from ami_bridge.simulator import Behaviour, PbxSimulator
from tests.ami_bridge import traces
from tests.ami_bridge.traces import LiveCall

BEHAVIOURS = {
    "00": Behaviour.HUMAN,
    "01": Behaviour.MACHINE,
    "02": Behaviour.NO_ANSWER,
    "03": Behaviour.BUSY,
    "04": Behaviour.CONGESTION,
    "05": Behaviour.REJECTED,
    "06": Behaviour.UNALLOCATED,
    "07": Behaviour.INVALID_FORMAT,
    "08": Behaviour.HANGUP_DURING_AMD,
}
CHANNELS = {
    "local": "Local/{number}@ringback-test-carrier",
    "pjsip": "PJSIP/{number}@trunk",
}
# As tests/live/test_outcomes.py: 6 s for the call that rings out, else 20 s.
TIMEOUTS = {"02": 6.0}
CALLER_ID = "Ringback <+4721000000>"
COMPARED = traces.DIALER_EVENTS
VARIABLES = {traces.LIVE_ATTEMPT_VARIABLE, "AMDSTATUS", "AMDCAUSE"}
DIAL_START = {"DialBegin": 0, "Newstate": 1, "DialState": 2}
CASES = [
    pytest.param(t, c, id=f"{t}-{c}-{BEHAVIOURS[c].name.lower()}")
    for t in traces.LIVE_TRANSPORTS
    for c in traces.LIVE_CODES
]

Signature = tuple[str, ...]


def role(m: Message, call: LiveCall) -> str:
    uid = m.get("Uniqueid") or m.get("DestUniqueid")
    one, two = call.channel_ids
    return {one: "1", two: "2"}.get(uid, "?")


def shape(name: str) -> str:
    return re.sub(r"-[0-9a-f]{8}(;[12])?$", r"-<seq>\1", name)


def signature(m: Message) -> Signature:
    """(event, channel name shape, the code that matters, dialplan position)."""
    event = m.event or ""
    channel = m.get("Channel") or m.get("DestChannel")
    if event == "VarSet":
        code = f"{m.get('Variable')}={m.get('Value')}"
    elif event == "UserEvent":
        code = f"{m.get('UserEvent')}/{m.get('Status')}/{m.get('Cause')}"
    elif "DialStatus" in m:
        code = m.get("DialStatus")
    elif "Cause" in m:
        code = f"{m.get('Cause')}/{m.get('Cause-txt')}"
    elif event in ("Newstate", "Newchannel"):
        code = m.get("ChannelStateDesc")
    else:
        code = ""
    context = m.get("Context") or m.get("DestContext")
    exten = m.get("Exten") or m.get("DestExten")
    where = f"{context},{exten}" if context == "ringback" else "-"
    return event, shape(channel), code, where


def per_channel(messages: list[Message], call: LiveCall) -> dict[str, list[Signature]]:
    """Each channel's dialer-relevant events in order (the start of the dial sorted)."""
    out: dict[str, list[Signature]] = {}
    for m in messages:
        if m.event not in COMPARED:
            continue
        if m.event == "VarSet" and m.get("Variable") not in VARIABLES:
            continue
        out.setdefault(role(m, call), []).append(signature(m))
    for events in out.values():
        i = 0
        while i < len(events):
            j = i
            while j < len(events) and events[j][0] in DIAL_START:
                j += 1
            events[i:j] = sorted(events[i:j], key=lambda s: DIAL_START[s[0]])
            i = max(j, i + 1)
    return out


def originate_result(messages: list[Message], call: LiveCall) -> Signature:
    (m,) = [m for m in messages if m.event == "OriginateResponse"]
    uid = m.get("Uniqueid")
    return (
        m.get("Response"),
        m.get("Reason"),
        uid if uid == "<unknown>" else role(m, call),
        shape(m.get("Channel")),
        m.get("Context"),
        m.get("Exten"),
        m.get("CallerIDNum"),
        m.get("CallerIDName"),
    )


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    rules = [(f"{code}$", behaviour) for code, behaviour in BEHAVIOURS.items()]
    async with PbxSimulator(rules=rules, time_scale=0.01) as pbx:
        yield pbx


async def play(pbx: PbxSimulator, call: LiveCall) -> list[Message]:
    """Originate as the bridge did; hang up a HUMAN as the live run did; collect events."""
    reader, writer = await asyncio.open_connection("127.0.0.1", pbx.port)
    parser = AmiParser()
    received: list[Message] = []
    one, two = call.channel_ids
    channels = {role(m, call) for m in call.messages if m.event == "Newchannel"}
    login = [("Username", "ringback"), ("Secret", "ringback"), ("Events", "on")]
    originate = [
        ("Channel", CHANNELS[call.transport].format(number=call.number)),
        ("Context", "ringback"),
        ("Exten", "connect"),
        ("Priority", "1"),
        ("CallerID", CALLER_ID),
        ("Timeout", str(round(TIMEOUTS.get(call.code, 20.0) * 1000))),
        ("Variable", f"{traces.LIVE_ATTEMPT_VARIABLE}={call.attempt_id}"),
        ("ChannelId", one),
        ("OtherChannelId", two),
        ("Async", "true"),
    ]
    writer.write(encode_action("Login", "login-1", login))
    writer.write(encode_action("Originate", "orig-1", originate))
    hung_up = False

    def done() -> bool:
        gone = {role(m, call) for m in received if m.event == "Hangup"}
        return gone >= channels and any(m.event == "OriginateResponse" for m in received)

    async def read() -> None:
        nonlocal hung_up
        data = await reader.read(65536)
        assert data, "simulator closed the connection"
        received.extend(i for i in parser.feed(data) if isinstance(i, Message))
        human = any(m.event == "UserEvent" and m.get("Status") == "HUMAN" for m in received)
        if human and not hung_up:
            hung_up = True
            writer.write(encode_action("Hangup", "hangup-1", [("Channel", one), ("Cause", "16")]))

    try:
        async with asyncio.timeout(5):
            while not done():
                await read()
        # Anything the simulator sends after the last Hangup counts too.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                while True:
                    await read()
    finally:
        writer.close()
    return received


@pytest.mark.parametrize(("transport", "code"), CASES)
async def test_simulator_matches_live_recording(
    sim: PbxSimulator, transport: str, code: str
) -> None:
    """Per channel: the same events in the same order, codes, names; the same OR."""
    call = traces.live_call(transport, code)
    real = per_channel(call.messages, call)
    # A recording that lost its events (or a role mapping that maps nothing) must fail.
    assert "1" in real and "?" not in real, real.keys()
    assert {"Newchannel", "DialBegin", "Hangup"} <= {s[0] for s in real["1"]}
    assert (transport == "local") == ("2" in real)
    received = await play(sim, call)
    simulated = per_channel(received, call)
    assert simulated, "the simulator sent no call events"
    assert simulated == real
    assert originate_result(received, call) == originate_result(call.messages, call)


@pytest.mark.parametrize(("transport", "code"), CASES)
async def test_simulator_layouts_match_live_recordings(
    sim: PbxSimulator, transport: str, code: str
) -> None:
    """Every event the simulator sends has the header names, in order, of a real event of
    that name (UserEvents: of that UserEvent) somewhere in the recordings."""
    real: dict[str, set[tuple[str, ...]]] = {}
    for t in traces.LIVE_TRANSPORTS:
        for c in traces.LIVE_CODES:
            for m in traces.live_received(t, c):
                if m.event:
                    real.setdefault(layout_key(m), set()).add(layout(m))
    simulated = [m for m in await play(sim, traces.live_call(transport, code)) if m.event]
    assert {"Newchannel", "DialBegin", "Hangup", "OriginateResponse"} <= {
        m.event for m in simulated
    }
    for m in simulated:
        key = layout_key(m)
        assert key in real, f"{key}: an event the real Asterisk never sent"
        assert layout(m) in real[key], key


def layout_key(m: Message) -> str:
    return f"UserEvent:{m.get('UserEvent')}" if m.event == "UserEvent" else m.event or ""


def layout(m: Message) -> tuple[str, ...]:
    return tuple(k for k, _ in m.pairs if not k.startswith("ChanVariable"))
