"""The agent's push channel as Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from agent_api.deps import Me
from agent_api.hub import AgentHub

router = APIRouter(tags=["events"])

# Proxies close idle streams; a comment line now and then keeps it open.
KEEPALIVE_SECONDS = 15.0


async def _stream(hub: AgentHub, agent_id: int, keepalive: float) -> AsyncIterator[bytes]:
    async with hub.subscribe(agent_id) as queue:
        yield b": connected\n\n"
        while True:
            try:
                async with asyncio.timeout(keepalive):
                    event = await queue.get()
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            data = json.dumps(dict(event.data), default=str)
            yield f"event: {event.name}\ndata: {data}\n\n".encode()


@router.get(
    "/agents/me/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def my_events(request: Request, me: Me) -> StreamingResponse:
    """Events: call_offered, wrapup_countdown, wrapped_up, callback_booked, callback_due,
    state, case_changed."""
    hub: AgentHub = request.app.state.hub
    keepalive: float = request.app.state.sse_keepalive
    return StreamingResponse(
        _stream(hub, me.id, keepalive),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
