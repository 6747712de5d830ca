"""The agent push channel: the hub's bounds, and Server-Sent Events over a real server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from agent_api.hub import AgentEvent, AgentHub
from campaigns.wrapup import Direction
from tests.agent_api.conftest import Api
from tests.support import sse


async def test_hub_is_bounded_and_forgets_closed_streams() -> None:
    """A full queue drops its oldest event (counted); a closed stream leaves no entry."""
    hub = AgentHub(queue_size=2)
    async with hub.subscribe(1) as queue:
        for i in range(3):
            hub.send(1, AgentEvent("e", {"i": i}))
        hub.send(2, AgentEvent("nobody", {}))
        assert hub.subscribers == 1 and hub.dropped == 1
        assert [queue.get_nowait().data["i"] for _ in range(2)] == [1, 2]
    assert hub.subscribers == 0 and hub._streams == {}


@pytest.fixture
async def server_url(api: Api) -> AsyncIterator[str]:
    """The same app served by uvicorn on a free port (ASGITransport does not stream)."""
    # A socket listening before the server starts: clients queue in its backlog meanwhile.
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(api.app, log_level="warning", lifespan="off", ws="none")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    async with asyncio.timeout(5):
        await task


async def read_events(lines: AsyncIterator[str], n: int) -> list[tuple[str, dict[str, Any]]]:
    events = []
    async with asyncio.timeout(5):
        async for event in sse.parse(lines):
            events.append(event)
            if len(events) == n:
                return events
    raise AssertionError("stream ended early")  # pragma: no cover


async def test_sse_delivers_offer_and_countdown_then_unsubscribes(
    api: Api, server_url: str
) -> None:
    """An agent's stream receives its call offer and countdown; others' events stay away."""
    async with (
        httpx.AsyncClient(base_url=server_url, headers=api.agent) as client,
        client.stream("GET", "/agents/me/events") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        async with asyncio.timeout(5):
            assert await anext(lines) == sse.CONNECTED
        assert api.hub.subscribers == 1
        other = await api.services.users.authenticate(api.other["Authorization"][7:])
        await api.services.interactions.start_interaction(other.id, "+4799", Direction.INBOUND)
        contact = await api.services.campaigns.get_contact(api.contact_id)
        interaction = await api.services.interactions.start_interaction(
            api.agent_id, "+4741000001", contact=contact
        )
        await api.services.interactions.end_interaction(interaction.id)
        (offered, countdown) = await read_events(lines, 2)
    assert offered[0] == "call_offered" and offered[1]["contact"] == {"name": "Per"}
    assert countdown[0] == "wrapup_countdown"
    assert countdown[1]["timer"]["remaining_seconds"] == 30.0
    # The server notices the closed stream on its own schedule; watch the hub until it does.
    async with asyncio.timeout(5):
        while api.hub.subscribers:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_sse_needs_a_token(api: Api, server_url: str) -> None:
    """The stream is refused without a token."""
    async with httpx.AsyncClient(base_url=server_url) as client:
        r = await client.get("/agents/me/events")
    assert r.status_code == 401
