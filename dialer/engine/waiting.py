"""Waiting as every engine loop does it: for an event or a deadline, never on a tick."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

import structlog

from ami_bridge import AmiBridge

log = structlog.get_logger()
T = TypeVar("T")


async def wait(event: asyncio.Event, seconds: float) -> None:
    """Until ``event`` is set or ``seconds`` pass."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, seconds)):
            await event.wait()


async def guard(work: Awaitable[T]) -> T | None:
    """A store call whose failure is logged and waited out, not fatal to the loop."""
    try:
        return await work
    except Exception:
        log.exception("store_call_failed")
    return None


async def until_pbx_available(bridge: AmiBridge, stopping: asyncio.Event) -> None:
    """Asterisk is away (shutting down, or the AMI connection is down): an Originate now
    would be refused or lost, so wait for the next session (or our stop)."""
    log.info("dialing_held", reason="asterisk unavailable")
    waiters = [
        asyncio.ensure_future(bridge.wait_available()),
        asyncio.ensure_future(stopping.wait()),
    ]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    log.info("dialing_resumed")
