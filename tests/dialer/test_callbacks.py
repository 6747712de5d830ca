"""Callback delivery, SPEC section 4, every branch, in virtual time on a real store."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from campaigns.callbacks import CallbackState
from campaigns.model import ContactState, Outcome
from campaigns.storage import tables as t
from campaigns.storage.store import SqlAgentStore
from dialer.callbacks import Decision, Route, route
from dialer.roster import AgentStatus
from dialer.testing import CallModel, VirtualTimeLoop
from tests.campaigns.test_store import book_callback
from tests.dialer.harness import START, Floor, counted, make_floor, run_virtual

ANSWERS = CallModel(human=1.0, machine=0, busy=0, congestion=0, invalid=0, mean_talk=60)
DUE = START + timedelta(minutes=10)
OWNER, OTHER = 1, 2


async def callback_floor(
    loop: VirtualTimeLoop,
    tmp_path: Path,
    *,
    owner: int | None,
    model: CallModel = ANSWERS,
    max_idle: float = 600.0,
) -> tuple[Floor, int]:
    """A running campaign whose one contact has a callback booked for DUE."""
    floor = await make_floor(loop, tmp_path, contacts=1, model=model, max_idle=max_idle)
    with counted(loop):
        async with floor.raw.engine.begin() as conn:
            for agent_id in (OWNER, OTHER):
                await conn.execute(
                    sa.insert(t.agents).values(
                        id=agent_id, username=f"a{agent_id}", role="agent", created_at=START
                    )
                )
        callback_id = await book_callback(floor.raw.engine, 1, floor.campaign_id, DUE, owner)
    return floor, callback_id


def delivered_to(floor: Floor) -> list[int]:
    return [agent for agent, _, callback in floor.agents.connected if callback is not None]


def run(tmp_path: Path, owner: int | None, script: Callable[[Floor], object], **kw: object) -> None:
    async def main(loop: VirtualTimeLoop) -> None:
        floor, _ = await callback_floor(loop, tmp_path, owner=owner, **kw)  # type: ignore[arg-type]
        await floor.start()
        await script(floor)  # type: ignore[misc]
        await floor.stop()
        await floor.close()

    run_virtual(main)


async def first_attempt_start(floor: Floor) -> timedelta:
    with counted(floor.loop):
        async with floor.raw.engine.connect() as conn:
            started = await conn.scalar(sa.select(sa.func.min(t.attempts.c.started_at)))
    assert started is not None
    return started.replace(tzinfo=START.tzinfo) - DUE


def test_owner_free_at_due_time_gets_it_with_the_comment(tmp_path: Path) -> None:
    """Owner logged in and free: the callback goes straight to them, comment shown."""

    async def script(floor: Floor) -> None:
        floor.login(OWNER, OTHER)
        await floor.sleep(15 * 60)
        assert delivered_to(floor) == [OWNER]
        (_, _, callback), *_ = floor.agents.connected
        assert callback is not None and callback.comment == "call after lunch"
        assert [c.owner_id for c in floor.agents.callbacks_due] == [OWNER]
        assert await first_attempt_start(floor) < timedelta(seconds=1)

    run(tmp_path, OWNER, script)


def test_owner_busy_waits_for_the_owner_within_the_reservation(tmp_path: Path) -> None:
    """Owner on a call at the due time and free 5 minutes later: still the owner's."""

    async def script(floor: Floor) -> None:
        floor.login(OWNER, OTHER)
        floor.roster.on_call(OWNER, floor.now())
        await floor.sleep(15 * 60)  # 5 minutes past due
        assert delivered_to(floor) == []
        floor.roster.ready(OWNER, floor.now())
        await floor.sleep(60)
        assert delivered_to(floor) == [OWNER]
        waited = await first_attempt_start(floor)
        assert timedelta(minutes=5) <= waited < timedelta(minutes=6)

    run(tmp_path, OWNER, script)


def test_owner_busy_past_the_reservation_goes_to_another_agent(tmp_path: Path) -> None:
    """Owner busy for longer than the 20-minute reservation: the first free agent takes it."""

    async def script(floor: Floor) -> None:
        floor.login(OWNER, OTHER)
        floor.roster.on_call(OWNER, floor.now())
        await floor.sleep(10 * 60 + 19 * 60)
        assert delivered_to(floor) == [], "reserved for the owner for 20 minutes"
        await floor.sleep(2 * 60)
        assert delivered_to(floor) == [OTHER]
        waited = await first_attempt_start(floor)
        assert timedelta(minutes=20) <= waited < timedelta(minutes=21)

    run(tmp_path, OWNER, script)


def test_owner_logged_off_goes_to_the_first_free_agent(tmp_path: Path) -> None:
    """Owner not logged in at the due time: the first free agent gets it at once."""

    async def script(floor: Floor) -> None:
        floor.login(OTHER)
        await floor.sleep(11 * 60)
        assert delivered_to(floor) == [OTHER]

    run(tmp_path, OWNER, script)


def test_callback_for_all_agents_goes_to_the_first_free_agent(tmp_path: Path) -> None:
    """An "all agents" callback takes whoever is free first."""

    async def script(floor: Floor) -> None:
        floor.login(OWNER, OTHER)
        floor.roster.on_call(OTHER, floor.now())
        await floor.sleep(11 * 60)
        assert delivered_to(floor) == [OWNER]

    run(tmp_path, None, script)


def test_a_callback_another_service_made_due_is_delivered_here(tmp_path: Path) -> None:
    """Services on one database each take every campaign's due callbacks; one may take a
    callback it has no agent for. The others find it on their next look and deliver it."""

    async def main(loop: VirtualTimeLoop) -> None:
        floor, callback_id = await callback_floor(loop, tmp_path, owner=None, max_idle=15)
        await floor.start()
        floor.login(OTHER)
        await floor.sleep(60)
        with counted(loop):  # the other service, its clock at the due time
            (taken,) = await floor.raw.take_due_callbacks(DUE)
        assert taken.id == callback_id
        await floor.sleep(10 * 60)
        assert delivered_to(floor) == [OTHER]
        assert await first_attempt_start(floor) < timedelta(seconds=1)
        await floor.stop()
        await floor.close()

    run_virtual(main)


def test_callback_listed_until_due_and_not_dialled_early(tmp_path: Path) -> None:
    """Before its time a callback is only booked: no call, no reservation."""

    async def script(floor: Floor) -> None:
        floor.login(OWNER, OTHER)
        await floor.sleep(9 * 60)
        assert floor.pbx.originates == []
        contact = await floor.store.get_contact(1)
        assert contact.state is ContactState.CALLBACK

    run(tmp_path, OWNER, script)


def test_unanswered_callback_closes_and_follows_the_retry_rules(tmp_path: Path) -> None:
    """The contact does not answer the callback: done, and the contact is retried."""
    model = CallModel(human=0, machine=0, busy=1.0, congestion=0, invalid=0)

    async def script(floor: Floor) -> None:
        floor.login(OWNER)
        await floor.sleep(11 * 60)
        contact = await floor.store.get_contact(1)
        open_due = await floor.store.open_due_callbacks()
        assert contact.state is ContactState.RETRY and contact.last_outcome is Outcome.BUSY
        assert open_due == []

    run(tmp_path, OWNER, script, model=model)


def test_owner_who_does_not_pick_up_is_paused_and_the_callback_stays_due(tmp_path: Path) -> None:
    """The owner's phone rings out: owner paused, callback due again, then another agent."""
    model = CallModel(human=1.0, machine=0, busy=0, congestion=0, invalid=0, agent_answers=False)

    async def script(floor: Floor) -> None:
        floor.login(OWNER, OTHER)
        floor.roster.on_call(OTHER, floor.now())
        await floor.sleep(11 * 60)
        seat = floor.roster.get(OWNER)
        assert seat is not None and seat.status is AgentStatus.PAUSED
        (due,) = await floor.store.open_due_callbacks()
        assert due.state is CallbackState.DUE
        assert floor.agents.outcomes == {Outcome.FAILED_SYSTEM: 1}

    run(tmp_path, OWNER, script, model=model)


def test_callback_missed_by_its_owner_is_offered_again(tmp_path: Path) -> None:
    """Owner misses the ring: paused, told why; made ready again, the callback comes back to
    them (not an ordinary call)."""
    model = dataclasses.replace(ANSWERS, agent_answers=False)

    async def script(floor: Floor) -> None:
        floor.login(OWNER)
        await floor.sleep(11 * 60)
        seat = floor.roster.get(OWNER)
        assert seat is not None and seat.status is AgentStatus.PAUSED
        assert seat.pause_reason == "missed callback"
        assert [(a, r) for a, _, r in floor.agents.phone_failures] == [(OWNER, "missed callback")]
        floor.pbx.model = dataclasses.replace(model, agent_answers=True)
        floor.roster.ready(OWNER, floor.now())
        await floor.sleep(60)
        assert delivered_to(floor) == [OWNER]
        assert floor.agents.outcomes == {Outcome.FAILED_SYSTEM: 1, Outcome.ANSWERED: 1}

    run(tmp_path, OWNER, script, model=model)


def test_callback_reassigned_while_due_goes_to_its_new_owner(tmp_path: Path) -> None:
    """A manager gives a due callback, waiting for its busy owner, to a free agent: the
    engine routes it by its new owner when it next looks (at most ``max_idle``, the
    production 15 s, later), not when the old owner's reservation runs out."""

    async def main(loop: VirtualTimeLoop) -> None:
        floor, callback_id = await callback_floor(loop, tmp_path, owner=OWNER, max_idle=15.0)
        await floor.start()
        floor.login(OWNER, OTHER)
        floor.roster.on_call(OWNER, floor.now())
        await floor.sleep(12 * 60)  # 2 minutes past due, waiting for the owner
        assert delivered_to(floor) == []
        with counted(loop):
            moved = await SqlAgentStore(floor.raw.engine).reassign_callback(
                callback_id, OTHER, floor.now()
            )
        assert moved.reserved_until == floor.now() + timedelta(minutes=20)
        await floor.sleep(20)
        assert delivered_to(floor) == [OTHER]
        await floor.stop()
        await floor.close()

    run_virtual(main)


def test_owner_logged_in_to_another_service_is_left_to_it_while_reserved(
    tmp_path: Path,
) -> None:
    """Services sharing a database: the owner is logged in to the other one, so this one
    leaves the callback to it, and gives it to its own free agent only once the
    reservation has run out (20 minutes)."""

    async def main(loop: VirtualTimeLoop) -> None:
        floor, _ = await callback_floor(loop, tmp_path, owner=OWNER, max_idle=15.0)
        with counted(loop):
            await SqlAgentStore(floor.raw.engine).set_logged_in_to(OWNER, "the-other-service")
        await floor.start()
        floor.login(OTHER)
        await floor.sleep(29 * 60)  # 19 minutes past due
        assert delivered_to(floor) == []
        await floor.sleep(2 * 60)
        assert delivered_to(floor) == [OTHER]
        waited = await first_attempt_start(floor)
        assert timedelta(minutes=20) <= waited < timedelta(minutes=20, seconds=1)
        await floor.stop()
        await floor.close()

    run_virtual(main)


def test_routing_decision_table() -> None:
    """The pure routing rule: owner free, busy within or past the reservation, logged off."""
    from campaigns.callbacks import Callback
    from dialer.roster import Roster

    roster = Roster()
    callback = Callback(
        id=1,
        contact_id=1,
        campaign_id=1,
        booked_by=OWNER,
        owner_id=OWNER,
        due_at=DUE,
        comment="",
        state=CallbackState.DUE,
        created_at=START,
        reserved_until=DUE + timedelta(minutes=20),
    )
    until = DUE + timedelta(minutes=20)
    assert route(callback, roster, DUE) == Decision(Route.ANY_AGENT)
    # Logged in to another service on the same database: left to it while reserved.
    assert route(callback, roster, DUE, {OWNER}) == Decision(Route.ELSEWHERE, until)
    assert route(callback, roster, until, {OWNER}) == Decision(Route.ANY_AGENT)
    roster.login(OWNER, "PJSIP/a1", [1], START)
    assert route(callback, roster, DUE) == Decision(Route.WAIT_FOR_OWNER, until)
    assert route(callback, roster, until) == Decision(Route.ANY_AGENT)
    roster.ready(OWNER, START)
    assert route(callback, roster, DUE) == Decision(Route.OWNER)
    for_all = dataclasses.replace(callback, owner_id=None)
    assert route(for_all, roster, DUE) == Decision(Route.ANY_AGENT)


def test_agents_changing_state_do_not_read_the_store_for_callbacks(tmp_path: Path) -> None:
    """With no callback pending, 400 agent state changes read no due callbacks from the
    store (they cost two queries each on a floor of a thousand agents)."""
    reads: list[object] = []

    async def main(loop: VirtualTimeLoop) -> None:
        floor = await make_floor(loop, tmp_path, contacts=1, max_idle=600)
        take = floor.raw.take_due_callbacks

        async def counting(now: object) -> object:
            reads.append(now)
            return await take(now)  # type: ignore[arg-type]

        floor.raw.take_due_callbacks = counting  # type: ignore[method-assign]
        await floor.start()
        await floor.sleep(1)
        before = len(reads)
        floor.login(*range(10, 30), ready=False)
        for _ in range(10):
            for agent_id in range(10, 30):
                floor.roster.ready(agent_id, floor.now())
                floor.roster.pause(agent_id, "break", floor.now())
            await floor.sleep(1)
        assert len(reads) - before <= 1
        await floor.stop()
        await floor.close()

    run_virtual(main)


def test_a_callback_booked_while_the_engine_runs_is_delivered_when_due(tmp_path: Path) -> None:
    """The delivery reads the store at the deadlines it knows; a booking made later tells
    it (``Engine.callbacks_changed``, called by the agent side), so the new callback is
    not left until the next ``max_idle`` look."""

    async def main(loop: VirtualTimeLoop) -> None:
        floor = await make_floor(loop, tmp_path, contacts=1, model=ANSWERS, max_idle=600)
        with counted(loop):
            async with floor.raw.engine.begin() as conn:
                await conn.execute(
                    sa.insert(t.agents).values(
                        id=OWNER, username="a1", role="agent", created_at=START
                    )
                )
        await floor.start()
        await floor.sleep(1)
        due = floor.now() + timedelta(seconds=30)
        with counted(loop):
            await book_callback(floor.raw.engine, 1, floor.campaign_id, due, OWNER)
        floor.engine.callbacks_changed()
        floor.login(OWNER)
        await floor.sleep(60)
        assert delivered_to(floor) == [OWNER]
        await floor.stop()
        await floor.close()

    run_virtual(main)
