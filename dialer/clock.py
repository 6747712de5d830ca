"""Time as the engine sees it: wall-clock instants for the domain, loop time for waiting.

Waiting is always ``asyncio`` waiting, so a virtual-time event loop (``dialer.testing``)
runs the real engine through hours in seconds.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, time-zone aware (UTC)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class LoopClock:
    """Instants derived from the running loop's clock, starting at ``start``."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._origin = asyncio.get_running_loop().time()

    def now(self) -> datetime:
        elapsed = asyncio.get_running_loop().time() - self._origin
        return self._start + timedelta(seconds=elapsed)


def seconds_until(clock: Clock, when: datetime) -> float:
    return max(0.0, (when - clock.now()).total_seconds())
