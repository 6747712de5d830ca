"""``ringback serve`` on the PBX simulator, for the browser tests: ``python -m
tests.web.serve_sim DATA_DIR``.

The same ``serve()`` the CLI runs, with settings from ``RINGBACK_*`` like it, and one
difference the CLI has no option for: every contact answers as a person and stays on the
line until the agent hangs up, so that a test decides when a call ends. Prints
``READY <url>`` once the API listens; SIGTERM stops it as it stops the service.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from ami_bridge.simulator.model import Behaviour
from dialer.service import Running, serve
from dialer.settings import load_settings

SIMULATOR = {
    "rules": [(r".*", Behaviour.HUMAN)],
    "ring_seconds": 0.5,
    "amd_seconds": 0.3,
    "talk_seconds": 3600.0,
}


async def main(data_dir: Path) -> None:
    settings = load_settings(data_dir=data_dir, api={"port": 0}, ami={"simulate": True})

    async def started(running: Running) -> None:
        print(f"READY {running.url}", flush=True)

    await serve(settings, simulator_options=SIMULATOR, on_started=started)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
