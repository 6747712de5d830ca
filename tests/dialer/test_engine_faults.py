"""Faults inside the engine: a batch whose dialling fails, an agent Asterisk cannot reach."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ami_bridge import AmiError
from campaigns.model import Attempt, Contact, ContactState, Outcome
from dialer.roster import AgentStatus
from dialer.testing import CallModel, SimulatedPbx, VirtualTimeLoop
from tests.dialer.harness import make_floor, run_virtual

ALL_HUMAN = CallModel(human=1.0, machine=0, busy=0, congestion=0, invalid=0, mean_talk=60)


class BrokenOnce(SimulatedPbx):
    """An Originate that fails with an unexpected error (not an AMI one) the first time."""

    def __init__(self) -> None:
        super().__init__(ALL_HUMAN)
        self.failed = False

    async def originate(self, attempt_id: str, *, phone: str, **kw: object) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("boom")
        await super().originate(attempt_id, phone=phone, **kw)  # type: ignore[arg-type]


class RefusesConnect(SimulatedPbx):
    """Asterisk refuses to put answered calls through to the agent's phone."""

    async def connect(self, attempt_id: str, *, agent_channel: str) -> None:
        raise AmiError(f"Redirect {attempt_id}: No such channel")


def test_a_failed_batch_gives_its_claimed_contacts_back(tmp_path: Path) -> None:
    """Recording the batch's attempts fails: the contacts claimed and not dialled are not
    left ``dialing`` with renewed leases; they come back (a minute later) and are called."""

    async def main(loop: VirtualTimeLoop) -> None:
        floor = await make_floor(loop, tmp_path, contacts=3, pbx=SimulatedPbx(ALL_HUMAN))
        start_attempts = floor.raw.start_attempts
        failed: list[int] = []

        async def fails_once(contacts: Sequence[Contact], *args: Any) -> list[Attempt]:
            if not failed:
                failed.append(len(contacts))
                raise RuntimeError("boom")
            return await start_attempts(contacts, *args)

        floor.raw.start_attempts = fails_once  # type: ignore[method-assign]
        floor.login(1, 2, 3)
        await floor.start()
        await floor.sleep(10)
        assert failed == [3]
        stats = await floor.raw.campaign_stats(floor.campaign_id)
        assert stats.contacts_by_state.get(ContactState.DIALING, 0) == 0
        await floor.sleep(3600)
        await floor.stop()
        stats = await floor.raw.campaign_stats(floor.campaign_id)
        assert stats.contacts_by_state == {ContactState.COMPLETED: 3}
        await floor.close()

    run_virtual(main)


def test_one_failed_originate_does_not_hold_up_the_rest_of_its_batch(tmp_path: Path) -> None:
    """An Originate fails with a fault of ours: its attempt is closed ``failed_system``
    and its contact requeued; the batch's other calls go out, and nothing is left
    ``dialing`` without a call."""

    async def main(loop: VirtualTimeLoop) -> None:
        floor = await make_floor(loop, tmp_path, contacts=3, pbx=BrokenOnce())
        floor.login(1, 2, 3)
        await floor.start()
        await floor.sleep(1)
        stats = await floor.raw.campaign_stats(floor.campaign_id)
        assert stats.contacts_by_state.get(ContactState.DIALING, 0) == 2
        assert floor.engine.calls_in_progress == 2
        await floor.sleep(3600)
        await floor.stop()
        stats = await floor.raw.campaign_stats(floor.campaign_id)
        assert stats.contacts_by_state == {ContactState.COMPLETED: 3}
        assert floor.agents.outcomes == {Outcome.FAILED_SYSTEM: 1, Outcome.ANSWERED: 3}
        await floor.close()

    run_virtual(main)


def test_an_agent_asterisk_cannot_connect_to_is_paused(tmp_path: Path) -> None:
    """The Redirect to the agent's phone is refused: the call is abandoned and the agent is
    paused with the reason, not left ready to drop every next call."""

    async def main(loop: VirtualTimeLoop) -> None:
        floor = await make_floor(loop, tmp_path, contacts=3, pbx=RefusesConnect(ALL_HUMAN))
        floor.login(1)
        await floor.start()
        await floor.sleep(600)
        await floor.stop()
        seat = floor.roster.get(1)
        assert seat is not None and seat.status is AgentStatus.PAUSED
        assert seat.pause_reason.startswith("connect failed")
        outcomes: Mapping[Outcome, int] = floor.agents.outcomes
        assert outcomes == {Outcome.ABANDONED: 1}
        assert [(a, r[:14]) for a, _, r in floor.agents.phone_failures] == [(1, "connect failed")]
        await floor.close()

    run_virtual(main)


def test_a_settlement_the_store_refuses_is_written_when_it_recovers(tmp_path: Path) -> None:
    """The store fails the first outcomes it is given (overloaded, restarting): they are
    written once it works again, each exactly once, and no attempt is left open."""

    async def main(loop: VirtualTimeLoop) -> None:
        floor = await make_floor(loop, tmp_path, contacts=3, pbx=SimulatedPbx(ALL_HUMAN))
        finish_attempt = floor.raw.finish_attempt
        refused: list[int] = []

        async def refuses_twice(attempt_id: int, *args: Any) -> bool:
            if len(refused) < 2:
                refused.append(attempt_id)
                raise RuntimeError("QueuePool limit reached")
            return await finish_attempt(attempt_id, *args)

        floor.raw.finish_attempt = refuses_twice  # type: ignore[method-assign]
        floor.login(1, 2, 3)
        await floor.start()
        await floor.sleep(3600)
        await floor.stop()
        assert len(refused) == 2
        stats = await floor.raw.campaign_stats(floor.campaign_id)
        assert stats.contacts_by_state == {ContactState.COMPLETED: 3}
        assert await floor.raw.open_attempts("test") == []
        assert floor.agents.outcomes == {Outcome.ANSWERED: 3}
        await floor.close()

    run_virtual(main)


def test_a_failing_call_task_does_not_stop_the_engine(tmp_path: Path) -> None:
    """A fault in one call's search for an agent is logged and ends that task alone; the
    engine goes on dialling (it used to end the engine's task group, and every call)."""

    async def main(loop: VirtualTimeLoop) -> None:
        floor = await make_floor(loop, tmp_path, contacts=3, pbx=SimulatedPbx(ALL_HUMAN))
        flow = floor.engine._flow
        connect = flow._connect
        failed: list[int] = []

        async def fails_once(call: Any) -> None:
            if not failed:
                failed.append(call.attempt_id)
                raise RuntimeError("boom")
            await connect(call)

        flow._connect = fails_once  # type: ignore[method-assign]
        floor.login(1)
        await floor.start()
        await floor.sleep(3600)
        assert failed and floor.task is not None and not floor.task.done()
        await floor.stop()
        assert len(floor.pbx.originates) >= 3
        await floor.close()

    run_virtual(main)
