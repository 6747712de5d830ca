"""The agent's push channel as Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from agent_api.deps import Manager, Me
from agent_api.hub import CLOSED, AgentEvent, AgentHub

router = APIRouter(tags=["events"])

# Proxies close idle streams; a comment line now and then keeps it open.
KEEPALIVE_SECONDS = 15.0


async def _stream(
    subscription: AbstractAsyncContextManager[asyncio.Queue[AgentEvent]], keepalive: float
) -> AsyncIterator[bytes]:
    async with subscription as queue:
        yield b": connected\n\n"
        while True:
            try:
                async with asyncio.timeout(keepalive):
                    event = await queue.get()
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if event is CLOSED:
                return
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
    return _response(_stream(hub.subscribe(me.id), keepalive))


@router.get(
    "/floor/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def floor_events(request: Request, _: Manager) -> StreamingResponse:
    """For supervisors (managers): agent_state (every agent's), call_offered, wrapped_up,
    call_outcome, campaign_progress, callback_booked, callback_due."""
    hub: AgentHub = request.app.state.hub
    keepalive: float = request.app.state.sse_keepalive
    return _response(_stream(hub.subscribe_floor(), keepalive))


def _response(stream: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
