"""The simulator's own controls: outcome choice by rule or seed, and the CLI entry point."""

from __future__ import annotations

import asyncio
import contextlib

from ami_bridge.protocol import AmiParser, Banner
from ami_bridge.simulator import Behaviour, PbxSimulator, serve


def test_rules_first_then_seeded_weights() -> None:
    """A matching rule wins; otherwise the same seed gives the same behaviours."""
    rules = [(r"^\+3120", Behaviour.BUSY)]
    a = PbxSimulator(rules=rules, seed=7)
    b = PbxSimulator(rules=rules, seed=7)
    assert a._behaviour("+31201234567") is Behaviour.BUSY
    numbers = [f"+4740000{i:03d}" for i in range(200)]
    picks = [a._behaviour(n) for n in numbers]
    assert picks == [b._behaviour(n) for n in numbers]
    assert {Behaviour.HUMAN, Behaviour.NO_ANSWER, Behaviour.MACHINE} <= set(picks)


async def test_serve_speaks_ami_until_cancelled() -> None:
    """``serve()`` (the CLI's entry point) listens and greets with the AMI banner."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    task = asyncio.create_task(serve("127.0.0.1", port, time_scale=0.01))
    try:
        async with asyncio.timeout(2):
            while True:
                try:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    break
                except OSError:
                    await asyncio.sleep(0.01)
            banner = await reader.readline()
            writer.close()
        assert AmiParser().feed(banner) == [Banner("11.0.0")]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
