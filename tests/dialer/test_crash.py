"""Crash safety: the engine killed at random moments and started again, 200 seeded runs.

Each run kills the engine as SIGKILL would (nothing more is written), starts a new one on
the same database and the same PBX (Asterisk keeps its calls up), lets it finish the
campaign, and checks: no contact dialled twice at once, no contact left ``dialing``, no
open attempt, and every contact's counters equal to its recorded attempts.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from campaigns.model import ContactState
from campaigns.storage import tables as t
from dialer.testing import CallModel, SimulatedPbx, VirtualTimeLoop
from tests.dialer.harness import counted, make_floor, run_virtual

RUNS = 200
CONTACTS = 6
SPEC = {
    "retry": {
        "max_attempts": 3,
        "delays_minutes": {"no_answer": 1, "busy": 1, "machine": 1, "abandoned": 1},
    },
    "dialing": {"ring_timeout_seconds": 20},
}
MODEL = CallModel(human=0.4, machine=0.1, busy=0.2, congestion=0.05, invalid=0.05, mean_talk=40)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database with one running campaign, copied for each run."""
    folder = tmp_path_factory.mktemp("template")

    async def main(loop: VirtualTimeLoop) -> None:
        floor = await make_floor(loop, folder, contacts=CONTACTS, spec=SPEC)
        await floor.close()

    run_virtual(main)
    return folder / "engine.db"


async def check_invariants(raw, pbx: SimulatedPbx) -> None:
    assert pbx.double_dials == [], "a contact was dialled while a call to it was up"
    async with raw.engine.connect() as conn:
        contacts = (await conn.execute(sa.select(t.contacts))).all()
        attempts = (await conn.execute(sa.select(t.attempts))).all()
    assert not [a.id for a in attempts if a.ended_at is None], "open attempts left"
    for contact in contacts:
        assert contact.state != ContactState.DIALING.value, f"contact {contact.id} stuck"
        mine = [a for a in attempts if a.contact_id == contact.id]
        assert contact.dials == len(mine), f"contact {contact.id} dials"
        assert contact.attempts == sum(1 for a in mine if a.counted), f"contact {contact.id}"
        if contact.state in ("pending", "retry"):
            assert contact.due_at is not None
        else:
            assert contact.due_at is None


@pytest.mark.parametrize("seed", range(RUNS))
def test_kill_and_restart_keeps_every_contact_and_attempt(
    seed: int, template: Path, tmp_path: Path
) -> None:
    """Killed at a random moment and restarted: nothing lost, nothing counted twice."""
    shutil.copy(template, tmp_path / "engine.db")
    chance = random.Random(seed)
    kill_at = chance.uniform(0, 240)

    async def main(loop: VirtualTimeLoop) -> None:
        pbx = SimulatedPbx(MODEL, seed=seed)
        first = await make_floor(loop, tmp_path, contacts=0, pbx=pbx, campaign_id=1)
        first.login(1, 2)
        await first.start()
        await first.sleep(kill_at)
        await first.kill()
        await first.close()

        second = await make_floor(loop, tmp_path, contacts=0, pbx=pbx, campaign_id=1)
        second.login(1, 2)
        await second.start()
        for _ in range(24):  # at most 2 hours: the campaign is over well before
            await second.sleep(300)
            with counted(loop):
                stats = await second.raw.campaign_stats(1)
            if not any(s.is_queued or s is ContactState.DIALING for s in stats.contacts_by_state):
                break
        await second.stop()
        with counted(loop):
            await check_invariants(second.raw, pbx)
            stats = await second.raw.campaign_stats(1)
        assert sum(stats.contacts_by_state.values()) == CONTACTS
        await second.close()

    run_virtual(main)
