"""The store contract, run on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaigns.errors import Conflict, NotFound
from campaigns.model import CampaignState, ContactRow, ContactState, Outcome
from campaigns.retry import Decision, decide
from campaigns.spec import CampaignSpec
from campaigns.storage import tables as t
from campaigns.storage.contacts import _dialing
from campaigns.storage.engine import make_engine
from campaigns.storage.store import SqlStore
from dialer.testing import TEST_PG_URL
from tests.conftest import NOW

LEASE = NOW + timedelta(minutes=5)


def rows(*phones: str, start_line: int = 2) -> list[ContactRow]:
    return [
        ContactRow(start_line + i, phone, "Europe/Oslo", {"name": f"n{i}"})
        for i, phone in enumerate(phones)
    ]


def first_decision(outcome: Outcome, now: datetime = NOW) -> Decision:
    """What the default rules decide for a contact's first attempt (Oslo, always open)."""
    spec = CampaignSpec(name="x")
    return decide(
        attempts=0,
        dials=0,
        outcome=outcome,
        rules=spec.retry,
        hours=spec.hours,
        timezone="Europe/Oslo",
        now=now,
    )


def numbers(n: int) -> list[str]:
    return [f"+4741{i:06d}" for i in range(n)]


async def running_campaign(store: SqlStore, name: str = "spring") -> int:
    campaign = await store.create_campaign(CampaignSpec(name=name), NOW)
    await store.set_campaign_state(campaign.id, CampaignState.RUNNING, NOW)
    return campaign.id


async def test_campaign_create_get_and_duplicate_name(store: SqlStore) -> None:
    """A campaign is stored in draft, found by id and name, and its name is unique."""
    created = await store.create_campaign(CampaignSpec(name="spring", description="x"), NOW)
    assert created.state is CampaignState.DRAFT
    assert (await store.get_campaign(created.id)).spec == created.spec
    assert (await store.get_campaign("spring")).id == created.id
    with pytest.raises(Conflict):
        await store.create_campaign(CampaignSpec(name="spring"), NOW)
    with pytest.raises(NotFound):
        await store.get_campaign("autumn")


async def test_apply_campaign_creates_then_updates_keeping_state(store: SqlStore) -> None:
    """Applying a spec twice creates once, then replaces settings and keeps the state."""
    first, created = await store.apply_campaign(CampaignSpec(name="c1"), NOW)
    assert created
    await store.set_campaign_state(first.id, CampaignState.RUNNING, NOW)
    second, created = await store.apply_campaign(
        CampaignSpec(name="c1", callback_reservation_minutes=5), NOW
    )
    assert not created
    assert second.id == first.id
    assert second.state is CampaignState.RUNNING
    assert second.spec.callback_reservation_minutes == 5


async def test_campaign_state_moves(store: SqlStore) -> None:
    """Draft runs, running pauses and resumes, finished is final."""
    cid = (await store.create_campaign(CampaignSpec(name="c"), NOW)).id
    with pytest.raises(Conflict):
        await store.set_campaign_state(cid, CampaignState.PAUSED, NOW)
    for state in (CampaignState.RUNNING, CampaignState.PAUSED, CampaignState.RUNNING):
        assert (await store.set_campaign_state(cid, state, NOW)).state is state
    await store.set_campaign_state(cid, CampaignState.FINISHED, NOW)
    with pytest.raises(Conflict):
        await store.set_campaign_state(cid, CampaignState.RUNNING, NOW)


async def test_add_contacts_merges_duplicates_and_refuses_dnc(store: SqlStore) -> None:
    """Duplicates in the batch and in the campaign merge; do-not-call numbers are refused."""
    cid = await running_campaign(store)
    await store.dnc_add(["+4741000009"], "asked", NOW)
    first = await store.add_contacts(cid, rows("+4741000001", "+4741000002"), NOW)
    assert (first.inserted, first.merged, first.dnc_lines) == (2, 0, ())
    batch = [
        ContactRow(2, "+4741000002", "Europe/Oslo", {"account": "A1"}),
        ContactRow(3, "+4741000003", "Europe/Oslo", {"name": "x"}),
        ContactRow(4, "+4741000003", "Europe/Oslo", {"account": "B"}),
        ContactRow(5, "+4741000009", "Europe/Oslo", {}),
    ]
    second = await store.add_contacts(cid, batch, NOW)
    assert (second.inserted, second.merged, second.dnc_lines) == (1, 2, (5,))
    stats = await store.campaign_stats(cid)
    assert stats.contacts_by_state == {ContactState.PENDING: 3}
    claimed = await store.claim_due(cid, 10, NOW, "me", LEASE)
    by_phone = {k.phone: k for k in claimed}
    assert by_phone["+4741000002"].attributes == {"name": "n1", "account": "A1"}
    assert by_phone["+4741000003"].attributes == {"name": "x", "account": "B"}


async def test_claim_orders_by_priority_then_due_and_marks_dialing(store: SqlStore) -> None:
    """Claims hand out due contacts, priority first, and never the same one twice."""
    cid = await running_campaign(store)
    await store.add_contacts(cid, rows(*numbers(5)), NOW - timedelta(minutes=1))
    await store.add_contacts(cid, rows("+4799999999"), NOW + timedelta(hours=1))
    first = await store.claim_due(cid, 2, NOW, "me", LEASE)
    assert [k.phone for k in first] == numbers(2)
    assert all(k.state is ContactState.DIALING and k.due_at is None for k in first)
    # An abandoned call comes back with priority ahead of older contacts.
    attempt = await store.start_attempt(first[1], "me", NOW, LEASE)
    decision = first_decision(Outcome.ABANDONED, now=NOW - timedelta(minutes=1))
    assert await store.finish_attempt(attempt.id, Outcome.ABANDONED, decision, NOW)
    rest = await store.claim_due(cid, 10, NOW, "me", LEASE)
    assert [k.phone for k in rest] == [numbers(5)[1], *numbers(5)[2:]]
    assert await store.claim_due(cid, 10, NOW, "me", LEASE) == []


async def test_claim_needs_a_running_campaign(store: SqlStore) -> None:
    """A paused campaign hands out nothing."""
    cid = await running_campaign(store)
    await store.add_contacts(cid, rows(*numbers(3)), NOW)
    await store.set_campaign_state(cid, CampaignState.PAUSED, NOW)
    assert await store.claim_due(cid, 10, NOW, "me", LEASE) == []
    await store.set_campaign_state(cid, CampaignState.RUNNING, NOW)
    assert len(await store.claim_due(cid, 10, NOW, "me", LEASE)) == 3


async def test_finish_attempt_is_exactly_once(store: SqlStore) -> None:
    """A second settlement of the same attempt changes nothing."""
    cid = await running_campaign(store)
    await store.add_contacts(cid, rows("+4741000001"), NOW)
    (contact,) = await store.claim_due(cid, 1, NOW, "me", LEASE)
    attempt = await store.start_attempt(contact, "me", NOW, LEASE)
    assert [a.id for a in await store.open_attempts("me")] == [attempt.id]
    busy = first_decision(Outcome.BUSY)
    assert await store.finish_attempt(attempt.id, Outcome.BUSY, busy, NOW)
    answered = first_decision(Outcome.ANSWERED)
    assert not await store.finish_attempt(attempt.id, Outcome.ANSWERED, answered, NOW)
    after = await store.get_contact(contact.id)
    assert after.state is ContactState.RETRY
    assert (after.attempts, after.dials, after.last_outcome) == (1, 1, Outcome.BUSY)
    assert after.due_at == NOW + timedelta(minutes=10)
    assert await store.open_attempts("me") == []
    stats = await store.campaign_stats(cid)
    assert stats.attempts_by_outcome == {Outcome.BUSY: 1}


async def test_stale_attempt_never_releases_a_newer_claim(store: SqlStore) -> None:
    """Settling an attempt whose contact was requeued and claimed again meanwhile closes
    the attempt and leaves the newer claim alone, before and after its own attempt."""
    cid = await running_campaign(store)
    await store.add_contacts(cid, rows("+4741000001"), NOW)
    (contact,) = await store.claim_due(cid, 1, NOW, "me", LEASE)
    stale = await store.start_attempt(contact, "me", NOW, LEASE)
    # The contact goes back to the queue while its call is still up, and is claimed again.
    assert await store.defer(contact.id, NOW, "me")
    (again,) = await store.claim_due(cid, 1, NOW, "me", LEASE)
    machine = first_decision(Outcome.MACHINE)
    assert await store.finish_attempt(stale.id, Outcome.MACHINE, machine, NOW)
    held = await store.get_contact(contact.id)
    assert (held.state, held.attempts, held.last_outcome) == (ContactState.DIALING, 0, None)
    newer = await store.start_attempt(again, "me", NOW, LEASE)
    assert not await store.finish_attempt(stale.id, Outcome.BUSY, machine, NOW)
    assert (await store.get_contact(contact.id)).state is ContactState.DIALING
    busy = first_decision(Outcome.BUSY)
    assert await store.finish_attempt(newer.id, Outcome.BUSY, busy, NOW)
    after = await store.get_contact(contact.id)
    assert (after.state, after.last_outcome) == (ContactState.RETRY, Outcome.BUSY)


async def test_start_attempt_requires_the_lease(store: SqlStore) -> None:
    """Only the claimer may place a call for a claimed contact."""
    cid = await running_campaign(store)
    await store.add_contacts(cid, rows("+4741000001"), NOW)
    (contact,) = await store.claim_due(cid, 1, NOW, "me", LEASE)
    with pytest.raises(Conflict):
        await store.start_attempt(contact, "someone-else", NOW, LEASE)


async def test_start_attempts_records_a_batch_in_order_and_skips_lost_claims(
    store: SqlStore,
) -> None:
    """A batch's attempts come back in the contacts' order, each holding its contact's
    claim; a contact whose claim went to another dialer meanwhile gets no attempt and
    keeps its new claimer's lease."""
    cid = await running_campaign(store)
    await store.add_contacts(cid, rows(*numbers(4)), NOW)
    claimed = await store.claim_due(cid, 4, NOW, "me", LEASE)
    lost = claimed[1]
    await store.release_owned("me", NOW)  # as if our leases ran out ...
    again = await store.claim_due(cid, 4, NOW, "other", LEASE)  # ... and another took all
    assert {c.id for c in again} == {c.id for c in claimed}
    for c in again:
        if c.id != lost.id:
            await store.defer(c.id, NOW, "other")
    mine = await store.claim_due(cid, 3, NOW, "me", LEASE)
    assert lost.id not in {c.id for c in mine}
    order = [mine[2], lost, mine[0], mine[1]]

    attempts = await store.start_attempts(order, "me", NOW, NOW + timedelta(minutes=9))

    assert [a.contact_id for a in attempts] == [mine[2].id, mine[0].id, mine[1].id]
    assert len({a.id for a in attempts}) == 3
    assert await store.open_attempts("other") == []
    decision = first_decision(Outcome.NO_ANSWER)
    for attempt in attempts:  # each holds its contact: settling it frees the contact
        assert await store.finish_attempt(attempt.id, Outcome.NO_ANSWER, decision, NOW)
        assert (await store.get_contact(attempt.contact_id)).state is ContactState.RETRY
    assert (await store.get_contact(lost.id)).state is ContactState.DIALING
    assert await store.start_attempts([], "me", NOW, LEASE) == []


async def test_finish_attempts_closes_a_batch_each_exactly_once(store: SqlStore) -> None:
    """One transaction closes a batch; an attempt closed before (or twice in the batch)
    changes nothing and says so, and each contact gets its own decision."""
    cid = await running_campaign(store)
    await store.add_contacts(cid, rows(*numbers(3)), NOW)
    claimed = await store.claim_due(cid, 3, NOW, "me", LEASE)
    first, second, third = await store.start_attempts(claimed, "me", NOW, LEASE)
    busy, no_answer = first_decision(Outcome.BUSY), first_decision(Outcome.NO_ANSWER)
    assert await store.finish_attempt(third.id, Outcome.NO_ANSWER, no_answer, NOW)

    closed = await store.finish_attempts(
        [
            (first.id, Outcome.BUSY, busy),
            (second.id, Outcome.NO_ANSWER, no_answer),
            (third.id, Outcome.BUSY, busy),
            (first.id, Outcome.NO_ANSWER, no_answer),
        ],
        NOW,
    )

    assert closed == [True, True, False, False]
    assert await store.open_attempts("me") == []
    for attempt, decision, outcome in (
        (first, busy, Outcome.BUSY),
        (second, no_answer, Outcome.NO_ANSWER),
        (third, no_answer, Outcome.NO_ANSWER),
    ):
        contact = await store.get_contact(attempt.contact_id)
        assert (contact.state, contact.due_at) == (decision.state, decision.due_at)
        assert contact.last_outcome is outcome
    assert await store.finish_attempts([], NOW) == []


async def test_defer_puts_a_claimed_contact_back(store: SqlStore) -> None:
    """A deferred contact is queued again at the new time, with nothing counted."""
    cid = await running_campaign(store)
    await store.add_contacts(cid, rows("+4741000001"), NOW)
    (contact,) = await store.claim_due(cid, 1, NOW, "me", LEASE)
    later = NOW + timedelta(hours=2)
    assert not await store.defer(contact.id, later, "other")
    assert await store.defer(contact.id, later, "me")
    after = await store.get_contact(contact.id)
    assert (after.state, after.due_at, after.dials) == (ContactState.PENDING, later, 0)
    assert await store.claim_due(cid, 1, NOW, "me", LEASE) == []
    assert len(await store.claim_due(cid, 1, later, "me", LEASE)) == 1


async def test_expired_leases_are_requeued_without_counting(store: SqlStore) -> None:
    """A dead dialer's contacts come back; its open attempts close as failed_system."""
    cid = await running_campaign(store)
    await store.add_contacts(cid, rows("+4741000001", "+4741000002"), NOW)
    first, second = await store.claim_due(cid, 2, NOW, "dead", LEASE)
    await store.start_attempt(first, "dead", NOW, LEASE)
    assert await store.release_expired_leases(LEASE) == []
    released = await store.release_expired_leases(LEASE + timedelta(seconds=1))
    assert sorted(released) == sorted([first.id, second.id])
    one = await store.get_contact(first.id)
    two = await store.get_contact(second.id)
    assert (one.state, one.attempts, one.dials) == (ContactState.RETRY, 0, 1)
    assert (two.state, two.attempts, two.dials) == (ContactState.PENDING, 0, 0)
    stats = await store.campaign_stats(cid)
    assert stats.attempts_by_outcome == {Outcome.FAILED_SYSTEM: 1}
    assert stats.attempts_open == 0


async def test_dnc_add_stops_contacts_and_remove(store: SqlStore) -> None:
    """Numbers put on the do-not-call list stop being dialled, also mid-call."""
    cid = await running_campaign(store)
    await store.add_contacts(cid, rows("+4741000001", "+4741000002"), NOW)
    (calling,) = await store.claim_due(cid, 1, NOW, "me", LEASE)
    attempt = await store.start_attempt(calling, "me", NOW, LEASE)
    assert await store.dnc_add(["+4741000001", "+4741000002", "+4741000002"], "law", NOW) == 2
    assert await store.dnc_add(["+4741000001"], "law", NOW) == 0
    assert await store.dnc_contains("+4741000002")
    assert await store.claim_due(cid, 5, NOW, "me", LEASE) == []
    decision = first_decision(Outcome.NO_ANSWER)
    assert await store.finish_attempt(attempt.id, Outcome.NO_ANSWER, decision, NOW)
    assert (await store.get_contact(calling.id)).state is ContactState.DNC
    assert await store.dnc_remove(["+4741000002"]) == 1
    assert not await store.dnc_contains("+4741000002")


async def _claim_all(engine: AsyncEngine, cid: int, owner: str, found: list[int]) -> None:
    store = SqlStore(engine)
    while batch := await store.claim_due(cid, 7, NOW, owner, LEASE):
        found.extend(k.id for k in batch)
        await asyncio.sleep(0)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_concurrent_claimers_never_share_a_contact(engine: AsyncEngine) -> None:
    """Four claimers on separate connections drain 2,000 contacts with no contact twice."""
    store = SqlStore(engine)
    cid = await running_campaign(store)
    await store.add_contacts(cid, rows(*numbers(2000)), NOW)
    found: list[list[int]] = [[] for _ in range(4)]
    async with asyncio.timeout(60):
        await asyncio.gather(*(_claim_all(engine, cid, f"dialer-{i}", found[i]) for i in range(4)))
    everything = [cid for part in found for cid in part]
    assert len(everything) == 2000
    assert len(set(everything)) == 2000
    assert sum(1 for part in found if part) >= 2, "claims were not interleaved"


async def book_callback(
    engine: AsyncEngine, contact_id: int, campaign_id: int, due_at: datetime, owner: int | None
) -> int:
    """Book a callback the way the agent side does: row booked, contact in ``callback``."""
    async with engine.begin() as conn:
        agent = await conn.scalar(sa.select(t.agents.c.id).where(t.agents.c.username == "ann"))
        if agent is None:
            agent = await conn.scalar(
                sa.insert(t.agents)
                .values(username="ann", role="agent", created_at=NOW)
                .returning(t.agents.c.id)
            )
        callback_id = await conn.scalar(
            sa.insert(t.callbacks)
            .values(
                contact_id=contact_id,
                campaign_id=campaign_id,
                booked_by=owner if owner is not None else agent,
                owner_id=owner,
                due_at=due_at,
                comment="call after lunch",
                state="booked",
                created_at=NOW,
                updated_at=NOW,
            )
            .returning(t.callbacks.c.id)
        )
        await conn.execute(
            sa.update(t.contacts)
            .where(t.contacts.c.id == contact_id)
            .values(state="callback", due_at=None)
        )
    assert callback_id is not None
    return int(callback_id)


async def test_callback_delivery_reserves_claims_and_closes(
    store: SqlStore, engine: AsyncEngine
) -> None:
    """A due callback is reserved for its owner, delivered once, and closed by its attempt."""
    cid = await running_campaign(store)
    await store.add_contacts(cid, rows("+4741000001"), NOW)
    (contact,) = await store.claim_due(cid, 1, NOW, "me", LEASE)
    due = NOW + timedelta(hours=1)
    callback_id = await book_callback(engine, contact.id, cid, due, owner=1)
    assert await store.next_callback_at() == due
    assert await store.take_due_callbacks(due - timedelta(seconds=1)) == []
    (taken,) = await store.take_due_callbacks(due)
    assert taken.id == callback_id
    assert taken.reserved_until == due + timedelta(minutes=20)
    assert await store.take_due_callbacks(due) == []
    assert [c.id for c in await store.open_due_callbacks()] == [callback_id]
    # The contact is in no ordinary queue while its callback is pending.
    assert await store.claim_due(cid, 5, due, "me", LEASE) == []

    agent = taken.booked_by
    calling, attempt = await store.start_callback_attempt(taken, agent, "me", due, LEASE)
    assert calling.state is ContactState.DIALING
    with pytest.raises(Conflict):
        await store.start_callback_attempt(taken, agent, "me", due, LEASE)
    answered = first_decision(Outcome.ANSWERED, now=due)
    assert await store.finish_attempt(attempt.id, Outcome.ANSWERED, answered, due)
    assert await store.open_due_callbacks() == []
    assert (await store.get_contact(contact.id)).state is ContactState.COMPLETED


async def test_crashed_callback_delivery_goes_back_to_its_owner(
    store: SqlStore, engine: AsyncEngine
) -> None:
    """A callback whose dialer died is due again, not dropped into the ordinary queue."""
    cid = await running_campaign(store)
    await store.add_contacts(cid, rows("+4741000001"), NOW)
    (contact,) = await store.claim_due(cid, 1, NOW, "me", LEASE)
    await book_callback(engine, contact.id, cid, NOW, owner=None)
    (taken,) = await store.take_due_callbacks(NOW)
    await store.start_callback_attempt(taken, taken.booked_by, "dead", NOW, LEASE)
    await store.release_expired_leases(LEASE + timedelta(seconds=1))
    after = await store.get_contact(contact.id)
    assert (after.state, after.due_at) == (ContactState.CALLBACK, None)
    assert [c.id for c in await store.open_due_callbacks()] == [taken.id]
    await store.start_callback_attempt(taken, taken.booked_by, "me", NOW, LEASE)


async def test_next_due_at_sees_both_queues(store: SqlStore) -> None:
    """The engine sleeps until the earliest due contact, urgent or ordinary."""
    cid = await running_campaign(store)
    assert await store.next_due_at(cid) is None
    later = NOW + timedelta(hours=3)
    await store.add_contacts(cid, rows("+4741000001"), later)
    assert await store.next_due_at(cid) == later


async def test_release_owned_and_renew_leases(store: SqlStore) -> None:
    """A restarted dialer takes back its own leases; a live one keeps them renewed."""
    cid = await running_campaign(store)
    await store.add_contacts(cid, rows(*numbers(3)), NOW)
    mine = await store.claim_due(cid, 2, NOW, "me", LEASE)
    await store.claim_due(cid, 1, NOW, "other", LEASE)
    later = LEASE + timedelta(minutes=10)
    assert await store.renew_leases("me", later) == 2
    assert await store.release_expired_leases(LEASE + timedelta(seconds=1)) != []
    assert sorted(await store.release_owned("me", NOW)) == sorted(k.id for k in mine)
    assert await store.release_owned("me", NOW) == []


async def test_failed_callback_delivery_stays_due(store: SqlStore, engine: AsyncEngine) -> None:
    """An agent who does not answer a callback delivery leaves it due for another try."""
    cid = await running_campaign(store)
    await store.add_contacts(cid, rows("+4741000001"), NOW)
    (contact,) = await store.claim_due(cid, 1, NOW, "me", LEASE)
    await book_callback(engine, contact.id, cid, NOW, owner=1)
    (taken,) = await store.take_due_callbacks(NOW)
    _, attempt = await store.start_callback_attempt(taken, taken.booked_by, "me", NOW, LEASE)
    failed = first_decision(Outcome.FAILED_SYSTEM)
    assert await store.finish_attempt(attempt.id, Outcome.FAILED_SYSTEM, failed, NOW)
    assert [c.id for c in await store.open_due_callbacks()] == [taken.id]
    after = await store.get_contact(contact.id)
    assert (after.state, after.due_at, after.attempts) == (ContactState.CALLBACK, None, 0)


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_claim_survives_a_lost_connection(engine: AsyncEngine) -> None:
    """A claim on a pooled connection the server has dropped is retried on a fresh one."""
    store = SqlStore(engine)
    cid = await running_campaign(store)
    await store.add_contacts(cid, rows(*numbers(3)), NOW)
    assert len(await store.claim_due(cid, 1, NOW, "me", LEASE)) == 1
    async with engine.connect() as conn:
        pid = await conn.scalar(sa.text("SELECT pg_backend_pid()"))
    killer = await asyncpg.connect(TEST_PG_URL.replace("+asyncpg", ""))
    try:
        assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await killer.close()
    async with asyncio.timeout(10):
        assert len(await store.claim_due(cid, 1, NOW, "me", LEASE)) == 1
    assert len(await store.claim_due(cid, 5, NOW, "me", LEASE)) == 1


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_claims_past_the_pool_size_close_their_connections(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    """Claims running at once on more connections than the pool keeps: each connection
    past its size is closed on return, and none is left open on the server."""
    async with engine.connect() as conn:
        schema = await conn.scalar(sa.text("SELECT current_schema()"))
    small = make_engine(
        TEST_PG_URL,
        pool_size=1,
        max_overflow=3,
        connect_args={"server_settings": {"search_path": schema, "application_name": schema}},
    )
    store = SqlStore(small)
    try:
        cid = await running_campaign(store)
        await store.add_contacts(cid, rows(*numbers(8)), NOW)
        claimed = await asyncio.gather(
            *(store.claim_due(cid, 1, NOW, f"me{n}", LEASE) for n in range(8))
        )
        ids = [c.id for batch in claimed for c in batch]
        assert len(set(ids)) == len(ids) == 8
        async with engine.connect() as conn:
            count = sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a")
            assert await conn.scalar(count, {"a": schema}) == 1
    finally:
        await small.dispose()
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_claim_relaxes_durability_for_itself_only(engine: AsyncEngine) -> None:
    """The claim's asynchronous commit does not carry over to the connection's next work."""
    store = SqlStore(engine)
    cid = await running_campaign(store)
    await store.add_contacts(cid, rows(*numbers(2)), NOW)
    assert len(await store.claim_due(cid, 1, NOW, "me", LEASE)) == 1
    async with engine.connect() as conn:
        assert await conn.scalar(sa.text("SHOW synchronous_commit")) == "on"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_lease_lookups_search_the_state_index(engine: AsyncEngine) -> None:
    """Leases are found in ix_contacts_campaign_state though statistics call states common."""
    c = t.contacts.c
    statements = [
        sa.select(c.id).where(_dialing(postgres=False), c.lease_expires_at < NOW),
        sa.update(t.contacts).where(_dialing(postgres=False)).values(lease_expires_at=NOW),
    ]
    async with engine.begin() as conn:
        await conn.exec_driver_sql("ANALYZE")
        # What ANALYZE writes for a million contacts of one campaign, a third in each state.
        await conn.exec_driver_sql(
            "INSERT INTO sqlite_stat1 VALUES "
            "('contacts', 'ix_contacts_campaign_state', '1000000 1000000 333333')"
        )
        await conn.exec_driver_sql("ANALYZE sqlite_schema")
        for statement in statements:
            sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
            plan = [row[-1] for row in await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
            assert any("ix_contacts_campaign_state" in step for step in plan), plan
            assert not any(step.startswith("SCAN contacts") for step in plan), plan
