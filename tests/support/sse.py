"""An agent's Server-Sent Events as the tests read them."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

# The first thing the server writes, once the stream is subscribed to the agent's events.
CONNECTED = ": connected"


async def parse(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """(event name, data) for each event in ``lines``; comments are skipped."""
    name = ""
    async for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: "))


class Stream:
    """An agent's event stream, read in the background, awaited by name."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self._arrived = asyncio.Event()
        self._open = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async with self._client.stream("GET", "/agents/me/events", timeout=None) as reply:
            async for name, data in parse(self._lines(reply)):
                self.seen.append((name, data))
                self._arrived.set()

    async def _lines(self, reply: httpx.Response) -> AsyncIterator[str]:
        async for line in reply.aiter_lines():
            if line == CONNECTED:
                self._open.set()
            yield line

    async def opened(self) -> None:
        """Returns once the server has subscribed the stream: no event is missed after it."""
        async with asyncio.timeout(5):
            await self._open.wait()

    async def next(self, wanted: str, *, after: int = 0, within: float = 30.0) -> dict[str, Any]:
        """The first ``wanted`` event at index ``after`` or later."""
        async with asyncio.timeout(within):
            while True:
                for name, data in self.seen[after:]:
                    if name == wanted:
                        return data
                self._arrived.clear()
                await self._arrived.wait()

    def names(self) -> list[str]:
        return [name for name, _ in self.seen]

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
            await self._task
