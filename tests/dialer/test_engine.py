"""The engine on a real SQLite store, with a simulated PBX, in virtual time."""

from __future__ import annotations

from pathlib import Path

from campaigns.model import ContactState, Outcome
from dialer.roster import AgentStatus
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


def by_phone(mapping: dict[str, Outcome]):
    return lambda phone: mapping.get(phone)


def test_unanswered_contacts_are_retried_by_the_rules(tmp_path: Path) -> None:
    """Busy comes back after its delay, invalid is final, no answer exhausts the attempts."""
    outcomes = {
        "+4741000000": Outcome.BUSY,
        "+4741000001": Outcome.INVALID,
        "+4741000002": Outcome.NO_ANSWER,
    }
    spec = {"retry": {"max_attempts": 3, "delays_minutes": {"busy": 5, "no_answer": 10}}}

    async def main(loop: VirtualTimeLoop) -> None:
        floor = await make_floor(
            loop, tmp_path, contacts=3, spec=spec, outcome_for=by_phone(outcomes)
        )
        floor.login(1, 2, 3)
        await floor.start()
        await floor.sleep(2 * 3600)
        await floor.stop()
        calls = [phone for _, phone in floor.pbx.originates]
        assert calls.count("+4741000000") == 3  # busy every time: exhausted after 3
        assert calls.count("+4741000001") == 1
        assert calls.count("+4741000002") == 3
        stats = await floor.raw.campaign_stats(floor.campaign_id)
        assert stats.contacts_by_state == {ContactState.EXHAUSTED: 2, ContactState.INVALID: 1}
        assert stats.attempts_by_outcome == {
            Outcome.BUSY: 3,
            Outcome.INVALID: 1,
            Outcome.NO_ANSWER: 3,
        }
        busy = await floor.raw.get_contact(1)
        assert (busy.attempts, busy.dials, busy.last_outcome) == (3, 3, Outcome.BUSY)
        await floor.close()

    run_virtual(main)


def test_answer_with_no_free_agent_is_abandoned_and_requeued_first(tmp_path: Path) -> None:
    """Predictive dialing with one agent drops surplus answers after 2 s, then redials them."""
    # A permissive cap makes the pacer over-dial: the mechanics of abandoning are under test.
    spec = {
        "dialing": {"mode": "predictive", "abandon_rate_cap": 0.5},
        "retry": {"delays_minutes": {"abandoned": 1}},
    }

    async def main(loop: VirtualTimeLoop) -> None:
        floor = await make_floor(loop, tmp_path, contacts=30, spec=spec, model=ALL_HUMAN)
        floor.login(1)
        await floor.start()
        await floor.sleep(600)
        await floor.stop()
        stats = await floor.raw.campaign_stats(floor.campaign_id)
        abandoned = stats.attempts_by_outcome.get(Outcome.ABANDONED, 0)
        assert abandoned >= 1, "surplus answers are abandoned"
        assert floor.pbx.hangups, "abandoned calls are hung up"
        engine_stats = floor.engine.stats(floor.campaign_id)
        assert engine_stats.abandoned == abandoned
        # An abandoned contact is first in line afterwards (priority) and gets called again.
        first_abandoned = next(aid for aid in floor.pbx.hangups if aid not in floor.pbx.connected)
        phone = dict(floor.pbx.originates)[first_abandoned]
        assert [p for _, p in floor.pbx.originates].count(phone) >= 2
        await floor.close()

    run_virtual(main)


def test_the_agent_hangs_up_the_call_and_wraps_up_once(tmp_path: Path) -> None:
    """The agent ends a long call: it is hung up in the PBX, the agent is in wrap-up at once
    and stays there (not moved again) when the call's end arrives; a stranger's hang-up
    and a second one are refused."""

    async def main(loop: VirtualTimeLoop) -> None:
        long_talk = CallModel(human=1.0, machine=0, busy=0, congestion=0, invalid=0, mean_talk=3600)
        floor = await make_floor(loop, tmp_path, contacts=1, model=long_talk, wrapup_seconds=600)
        floor.login(1, 2, ready=False)
        floor.roster.ready(1, floor.now())
        await floor.start()
        while not floor.agents.connected:
            await floor.sleep(1)
        await floor.sleep(5)
        (_, attempt_id, _) = floor.agents.connected[0]
        assert floor.roster.get(1).status is AgentStatus.ON_CALL
        assert not await floor.engine.hang_up(2, attempt_id)
        assert await floor.engine.hang_up(1, attempt_id)
        assert floor.roster.get(1).status is AgentStatus.WRAPUP
        assert floor.pbx.hangups == [str(attempt_id)]
        await floor.sleep(5)
        assert floor.roster.get(1).status is AgentStatus.WRAPUP
        assert not await floor.engine.hang_up(1, attempt_id)
        assert floor.engine.calls_in_progress == 0
        await floor.stop()
        stats = await floor.raw.campaign_stats(floor.campaign_id)
        assert stats.attempts_by_outcome == {Outcome.ANSWERED: 1}
        await floor.close()

    run_virtual(main)


def test_an_engine_behind_on_its_call_events_dials_only_for_free_agents(tmp_path: Path) -> None:
    """Call events waiting more than a second for the engine: predictive dials as
    progressive (never more calls than agents) until it has caught up, then overdials
    again."""
    model = CallModel(human=0.25, machine=0, busy=0.1, congestion=0, invalid=0, mean_talk=60)
    spec = {"dialing": {"mode": "predictive", "max_concurrent": 100}, "retry": {"max_attempts": 1}}

    async def main(loop: VirtualTimeLoop) -> None:
        floor = await make_floor(loop, tmp_path, contacts=3000, model=model, spec=spec)
        floor.login(*range(1, 11))
        await floor.start()

        async def most_calls(minutes: int) -> int:
            most = 0
            for _ in range(minutes * 60):
                await floor.sleep(1)
                most = max(most, floor.engine.calls_in_progress)
            return most

        floor.pbx.event_lag = 5.0
        assert await most_calls(10) <= 10
        floor.pbx.event_lag = 0.01
        assert await most_calls(10) > 10
        await floor.stop()
        await floor.close()

    run_virtual(main)
