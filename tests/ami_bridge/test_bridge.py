"""The bridge against the PBX simulator over real TCP on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from ami_bridge.bridge import AsteriskAmiBridge
from ami_bridge.call_events import AgentLeg, CallAnswered, CallEnded, CallOutcome
from ami_bridge.errors import AmiActionError
from ami_bridge.events import AmdStatus, DialStatus
from ami_bridge.protocol import UnsafeFieldError
from ami_bridge.simulator import PbxSimulator
from campaigns.model import Outcome
from tests.ami_bridge.conftest import (
    collect,
    dial,
    dial_until_ringing,
    make_client,
    outcomes,
    settled,
)

EXPECTED = {
    "+31200000001": Outcome.ANSWERED,
    "+31200000002": Outcome.MACHINE,
    "+31200000003": Outcome.NO_ANSWER,
    "+31200000004": Outcome.BUSY,
    "+31200000005": Outcome.CONGESTION,
    "+31200000006": Outcome.INVALID,
    "+31200000007": Outcome.INVALID,
    "+31200000008": Outcome.REJECTED,
}


@pytest.mark.parametrize(("phone", "expected"), sorted(EXPECTED.items()))
async def test_each_outcome(bridge: AsteriskAmiBridge, phone: str, expected: Outcome) -> None:
    """Each simulated contact behaviour settles its SPEC outcome, once, and is forgotten."""
    await dial(bridge, "a1", phone)
    events = await collect(bridge, settled("a1"))
    assert outcomes(events)["a1"].outcome is expected
    if expected is not Outcome.ANSWERED:
        assert bridge.tracked_attempts == 0


async def test_human_call_answered_then_ended(bridge: AsteriskAmiBridge) -> None:
    """A human: CallAnswered (AMD HUMAN), outcome answered, then CallEnded with talk time."""
    await dial(bridge, "h1", "+31200000001")
    events = await collect(bridge, lambda ev: any(isinstance(e, CallEnded) for e in ev))
    assert [type(e) for e in events] == [CallAnswered, CallOutcome, CallEnded]
    answered, _, ended = events
    assert isinstance(answered, CallAnswered) and answered.amd is AmdStatus.HUMAN
    assert answered.uniqueid == "rb-h1-1"
    assert isinstance(ended, CallEnded) and ended.talk_seconds > 0 and not ended.lost
    assert bridge.tracked_attempts == 0


async def test_all_outcomes_at_once_with_duplicated_events(
    pbx: PbxSimulator, bridge: AsteriskAmiBridge
) -> None:
    """Eight concurrent calls with every event sent twice: one right outcome each."""
    pbx.duplicate_events = True
    ids = {phone: f"c{i}" for i, phone in enumerate(EXPECTED)}
    for phone, attempt in ids.items():
        await dial(bridge, attempt, phone)
    events = await collect(bridge, settled(*ids.values()))
    found = outcomes(events)
    assert {p: found[a].outcome for p, a in ids.items()} == EXPECTED
    assert len([e for e in events if isinstance(e, CallOutcome)]) == len(EXPECTED)


async def test_event_lag_is_how_long_call_events_waited_for_their_consumer(
    bridge: AsteriskAmiBridge,
) -> None:
    """Events nobody took for half a second say so; taken at once, they say nearly 0."""
    await dial(bridge, "lag1", "+31200000004")
    await asyncio.sleep(0.6)  # busy settles within a quarter of a second; nobody reads
    await collect(bridge, settled("lag1"))
    assert bridge.event_lag > 0.3
    await dial(bridge, "lag2", "+31200000004")
    await collect(bridge, settled("lag2"))
    assert bridge.event_lag < 0.1


async def test_hangup_while_ringing(pbx: PbxSimulator, bridge: AsteriskAmiBridge) -> None:
    """The dialer hangs up a ringing call: no answer, and the channels are gone."""
    await dial_until_ringing(bridge, "r1", "+31200000003", timeout_s=30.0)
    await bridge.hangup("r1")
    events = await collect(bridge, settled("r1"))
    outcome = outcomes(events)["r1"]
    assert (outcome.outcome, outcome.reason, outcome.cause) == (Outcome.NO_ANSWER, 0, 16)
    assert pbx.live_calls == 0


async def test_unknown_context_settles_failed_system(bridge: AsteriskAmiBridge) -> None:
    """Asterisk refusing the Originate (no such extension) settles failed_system at once."""
    await dial(bridge, "x1", "+31200000001", context="nosuchcontext")
    events = await collect(bridge, settled("x1"))
    outcome = outcomes(events)["x1"]
    assert outcome.outcome is Outcome.FAILED_SYSTEM
    assert "Extension does not exist." in outcome.detail


@pytest.mark.parametrize(
    "phone", ["+3120\r\n\r\nAction: Hangup\r\nChannel: PJSIP/boss", "+3120\n", "+31\x00"]
)
async def test_injection_is_refused(
    pbx: PbxSimulator, bridge: AsteriskAmiBridge, phone: str
) -> None:
    """A number with CR/LF or NUL raises before anything is written or tracked."""
    with pytest.raises(UnsafeFieldError):
        await dial(bridge, "i1", phone)
    with pytest.raises(UnsafeFieldError):
        await dial(bridge, "i2", "+31200000001", variables={"NOTE": "x\r\nAction: Logoff"})
    await bridge.client.send_action("Ping")  # answered after anything written before it
    assert pbx.originates == []
    assert bridge.tracked_attempts == 0


async def test_reconnect_mid_call_keeps_live_call_and_never_redials(
    pbx: PbxSimulator, bridge: AsteriskAmiBridge
) -> None:
    """Connection cut after the answer: reconnect, reconcile keeps it, hangup still seen."""
    await dial(bridge, "m1", "+31200000001")
    await collect(bridge, lambda ev: any(isinstance(e, CallAnswered) for e in ev))
    with capture_logs() as logs:
        pbx.drop_connections()
        events = await collect(bridge, lambda ev: any(isinstance(e, CallEnded) for e in ev))
    ended = events[-1]
    assert isinstance(ended, CallEnded) and not ended.lost
    assert [type(e) for e in events] == [CallOutcome, CallEnded]
    assert len(pbx.originates) == 1
    names = [entry["event"] for entry in logs]
    assert "ami_reconciled" in names
    assert [e["state"] for e in logs if e["event"] == "ami_state_changed"] == [
        "disconnected",
        "connecting",
        "connected",
    ]


async def test_drop_before_originate_response_is_never_resent(
    pbx: PbxSimulator, bridge: AsteriskAmiBridge
) -> None:
    """Cut while ringing: the call's own result still arrives after reconnect, one Originate."""
    await dial(bridge, "d1", "+31200000003", timeout_s=10.0)  # rings 200 ms
    pbx.drop_connections()
    events = await collect(bridge, settled("d1"))
    assert outcomes(events)["d1"].outcome is Outcome.NO_ANSWER
    assert len(pbx.originates) == 1


async def test_events_lost_while_disconnected_are_reconciled(pbx: PbxSimulator) -> None:
    """The call ends while we are away: reconciliation settles it failed_system, once."""
    client = make_client(pbx, reconnect_initial=0.6, reconnect_max=0.6)
    async with client, AsteriskAmiBridge(client) as b:
        await dial(b, "l1", "+31200000004")  # busy after 80 ms
        pbx.drop_connections()
        events = await collect(b, settled("l1"))
        outcome = outcomes(events)["l1"]
        assert (outcome.outcome, outcome.detail) == (
            Outcome.FAILED_SYSTEM,
            "reconciled: channels gone",
        )
        assert b.tracked_attempts == 0
        assert len(pbx.originates) == 1


async def test_restart_mid_call(pbx: PbxSimulator, bridge: AsteriskAmiBridge) -> None:
    """Asterisk restarts during a ringing call: settled failed_system, bridge logs in again."""
    await dial_until_ringing(bridge, "s1", "+31200000003", timeout_s=30.0)
    await pbx.restart()
    events = await collect(bridge, settled("s1"))
    assert outcomes(events)["s1"].outcome is Outcome.FAILED_SYSTEM
    async with asyncio.timeout(2):
        await bridge.client.wait_connected()
    await dial(bridge, "s2", "+31200000004")
    events = await collect(bridge, settled("s2"))
    assert outcomes(events)["s2"].outcome is Outcome.BUSY


async def test_live_attempt_ids(pbx: PbxSimulator, bridge: AsteriskAmiBridge) -> None:
    """CoreShowChannels finds the attempts still up by their channel ids."""
    await dial_until_ringing(bridge, "v1", "+31200000003", timeout_s=30.0)
    await dial_until_ringing(bridge, "v2", "+31200000003", timeout_s=30.0)
    assert await bridge.live_attempt_ids() == {"v1", "v2"}
    await bridge.hangup("v1")
    await collect(bridge, settled("v1"))
    assert await bridge.live_attempt_ids() == {"v2"}


async def test_agent_first_callback(pbx: PbxSimulator, bridge: AsteriskAmiBridge) -> None:
    """Agent phone answers, then the contact is dialed: answered; a busy contact: busy."""
    for attempt, phone in (("f1", "+31200000001"), ("f2", "+31200000004")):
        await bridge.originate_agent_first(
            attempt,
            agent_channel="PJSIP/agent-1001",
            phone=phone,
            channel_template="PJSIP/{number}@trunk",
            caller_id='"Ringback" <5550100>',
            timeout_s=5.0,
        )
    # Into the agent-first dialplan, never the campaign's answered-call context (AMD).
    assert {(m.get("Context"), m.get("Exten")) for m in pbx.originates} == {
        ("ringback-agent", "callback")
    }
    events = await collect(bridge, settled("f1", "f2"))
    found = outcomes(events)
    assert (found["f1"].outcome, found["f2"].outcome) == (Outcome.ANSWERED, Outcome.BUSY)
    assert found["f2"].cause == 17
    assert any(isinstance(e, CallAnswered) and e.attempt_id == "f1" for e in events)


async def test_connect_answered_call_to_agent(pbx: PbxSimulator, bridge: AsteriskAmiBridge) -> None:
    """After CallAnswered the dialer sends the call to an agent's phone (Setvar + Redirect)."""
    await dial(bridge, "g1", "+31200000001")
    await collect(bridge, lambda ev: any(isinstance(e, CallAnswered) for e in ev))
    await bridge.connect("g1", agent_channel="PJSIP/agent-1001")
    assert pbx.connected == {"rb-g1-1": "PJSIP/agent-1001"}
    with pytest.raises(AmiActionError, match="No such channel"):
        await bridge.connect("gone", agent_channel="PJSIP/agent-1001")
    with pytest.raises(UnsafeFieldError):
        await bridge.connect("g1", agent_channel="PJSIP/agent\r\nAction: Logoff")


@pytest.mark.parametrize(
    ("phone", "answered", "status"),
    [
        ("PJSIP/agent-1001", True, DialStatus.ANSWER),
        ("PJSIP/agent-1002", False, DialStatus.NOANSWER),
        ("PJSIP/nobody", False, DialStatus.CHANUNAVAIL),
    ],
)
async def test_agent_leg_after_connect(
    pbx: PbxSimulator, bridge: AsteriskAmiBridge, phone: str, answered: bool, status: DialStatus
) -> None:
    """The Dial() of the agent's phone after the Redirect ends in one AgentLeg."""
    pbx.unanswered_phones.add("PJSIP/agent-1002")
    await dial(bridge, "h1", "+31200000001")
    await collect(bridge, lambda ev: any(isinstance(e, CallAnswered) for e in ev))
    await bridge.connect("h1", agent_channel=phone)
    events = await collect(bridge, lambda ev: any(isinstance(e, AgentLeg) for e in ev))
    assert [e for e in events if isinstance(e, AgentLeg)] == [AgentLeg("h1", answered, status)]


async def test_bridge_built_from_settings_owns_its_connection(pbx: PbxSimulator) -> None:
    """Given host/port/credentials, the bridge connects on enter and logs off on exit."""
    async with AsteriskAmiBridge(
        host="127.0.0.1", port=pbx.port, username="ringback", secret="ringback"
    ) as b:
        await dial(b, "o1", "+31200000004")
        events = await collect(b, settled("o1"))
        assert outcomes(events)["o1"].outcome is Outcome.BUSY
    assert b.client.state.value == "closed"


async def test_shutdown_holds_calls_until_the_next_session(pbx: PbxSimulator) -> None:
    """Asterisk's Shutdown event: not available (the engine holds its Originates) until a
    new session is logged in, fully booted and reconciled."""
    client = make_client(pbx, reconnect_initial=0.05, reconnect_max=0.05)
    async with client, AsteriskAmiBridge(client) as b:
        async with asyncio.timeout(2):
            await b.wait_available()
        pbx.inject(b"Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\n\r\n")
        await b.client.send_action("Ping")  # its reply comes after the event
        assert not b.available
        waiter = asyncio.ensure_future(b.wait_available())
        await asyncio.sleep(0.1)
        assert not waiter.done()
        pbx.drop_connections()
        async with asyncio.timeout(2):
            await waiter
        assert b.available
