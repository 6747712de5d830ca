"""The AMI connection: each panoramisk 1.4 defect from issue 3 has its test here."""

from __future__ import annotations

import asyncio
import time

import pytest
from structlog.testing import capture_logs

from ami_bridge.bridge import AsteriskAmiBridge
from ami_bridge.errors import AmiAuthError, AmiDisconnected
from ami_bridge.events import AmiEvent, Newchannel
from ami_bridge.simulator import PbxSimulator
from campaigns.model import Outcome
from tests.ami_bridge.conftest import collect, dial, make_client, outcomes, settled


async def test_wrong_secret_is_a_clear_error_without_retry(pbx: PbxSimulator) -> None:
    """A refused login raises AmiAuthError once, after Asterisk's delay; no retry loop."""
    started = time.monotonic()
    with capture_logs() as logs:
        async with asyncio.timeout(3):
            with pytest.raises(AmiAuthError, match="Authentication failed"):
                async with make_client(pbx, secret="wrong"):
                    pass
        await asyncio.sleep(0.2)  # a retry loop would show up here
    assert time.monotonic() - started >= 0.05
    names = [entry["event"] for entry in logs]
    assert names.count("ami_auth_failed") == 1
    assert "ami_reconnect_scheduled" not in names


async def test_unreachable_host_is_retried_with_backoff() -> None:
    """Nothing listening: connection attempts repeat with growing, jittered delays."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with PbxSimulator(port=0) as pbx:
        client = make_client(pbx, port=port, reconnect_initial=0.01, reconnect_max=0.04)
    with capture_logs() as logs, pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3), client:
            pass
    delays = [e["delay_seconds"] for e in logs if e["event"] == "ami_reconnect_scheduled"]
    assert len(delays) >= 3
    assert max(delays) <= 0.04


@pytest.mark.parametrize(
    "junk",
    [
        b"Event: Hangup\r\nthis line has no colon\r\n\r\n",
        bytes(range(256)) * 4 + b"\r\n\r\n",
        b"Event: Big\r\nData: " + b"x" * (1024 * 1024) + b"\r\n\r\n",
    ],
    ids=["missing-colon", "binary-garbage", "one-megabyte-line"],
)
async def test_malformed_input_is_logged_and_skipped(
    pbx: PbxSimulator, bridge: AsteriskAmiBridge, junk: bytes
) -> None:
    """Junk from the PBX is logged once and skipped; the same session keeps working."""
    with capture_logs() as logs:
        pbx.inject(junk)
        await dial(bridge, "j1", "+31200000004")
        events = await collect(bridge, settled("j1"))
    assert outcomes(events)["j1"].outcome is Outcome.BUSY
    names = [entry["event"] for entry in logs]
    assert names.count("ami_malformed_message") == 1
    assert "ami_state_changed" not in names


async def test_utf8_split_across_tcp_reads(pbx: PbxSimulator) -> None:
    """'Алексей' with a character cut between two TCP segments arrives intact."""
    seen: list[AmiEvent] = []
    arrived = asyncio.Event()

    def record(event: AmiEvent) -> None:
        seen.append(event)
        arrived.set()

    block = (
        "Event: Newchannel\r\nChannel: PJSIP/x-1\r\nCallerIDNum: 100\r\n"
        "CallerIDName: Алексей\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\n\r\n"
    ).encode()
    cut = block.index("л".encode()) + 1
    async with make_client(pbx) as client:
        client.subscribe(record)
        pbx.inject(block[:cut])
        await asyncio.sleep(0.05)
        pbx.inject(block[cut:])
        async with asyncio.timeout(2):
            await arrived.wait()
    (event,) = seen
    assert isinstance(event, Newchannel) and event.caller_id_name == "Алексей"


async def test_dead_peer_with_tcp_up_is_detected_by_ping(pbx: PbxSimulator) -> None:
    """The PBX stops answering but keeps TCP open: an unanswered Ping ends the session."""
    async with make_client(pbx, ping_interval=0.05, ping_timeout=0.1) as client:
        with capture_logs() as logs:
            pbx.unresponsive = True
            async with asyncio.timeout(2):
                await client.wait_disconnected()
            pbx.unresponsive = False
            async with asyncio.timeout(2):
                await client.wait_connected()
        names = [entry["event"] for entry in logs]
        assert "ami_ping_timeout" in names
        reply = await client.send_action("Ping")
        assert reply.get("Ping") == "Pong"


async def test_in_flight_actions_fail_on_disconnect(pbx: PbxSimulator) -> None:
    """A reply that will never come fails with AmiDisconnected at the drop, not never."""
    async with make_client(pbx) as client:
        pbx.unresponsive = True
        ping = asyncio.create_task(client.send_action("Ping", timeout=30))
        await asyncio.sleep(0.05)
        pbx.drop_connections()
        async with asyncio.timeout(1):
            with pytest.raises(AmiDisconnected):
                await ping
        pbx.unresponsive = False


async def test_raising_subscriber_does_not_kill_the_connection(
    pbx: PbxSimulator, bridge: AsteriskAmiBridge
) -> None:
    """A subscriber that raises is logged; the bridge on the same connection still works."""

    def broken(event: AmiEvent) -> None:
        raise RuntimeError("subscriber bug")

    bridge.client.subscribe(broken)
    with capture_logs() as logs:
        await dial(bridge, "b1", "+31200000004")
        events = await collect(bridge, settled("b1"))
    assert outcomes(events)["b1"].outcome is Outcome.BUSY
    names = [entry["event"] for entry in logs]
    assert "ami_subscriber_failed" in names
    assert "ami_state_changed" not in names


async def test_not_connected_originate_settles_at_once(pbx: PbxSimulator) -> None:
    """Originate while Asterisk is away: never queued for later, settled failed_system."""
    client = make_client(pbx, reconnect_initial=5.0, reconnect_max=5.0)
    async with client, AsteriskAmiBridge(client) as b:
        pbx.drop_connections()
        async with asyncio.timeout(1):
            await b.client.wait_disconnected()
        await dial(b, "n1", "+31200000001")
        events = await collect(b, settled("n1"))
        assert outcomes(events)["n1"].outcome is Outcome.FAILED_SYSTEM
        assert pbx.originates == []


async def test_unknown_action_gets_an_error_response(pbx: PbxSimulator) -> None:
    """The simulator answers an unknown action with Response: Error, like Asterisk."""
    async with make_client(pbx) as client:
        reply = await client.send_action("NoSuchThing")
    assert reply.response == "Error"
    assert reply.get("Message").startswith("Invalid/unknown command: NoSuchThing.")


async def test_originate_without_async_key_is_just_an_action(pbx: PbxSimulator) -> None:
    """An Originate without 'Async' is sent and answered like any action (no KeyError)."""
    async with make_client(pbx) as client:
        reply = await client.send_action(
            "Originate",
            [("Channel", "PJSIP/+31200000004@trunk"), ("Context", "ringback"), ("Exten", "s")],
        )
        assert reply.response == "Success"
        assert client.state.value == "connected"
