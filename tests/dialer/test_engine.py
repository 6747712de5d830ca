"""The engine on a real SQLite store, with a simulated PBX, in virtual time."""

from __future__ import annotations

from pathlib import Path

from campaigns.model import ContactState, Outcome
from dialer.testing import CallModel, VirtualTimeLoop
from tests.dialer.harness import make_floor, run_virtual

ALL_HUMAN = CallModel(human=1.0, machine=0, busy=0, congestion=0, invalid=0, mean_talk=60)


def test_progressive_calls_every_contact_once_and_completes_them(tmp_path: Path) -> None:
    """Two agents, twenty people who answer: twenty calls, twenty completed contacts."""

    async def main(loop: VirtualTimeLoop) -> None:
        floor = await make_floor(loop, tmp_path, contacts=20, model=ALL_HUMAN)
        floor.login(1, 2)
        await floor.start()
        await floor.sleep(3 * 3600)
        await floor.stop()
        stats = await floor.raw.campaign_stats(floor.campaign_id)
        assert stats.contacts_by_state == {ContactState.COMPLETED: 20}
        assert stats.attempts_by_outcome == {Outcome.ANSWERED: 20}
        phones = [phone for _, phone in floor.pbx.originates]
        assert len(phones) == len(set(phones)) == 20
        assert floor.pbx.hangups == []
        await floor.close()

    run_virtual(main)
