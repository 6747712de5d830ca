"""The agent's control of the current call, on a real Asterisk 22 through ``ringback serve``.

The contact (scenario 09) stays on the line for about a minute and the agent's phone
(``answer``) never hangs up: only the agent's ``POST /interactions/{id}/end`` can end the
call before then.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.live.pbx import LivePbx
from tests.live.service import live_service
from tests.live.test_service import number

pytestmark = pytest.mark.live


def channels(pbx: LivePbx) -> list[str]:
    """The channels Asterisk has up, one concise line each."""
    return [line for line in pbx.rx("core show channels concise").splitlines() if "!" in line]


async def test_agent_ends_the_call_and_asterisk_hangs_it_up(pbx: LivePbx, tmp_path: Path) -> None:
    """The agent ends a call neither side would end for a minute: Asterisk has no channel of
    it a moment later, the agent is in wrap-up once (one countdown), ready is accepted after
    the registration, and the attempt is answered."""
    async with live_service(pbx, tmp_path) as live:
        ann = await live.agent("ann", pbx.phones["answer"])
        cid = await live.campaign("hang-up", [number("09", "301")])
        await ann.state("ready")
        offered = await ann.events.next("call_offered", within=30)
        interaction_id = offered["interaction_id"]
        await asyncio.sleep(1.0)  # talking
        assert await asyncio.to_thread(channels, pbx), "the call should be up"
        assert (await ann.get_state())["state"] == "on_call"

        asked = time.monotonic()
        reply = await ann.client.post(f"/interactions/{interaction_id}/end")
        assert reply.status_code == 200, reply.text
        assert reply.json()["ended_at"] is not None
        assert (await ann.get_state())["state"] == "wrapup"
        async with asyncio.timeout(5):
            while True:  # Asterisk's console has no event to wait for
                if not await asyncio.to_thread(channels, pbx):
                    break
                await asyncio.sleep(0.1)
        gone = time.monotonic() - asked
        assert gone < 2.5, gone

        stats = await live.settled(cid, 1, within=10)
        assert stats["attempts_by_outcome"] == {"answered": 1}
        reply = await ann.client.post(f"/interactions/{interaction_id}/registration", json={})
        assert reply.status_code == 201, reply.text
        assert (await ann.state("ready"))["state"] == "ready"
        await asyncio.sleep(1.0)  # a late CallEnded must not put the agent back
        assert (await ann.get_state())["state"] == "ready"
        assert ann.events.names().count("wrapup_countdown") == 1, ann.events.names()
        print(f"end -> channels gone: {gone:.2f} s")
