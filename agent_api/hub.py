"""In-process push channel to agents: one bounded queue per connected stream.

A slow or stuck reader loses its oldest events (counted), never memory: the queue is
bounded and its entry is removed when the stream closes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class AgentEvent:
    name: str
    data: Mapping[str, Any]


CLOSED = AgentEvent("", {})
"""The last item of every stream once the hub is closed (the service is stopping)."""


class AgentHub:
    def __init__(self, queue_size: int = 100) -> None:
        self._queue_size = queue_size
        self._streams: dict[int, set[asyncio.Queue[AgentEvent]]] = {}
        self._floor: set[asyncio.Queue[AgentEvent]] = set()
        self._closed = False
        self.dropped = 0

    def close(self) -> None:
        """End every stream, and those opened from now on (the service is stopping)."""
        self._closed = True
        for streams in (*self._streams.values(), self._floor):
            for queue in streams:
                self._put(queue, CLOSED)

    @property
    def subscribers(self) -> int:
        return sum(len(s) for s in self._streams.values()) + len(self._floor)

    @asynccontextmanager
    async def subscribe_floor(self) -> AsyncIterator[asyncio.Queue[AgentEvent]]:
        """The supervisors' stream: every agent's state, calls' outcomes, campaigns'
        progress (see :meth:`to_floor`)."""
        async with self._joined(self._floor) as queue:
            yield queue

    def to_floor(self, event: AgentEvent) -> None:
        for queue in self._floor:
            self._put(queue, event)

    @asynccontextmanager
    async def subscribe(self, agent_id: int) -> AsyncIterator[asyncio.Queue[AgentEvent]]:
        streams = self._streams.setdefault(agent_id, set())
        try:
            async with self._joined(streams) as queue:
                yield queue
        finally:
            if not streams:
                self._streams.pop(agent_id, None)

    @asynccontextmanager
    async def _joined(
        self, streams: set[asyncio.Queue[AgentEvent]]
    ) -> AsyncIterator[asyncio.Queue[AgentEvent]]:
        """A new stream's queue in ``streams`` while it is open (ended at once if the hub
        is closed)."""
        queue: asyncio.Queue[AgentEvent] = asyncio.Queue(self._queue_size)
        if self._closed:
            queue.put_nowait(CLOSED)
        streams.add(queue)
        try:
            yield queue
        finally:
            streams.discard(queue)

    def send(self, agent_id: int, event: AgentEvent) -> None:
        for queue in self._streams.get(agent_id, ()):
            self._put(queue, event)

    def broadcast(self, event: AgentEvent) -> None:
        for streams in self._streams.values():
            for queue in streams:
                self._put(queue, event)

    def _put(self, queue: asyncio.Queue[AgentEvent], event: AgentEvent) -> None:
        if queue.full():
            queue.get_nowait()
            self.dropped += 1
            log.warning("agent_event_dropped", event_name=event.name)
        queue.put_nowait(event)
