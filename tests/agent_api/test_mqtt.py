"""MQTT publishing against the Mosquitto on 127.0.0.1:1883 (a down broker fails, not skips)."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiomqtt
import pytest

from agent_api.hub import AgentHub
from agent_api.mqtt import MqttPublisher
from agent_api.notifier import Notifier, Topics
from dialer.settings import MqttSettings

pytestmark = pytest.mark.mqtt
BROKER = ("127.0.0.1", 1883)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def subscriber(pattern: str) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(*BROKER, timeout=5) as client:
        await client.subscribe(pattern, qos=1)
        yield client


async def receive(client: aiomqtt.Client, n: int) -> list[tuple[str, dict[str, Any]]]:
    got = []
    async with asyncio.timeout(5):
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            got.append((message.topic.value, json.loads(message.payload)))
            if len(got) == n:
                return got
    raise AssertionError("unreachable")  # pragma: no cover


@asynccontextmanager
async def tcp_proxy(listen_port: int, target: tuple[str, int]) -> AsyncIterator[None]:
    """Forwards a port to the broker: starting it late plays a broker coming back."""
    writers: set[asyncio.StreamWriter] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*target)
        writers.update((writer, up_writer))
        async with asyncio.TaskGroup() as group:
            group.create_task(pipe(reader, up_writer))
            group.create_task(pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    try:
        yield
    finally:
        server.close()
        # Open connections would keep wait_closed() waiting: cut them first.
        for writer in writers:
            writer.close()
        async with asyncio.timeout(5):
            await server.wait_closed()


async def test_events_reach_the_broker_on_their_topics() -> None:
    """Call outcome, agent state and campaign progress arrive as JSON on their topics."""
    prefix = f"rbtest-{uuid.uuid4().hex[:8]}"
    settings = MqttSettings(enabled=True, host=BROKER[0], port=BROKER[1], topic_prefix=prefix)
    async with subscriber(f"{prefix}/#") as sub, MqttPublisher(settings) as publisher:
        notifier = Notifier(AgentHub(), publisher, Topics(prefix))
        notifier.call_outcome(11, 2, 3, "answered")
        notifier.agent_state(7, "ready", None)
        notifier.campaign_progress(2, {"dialed": 10, "answered": 4})
        got = await receive(sub, 3)
    assert got == [
        (
            f"{prefix}/calls/11/outcome",
            {"attempt_id": 11, "campaign_id": 2, "contact_id": 3, "outcome": "answered"},
        ),
        (f"{prefix}/agents/7/state", {"agent_id": 7, "state": "ready", "reason": None}),
        (f"{prefix}/campaigns/2/progress", {"campaign_id": 2, "dialed": 10, "answered": 4}),
    ]
    assert publisher.sent == 3 and publisher.dropped == 0


async def test_broker_down_buffers_drops_oldest_and_counts() -> None:
    """With no broker, events wait in a bounded buffer; the oldest are dropped and counted."""
    settings = MqttSettings(enabled=True, port=free_port(), buffer_size=3)
    async with MqttPublisher(settings, backoff_initial=0.05, backoff_max=0.2) as publisher:
        for i in range(5):
            publisher.publish(f"t/{i}", {"i": i})
        async with asyncio.timeout(2):
            await asyncio.sleep(0.3)  # a few reconnect rounds fail meanwhile
        assert not publisher.connected
        assert (publisher.buffered, publisher.dropped, publisher.sent) == (3, 2, 0)


async def test_reconnects_and_delivers_the_buffer_when_the_broker_returns() -> None:
    """Events buffered while the broker was away are delivered after the reconnect."""
    prefix = f"rbtest-{uuid.uuid4().hex[:8]}"
    port = free_port()
    settings = MqttSettings(enabled=True, port=port, topic_prefix=prefix, buffer_size=2)
    proxy = tcp_proxy(port, BROKER)
    async with subscriber(f"{prefix}/#") as sub:
        publisher = MqttPublisher(settings, backoff_initial=0.05, backoff_max=0.1)
        async with publisher:
            notifier = Notifier(AgentHub(), publisher, Topics(prefix))
            for attempt in (1, 2, 3):
                notifier.call_outcome(attempt, 1, attempt, "busy")
            assert (publisher.buffered, publisher.dropped) == (2, 1)
            # The broker "comes back"; it stays up until the publisher has closed.
            await proxy.__aenter__()
            got = await receive(sub, 2)
            assert [topic for topic, _ in got] == [
                f"{prefix}/calls/2/outcome",
                f"{prefix}/calls/3/outcome",
            ]
            assert publisher.connected
        await proxy.__aexit__(None, None, None)
    assert (publisher.buffered, publisher.sent) == (0, 2)


async def test_health_tells_a_frozen_broker_by_the_last_exchange() -> None:
    """A broker that keeps its connection open but stops answering (frozen) is reported
    down once an event has waited for its acknowledgement too long."""
    held: list[asyncio.StreamWriter] = []

    async def frozen(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)  # CONNECT
        writer.write(b"\x20\x02\x00\x00")  # CONNACK, accepted; then silence
        await writer.drain()
        held.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(frozen, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = MqttSettings(enabled=True, host="127.0.0.1", port=port)
    publisher = MqttPublisher(settings, close_timeout=0.2)
    publisher.STALE_SECONDS = 0.3
    async with server, publisher:
        for _ in range(100):
            if publisher.connected:
                break
            await asyncio.sleep(0.02)
        assert publisher.connected
        publisher.publish("ringback/test", {"n": 1})
        await asyncio.sleep(0.6)
        assert not publisher.connected
        for writer in held:
            writer.close()
