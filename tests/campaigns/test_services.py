"""The agent-side store and services on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from campaigns.callbacks import CallbackFor, CallbackRequest, CallbackState
from campaigns.cases import CaseActionKind, CaseAmendment, CaseDraft, CaseStatus
from campaigns.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from campaigns.model import CampaignState, ContactRow, ContactState, Outcome
from campaigns.retry import Decision
from campaigns.services import AgentState, Services
from campaigns.services.interactions import Interactions
from campaigns.services.testing import RecordingEvents
from campaigns.spec import CampaignSpec, Wrapup
from campaigns.storage.store import SqlAgentStore, SqlStore
from campaigns.users import Role, User
from campaigns.wrapup import (
    Direction,
    EndReasonChoice,
    Feedback,
    RegistrationDraft,
    StatsQuery,
    read_end_reasons,
)
from tests.agent_api.conftest import STARTER_END_REASONS
from tests.conftest import NOW
from tests.support.clock import FakeClock


@dataclass
class World:
    services: Services
    agent_store: SqlAgentStore
    store: SqlStore
    events: RecordingEvents
    clock: FakeClock[datetime]
    agent: User
    other: User
    manager: User
    campaign_id: int
    contact_id: int


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    """Services over the test database with an agent, a second agent, a manager, a contact."""
    store, agent_store = SqlStore(engine), SqlAgentStore(engine)
    events, clock = RecordingEvents(), FakeClock(NOW)
    services = Services.build(agent_store, store, events, clock)
    spec = CampaignSpec(
        name="spring",
        wrapup=Wrapup(forced_registration=True, seconds=30, default_end_reason="Other"),
    )
    campaign = await store.create_campaign(spec, NOW)
    await store.set_campaign_state(campaign.id, CampaignState.RUNNING, NOW)
    row = ContactRow(2, "+4741000001", "Europe/Oslo", {"name": "Per"})
    await store.add_contacts(campaign.id, [row], NOW)
    (contact,) = await store.claim_due(campaign.id, 1, NOW, "test", NOW + timedelta(minutes=5))
    await agent_store.add_end_reasons(read_end_reasons(STARTER_END_REASONS))
    agent, _ = await services.users.create_user("anna", Role.AGENT, "Anna")
    other, _ = await services.users.create_user("bob", Role.AGENT)
    manager, _ = await services.users.create_user("mia", Role.MANAGER)
    return World(
        services, agent_store, store, events, clock, agent, other, manager, campaign.id, contact.id
    )


async def dialer_call(w: World, *, settled: bool = True) -> int:
    """A dialer call to the claimed contact, ended; ``settled``: its attempt ended answered."""
    contact = await w.store.get_contact(w.contact_id)
    attempt = await w.store.start_attempt(contact, "test", NOW, NOW + timedelta(minutes=5))
    if settled:
        await w.store.finish_attempt(attempt.id, Outcome.ANSWERED, ANSWERED, NOW)
    interaction = await w.services.interactions.start_interaction(
        w.agent.id, "+4741000001", contact=contact, attempt_id=attempt.id
    )
    await w.services.interactions.end_interaction(interaction.id)
    return interaction.id


ANSWERED = Decision(ContactState.COMPLETED, None, 1, 1, 0, True)


async def test_users_tokens_and_roles(world: World) -> None:
    """A token authenticates its user only; usernames are unique and checked."""
    users = world.services.users
    user, token = await users.create_user("carl", Role.ADMIN)
    assert (await users.authenticate(token)) == user
    with pytest.raises(Unauthorized):
        await users.authenticate(token + "x")
    new = await users.rotate_token(user.id)
    with pytest.raises(Unauthorized):
        await users.authenticate(token)
    assert (await users.authenticate(new)).id == user.id
    with pytest.raises(Conflict):
        await users.create_user("carl", Role.AGENT)
    with pytest.raises(Invalid, match="username"):
        await users.create_user("Bad Name", Role.AGENT)
    with pytest.raises(Forbidden):
        await users.list_users(world.agent)


async def test_registration_with_callback_is_all_or_nothing(world: World) -> None:
    """A registration books the callback and marks the contact in one go."""
    w, it = world, world.services.interactions
    cat = await it.create_category(w.manager, "Outcome", False, w.campaign_id)
    sale = await it.create_topic(w.manager, cat.id, "Interested", "Offer a meeting.")
    interaction_id = await dialer_call(w)
    assert not await it.may_become_ready(w.agent.id)
    with pytest.raises(Conflict):
        await w.services.agents.set_state(w.agent, AgentState.READY, None)
    due = NOW + timedelta(days=1)
    registration, callback = await it.register(
        w.agent,
        interaction_id,
        RegistrationDraft(
            topic_ids=(sale.id,),
            comment="call tomorrow",
            feedback=Feedback.CALLBACK,
            callback=CallbackRequest(due, "ask for Per", CallbackFor.ME),
        ),
    )
    assert registration.topic_ids == (sale.id,) and not registration.automatic
    assert callback is not None and callback.owner_id == w.agent.id
    contact = await w.store.get_contact(w.contact_id)
    assert (contact.state, contact.due_at) == (ContactState.CALLBACK, None)
    assert await it.may_become_ready(w.agent.id)
    assert [c.id for c in await w.services.callbacks.scheduled(w.agent)] == [callback.id]
    assert await w.services.callbacks.scheduled(w.other) == []
    assert "callback_booked" in w.events.names()
    with pytest.raises(Conflict):
        await it.register(w.agent, interaction_id, RegistrationDraft())


async def test_refused_registration_writes_nothing(world: World) -> None:
    """A callback outside calling hours is refused and nothing is stored."""
    w, it = world, world.services.interactions
    interaction_id = await dialer_call(w, settled=False)
    saturday = NOW + timedelta(days=5)
    with pytest.raises(Invalid, match="outside the campaign's calling hours"):
        await it.register(
            w.agent,
            interaction_id,
            RegistrationDraft(feedback=Feedback.CALLBACK, callback=CallbackRequest(saturday)),
        )
    view = await it.view(w.agent, interaction_id)
    assert view.registration is None and view.interaction.wrapped_up_at is None
    assert (await w.store.get_contact(w.contact_id)).state is ContactState.DIALING
    with pytest.raises(NotFound):
        await it.view(w.other, interaction_id)


async def test_auto_wrapup_at_zero_with_default_reason(world: World) -> None:
    """At zero the interaction is wrapped up automatically with the campaign's reason."""
    w, it = world, world.services.interactions
    interaction_id = await dialer_call(w)
    assert await it.next_wrapup_deadline() == NOW + timedelta(seconds=30)
    assert await it.auto_wrapup_due(NOW + timedelta(seconds=29)) == []
    (done,) = await it.auto_wrapup_due(NOW + timedelta(seconds=30))
    assert done.id == interaction_id
    view = await it.view(w.agent, interaction_id)
    other = await w.agent_store.get_end_reason("Other")
    assert view.registration is not None and view.registration.automatic
    assert (view.interaction.end_reason_id, view.interaction.followup_queue) == (
        other.id,
        "general",
    )
    assert await it.next_wrapup_deadline() is None


async def test_each_service_wraps_up_its_own_agents_countdowns(world: World) -> None:
    """Two services on one database: each wraps up the countdowns of its own agents on
    time (its roster makes them ready), the other's only once a minute overdue."""
    w = world
    east, west = (
        Interactions(w.agent_store, w.store, w.events, w.clock, Wrapup(seconds=30), owner=name)
        for name in ("east", "west")
    )
    contact = await w.store.get_contact(w.contact_id)
    attempt = await w.store.start_attempt(contact, "test", NOW, NOW + timedelta(minutes=5))
    await w.store.finish_attempt(attempt.id, Outcome.ANSWERED, ANSWERED, NOW)
    call = await east.start_interaction(
        w.agent.id, contact.phone, contact=contact, attempt_id=attempt.id
    )
    await east.end_interaction(call.id)
    due = NOW + timedelta(seconds=30)
    assert await east.next_wrapup_deadline() == due
    assert await west.next_wrapup_deadline() == due + timedelta(minutes=1)
    assert await west.auto_wrapup_due(due + timedelta(seconds=59)) == []
    (done,) = await east.auto_wrapup_due(due)
    assert done.id == call.id
    assert await west.next_wrapup_deadline() is None
    # East is gone: west wraps up what it left, a minute late.
    left = await east.start_interaction(w.other.id, "+4799000000", Direction.INBOUND)
    await east.end_interaction(left.id)
    assert await west.auto_wrapup_due(NOW + timedelta(seconds=89)) == []
    (done,) = await west.auto_wrapup_due(NOW + timedelta(seconds=90))
    assert done.id == left.id


async def test_where_agents_are_logged_in(world: World) -> None:
    """Services sharing a database record which one each agent is logged in to; a
    service starting logs out everyone recorded as its own."""
    w = world
    await w.agent_store.set_logged_in_to(w.agent.id, "east")
    await w.agent_store.set_logged_in_to(w.other.id, "west")
    everyone = [w.agent.id, w.other.id, w.manager.id]
    assert await w.store.agents_logged_in_elsewhere(everyone, "east") == {w.other.id}
    assert await w.store.agents_logged_in_elsewhere([], "east") == set()
    assert await w.store.log_out_agents_of("west") == 1
    assert await w.store.agents_logged_in_elsewhere(everyone, "east") == set()
    await w.agent_store.set_logged_in_to(w.agent.id, None)
    assert await w.store.agents_logged_in_elsewhere(everyone, "west") == set()


async def test_extension_cancels_the_countdown(world: World) -> None:
    """An extended wrap-up has no deadline and is not wrapped up automatically."""
    w, it = world, world.services.interactions
    interaction_id = await dialer_call(w)
    extended = await it.extend(w.agent, interaction_id)
    assert extended.wrapup_extended and extended.wrapup_deadline is None
    assert await it.auto_wrapup_due(NOW + timedelta(hours=1)) == []


async def test_end_reason_for_unknown_caller_goes_to_followup(world: World) -> None:
    """An inbound call from an unknown number gets an end reason; unclosed → follow-up."""
    w, it = world, world.services.interactions
    call = await it.start_interaction(w.agent.id, "+4799000000", Direction.INBOUND)
    await it.end_interaction(call.id)
    reason = await w.agent_store.get_end_reason("Complaints about false weight")
    done = await it.set_end_reason(w.agent, call.id, EndReasonChoice(reason.id, None, "short"))
    assert (done.closed, done.followup_queue) == (False, "complaints")
    assert [i.id for i in await it.followups(w.manager, "complaints")] == [call.id]
    with pytest.raises(Invalid, match="feedback"):
        await it.register(w.agent, call.id, RegistrationDraft(feedback=Feedback.NOT_ANSWERED))


async def test_not_answered_feedback_requeues_contact(world: World) -> None:
    """Marking an answered call as answering machine puts the contact back in the queue."""
    w = world
    interaction_id = await dialer_call(w)
    await w.services.interactions.register(
        w.agent, interaction_id, RegistrationDraft(feedback=Feedback.ANSWERING_MACHINE)
    )
    contact = await w.store.get_contact(w.contact_id)
    assert contact.state is ContactState.RETRY and contact.due_at is not None


async def test_callback_rebook_and_cancel(world: World) -> None:
    """The owner rebooks inside hours and cancels; others see nothing."""
    w = world
    interaction_id = await dialer_call(w)
    _, callback = await w.services.interactions.register(
        w.agent,
        interaction_id,
        RegistrationDraft(
            feedback=Feedback.CALLBACK, callback=CallbackRequest(NOW + timedelta(hours=2))
        ),
    )
    assert callback is not None
    cbs = w.services.callbacks
    with pytest.raises(NotFound):
        await cbs.rebook(w.other, callback.id, NOW + timedelta(hours=3), None)
    with pytest.raises(Invalid, match="in the past"):
        await cbs.rebook(w.agent, callback.id, NOW - timedelta(hours=3), None)
    moved = await cbs.rebook(w.agent, callback.id, NOW + timedelta(hours=3), "later")
    assert (moved.due_at, moved.comment) == (NOW + timedelta(hours=3), "later")
    assert [c.id for c in await cbs.due(NOW + timedelta(hours=3))] == [callback.id]
    cancelled = await cbs.cancel(w.agent, callback.id)
    assert cancelled.state is CallbackState.CANCELLED
    assert (await w.store.get_contact(w.contact_id)).state is ContactState.COMPLETED
    with pytest.raises(Conflict):
        await cbs.cancel(w.agent, callback.id)


async def test_stats_by_category_topic_agent_and_period(world: World) -> None:
    """Registrations are counted by category and topic, per agent and period."""
    w, it = world, world.services.interactions
    cat = await it.create_category(w.manager, "Mood", True, None)
    pos = await it.create_topic(w.manager, cat.id, "Positive", "")
    neg = await it.create_topic(w.manager, cat.id, "Negative", "")
    for topics in ((pos.id,), (pos.id, neg.id)):
        call = await it.start_interaction(w.agent.id, "+4799000000", Direction.INBOUND)
        await it.register(w.agent, call.id, RegistrationDraft(topic_ids=topics))
    rows = await it.stats(w.manager, StatsQuery(by_agent=True))
    assert [(r.topic, r.count, r.agent_id) for r in rows] == [
        ("Positive", 2, w.agent.id),
        ("Negative", 1, w.agent.id),
    ]
    assert await it.stats(w.manager, StatsQuery(since=NOW + timedelta(seconds=1))) == []
    assert await it.stats(w.manager, StatsQuery(agent_id=w.other.id)) == []


async def test_cases_mandatory_fields_log_and_creator_rules(world: World) -> None:
    """Cases name missing fields, log each change, and only the creator amends untaken."""
    w, cases = world, world.services.cases
    ctype = await cases.create_type(w.manager, "Billing", "finance", ["ban", "comments"])
    with pytest.raises(Invalid, match="requires: ban, comments"):
        await cases.create(w.agent, CaseDraft(ctype.id, "bid"))
    case = await cases.create(
        w.agent, CaseDraft(ctype.id, "bid", comments="wrong bill", fields={"ban": "42"})
    )
    assert case.status is CaseStatus.SENT and case.department == "finance"
    with pytest.raises(NotFound):
        await cases.get(w.other, case.id)
    amended = await cases.amend(w.agent, case.id, CaseAmendment(subject="bid-2"))
    assert amended.subject == "bid-2"
    await cases.department_action(w.manager, case.id, CaseActionKind.TAKEN, "")
    with pytest.raises(Conflict):
        await cases.close(w.agent, case.id, "")
    log = await cases.log(w.agent, case.id)
    assert [(a.actor, a.action) for a in log] == [
        ("anna", CaseActionKind.CREATED),
        ("anna", CaseActionKind.AMENDED),
        ("mia", CaseActionKind.TAKEN),
    ]
    assert [c.id for c in await cases.mine(w.agent, CaseStatus.TAKEN)] == [case.id]


async def test_feedback_on_a_call_taken_by_hand_never_touches_the_contact(world: World) -> None:
    """An interaction recorded by hand with a contact is no dialer attempt: its dialer
    feedback is refused and the contact, being dialled, keeps its claim."""
    w, it = world, world.services.interactions
    await dialer_call(w, settled=False)  # the dialer offers the contact to the agent
    taken = await it.take(w.agent, "+4741000001", Direction.OUTBOUND, w.contact_id, w.campaign_id)
    await it.end(w.agent, taken.id)
    with pytest.raises(Invalid, match="feedback"):
        await it.register(w.agent, taken.id, RegistrationDraft(feedback=Feedback.ANSWERING_MACHINE))
    contact = await w.store.get_contact(w.contact_id)
    assert contact.state is ContactState.DIALING


async def test_feedback_waits_for_its_attempt_and_yields_to_a_newer_one(world: World) -> None:
    """Feedback changes the contact only through the interaction's own, settled attempt:
    not while that call is being settled, and not once another attempt dialled it."""
    w, it = world, world.services.interactions
    open_call = await dialer_call(w, settled=False)
    draft = RegistrationDraft(feedback=Feedback.ANSWERING_MACHINE)
    with pytest.raises(Conflict) as busy:
        await it.register(w.agent, open_call, draft)
    assert busy.value.code == "wrapup.contact_busy" and busy.value.field == "feedback"
    assert (await w.store.get_contact(w.contact_id)).state is ContactState.DIALING
    assert (await it.view(w.agent, open_call)).registration is None
    # The first attempt is settled as no answer; the contact is claimed and dialled again.
    (attempt,) = await w.store.open_attempts("test")
    no_answer = Decision(ContactState.RETRY, NOW, 1, 1, 0, True)
    assert await w.store.finish_attempt(attempt.id, Outcome.NO_ANSWER, no_answer, NOW)
    (contact,) = await w.store.claim_due(w.campaign_id, 1, NOW, "test", NOW + timedelta(hours=1))
    newer = await w.store.start_attempt(contact, "test", NOW, NOW + timedelta(hours=1))
    with pytest.raises(Conflict):
        await it.register(w.agent, open_call, draft)
    held = await w.store.get_contact(w.contact_id)
    assert (held.state, held.due_at) == (ContactState.DIALING, None)
    # Settled too: the first call's feedback still may not overrule the newer attempt.
    assert await w.store.finish_attempt(newer.id, Outcome.NO_ANSWER, no_answer, NOW)
    with pytest.raises(Conflict):
        await it.register(w.agent, open_call, draft)
    assert (await w.store.get_contact(w.contact_id)).due_at == NOW
    registered, _ = await it.register(w.agent, open_call, RegistrationDraft(comment="machine"))
    assert registered.feedback is None


async def test_an_agent_records_only_contacts_offered_to_them(world: World) -> None:
    """Recording a call by hand with a contact the dialer never offered the agent answers
    as for a contact that does not exist; once offered, it is allowed."""
    w, it = world, world.services.interactions
    for contact_id in (w.contact_id, 999_999):
        with pytest.raises(NotFound) as refused:
            await it.take(w.agent, "+4741000001", Direction.OUTBOUND, contact_id, w.campaign_id)
        assert refused.value.field == "contact_id"
    assert await it.mine(w.agent) == []
    await dialer_call(w)
    taken = await it.take(w.agent, "+4741000001", Direction.OUTBOUND, w.contact_id, w.campaign_id)
    assert taken.contact_id == w.contact_id
    with pytest.raises(NotFound):
        await it.take(w.other, "+4741000001", Direction.OUTBOUND, w.contact_id, w.campaign_id)


class HangingFloor:
    """Just enough of the dialer's floor for the agent's hang-up: records what it is asked."""

    def __init__(self) -> None:
        self.hung_up: list[tuple[int, int]] = []

    async def hang_up(self, agent_id: int, attempt_id: int) -> bool:
        self.hung_up.append((agent_id, attempt_id))
        return True


async def test_ending_a_dialer_call_hangs_it_up_and_counts_down_once(world: World) -> None:
    """The agent's end hangs the call up through the floor; the end the hang-up causes
    (and any repeat) changes nothing: one countdown, one registration, then ready."""
    w = world
    floor = HangingFloor()
    it = Interactions(w.agent_store, w.store, w.events, w.clock, floor=floor)  # type: ignore[arg-type]
    contact = await w.store.get_contact(w.contact_id)
    attempt = await w.store.start_attempt(contact, "test", NOW, NOW + timedelta(minutes=5))
    interaction = await it.start_interaction(
        w.agent.id, contact.phone, contact=contact, attempt_id=attempt.id
    )
    w.clock.advance(5)
    ended = await it.end(w.agent, interaction.id)
    assert floor.hung_up == [(w.agent.id, attempt.id)]
    assert ended.ended_at == w.clock.now
    w.clock.advance(1)
    again = await it.end_interaction(interaction.id)
    assert again.ended_at == ended.ended_at
    await it.end(w.agent, interaction.id)
    assert floor.hung_up == [(w.agent.id, attempt.id)]
    assert w.events.names().count("wrapup_started") == 1
    assert not await it.may_become_ready(w.agent.id)
    await it.register(w.agent, interaction.id, RegistrationDraft())
    assert await it.may_become_ready(w.agent.id)
