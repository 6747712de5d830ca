"""The history a forecast reads, on SQLite and PostgreSQL: attempts by dial number, outcome
and local hour; talk, wrap-up and answer times; the queue in claim order."""

from __future__ import annotations

from datetime import datetime, timedelta

from campaigns.model import CampaignState, Contact, ContactRow, Outcome
from campaigns.retry import decide
from campaigns.spec import CampaignSpec
from campaigns.storage.store import SqlAgentStore, SqlStore
from campaigns.users import Role
from campaigns.wrapup import Direction
from tests.conftest import NOW

OWNER = "test"


async def _campaign(store: SqlStore, name: str, *phones: tuple[str, str]) -> int:
    campaign = await store.create_campaign(CampaignSpec(name=name), NOW)
    await store.set_campaign_state(campaign.id, CampaignState.RUNNING, NOW)
    rows = [ContactRow(2 + i, phone, zone, {}) for i, (phone, zone) in enumerate(phones)]
    await store.add_contacts(campaign.id, rows, NOW)
    return campaign.id


async def _dial(store: SqlStore, contact: Contact, outcome: Outcome, at: datetime) -> int:
    """One attempt placed at ``at`` and settled a few seconds later by the default rules."""
    campaign = await store.get_campaign(contact.campaign_id)
    attempt = await store.start_attempt(contact, OWNER, at, at + timedelta(minutes=5))
    ended = at + timedelta(seconds=20)
    decision = decide(
        attempts=contact.attempts,
        dials=contact.dials,
        outcome=outcome,
        rules=campaign.spec.retry,
        hours=campaign.spec.hours,
        timezone=contact.timezone,
        now=ended,
    )
    await store.finish_attempt(attempt.id, outcome, decision, ended)
    return attempt.id


async def _claim(store: SqlStore, campaign_id: int, at: datetime) -> dict[str, Contact]:
    claimed = await store.claim_due(campaign_id, 10, at, OWNER, at + timedelta(minutes=5))
    return {c.phone: c for c in claimed}


async def test_history_reads_attempts_interactions_and_queue(store: SqlStore) -> None:
    """Dial numbers, outcomes, contacts' local hours, the agents' times and the queue
    come back as recorded, the campaign's own only, failed_system left out."""
    oslo, york, third = "+4741000001", "+12125550101", "+4741000003"
    cid = await _campaign(
        store,
        "spring",
        (oslo, "Europe/Oslo"),
        (york, "America/New_York"),
        (third, "Europe/Oslo"),
    )
    other = await _campaign(store, "autumn", ("+4741000009", "Europe/Oslo"))
    first = await _claim(store, cid, NOW)  # 11:00 in Oslo, 05:00 in New York
    await _dial(store, first[oslo], Outcome.NO_ANSWER, NOW)
    answered = await _dial(store, first[york], Outcome.ANSWERED, NOW)
    await _dial(store, first[third], Outcome.FAILED_SYSTEM, NOW)
    (elsewhere,) = (await _claim(store, other, NOW)).values()
    await _dial(store, elsewhere, Outcome.ANSWERED, NOW)

    agents = SqlAgentStore(store.engine)
    agent = await agents.create_user("anna", Role.AGENT, "Anna", None, "hash", NOW)
    talk_from = NOW + timedelta(seconds=10)
    interaction = await agents.create_interaction(
        agent.id, Direction.OUTBOUND, york, talk_from, first[york].id, cid, answered
    )
    ended = await agents.end_interaction(
        interaction.id, talk_from + timedelta(seconds=120), None, False
    )
    await agents.save_registration(
        ended,
        topic_ids=[],
        comment="",
        feedback=None,
        automatic=False,
        now=talk_from + timedelta(seconds=140),
    )

    later = NOW + timedelta(hours=2)  # 13:00 in Oslo
    second = await _claim(store, cid, later)
    await _dial(store, second[oslo], Outcome.BUSY, later)
    await store.defer(second[third].id, later + timedelta(hours=1), OWNER)

    history = await store.forecast_history(cid)

    assert history.attempts == 3
    assert history.outcomes_by_dial[0] == {Outcome.NO_ANSWER: 1, Outcome.ANSWERED: 1}
    assert history.outcomes_by_dial[1] == {Outcome.BUSY: 1}
    assert all(not counts for counts in history.outcomes_by_dial[2:])
    by_hour = {h: calls for h, calls in enumerate(history.calls_by_hour) if calls[0]}
    assert by_hour == {5: (1, 1), 11: (1, 0), 13: (1, 0)}
    assert history.talk_seconds == (120.0,)
    assert history.wrapup_seconds == (20.0,)
    assert history.answer_seconds == (10.0,)
    # The busy one is due ten minutes later, the deferred one an hour: claim order.
    assert [(q.timezone, q.dials, q.attempts, q.last_outcome) for q in history.queue] == [
        ("Europe/Oslo", 2, 2, Outcome.BUSY),
        ("Europe/Oslo", 1, 0, Outcome.FAILED_SYSTEM),
    ]
    assert history.queue[0].due_at == later + timedelta(seconds=20, minutes=10)
    assert history.queued_total == 2 and history.callbacks_open == 0
    assert not history.empty


async def test_history_of_a_new_campaign_is_empty(store: SqlStore) -> None:
    """No attempt, no interaction: every figure will be a default; the queue is the list."""
    cid = await _campaign(store, "fresh", ("+4741000001", "Europe/Oslo"))
    history = await store.forecast_history(cid)
    assert history.empty and history.attempts == 0
    assert sum(calls for calls, _ in history.calls_by_hour) == 0
    assert [(q.dials, q.attempts, q.due_at) for q in history.queue] == [(0, 0, NOW)]
    assert history.queued_total == 1
    assert history.queue[0].timezone == "Europe/Oslo"
