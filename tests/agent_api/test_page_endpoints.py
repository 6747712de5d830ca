"""What the agent desk and the supervisor board read beyond the rest of the API: the
supervisors' stream, the campaigns an agent may choose, a contact's earlier calls on an
interaction, scheduled calls with the contact, the abandon rate over time, the state's
start. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from campaigns.model import CampaignState, ContactRow, ContactState, Outcome
from campaigns.retry import Decision
from campaigns.spec import CampaignSpec
from campaigns.users import AgentState
from campaigns.wrapup import Direction
from tests.agent_api.conftest import Api
from tests.agent_api.test_callbacks import IN_1H, book, falls_due
from tests.agent_api.test_events import read_events, server_url  # noqa: F401 (fixture)
from tests.conftest import NOW
from tests.support import sse

RETRY = Decision(ContactState.RETRY, NOW, 1, 1, 0, True)
DONE = Decision(ContactState.COMPLETED, None, 1, 1, 0, True)


async def test_supervisors_stream_carries_every_agents_state_and_outcomes(
    api: Api,
    server_url: str,  # noqa: F811
) -> None:
    async with httpx.AsyncClient(base_url=server_url) as client:
        refused = await client.get("/floor/events", headers=api.agent)
        assert refused.status_code == 403
        async with client.stream("GET", "/floor/events", headers=api.manager) as response:
            assert response.status_code == 200
            lines = response.aiter_lines()
            async with asyncio.timeout(5):
                assert await anext(lines) == sse.CONNECTED
            anna = await api.services.users.authenticate(api.agent["Authorization"][7:])
            await api.services.agents.set_state(anna, AgentState.PAUSED, "lunch")
            other = await api.services.users.authenticate(api.other["Authorization"][7:])
            await api.services.interactions.start_interaction(other.id, "+4799", Direction.INBOUND)
            events = await read_events(lines, 2)
    assert events[0] == (
        "agent_state",
        {"agent_id": anna.id, "state": "paused", "reason": "lunch"},
    )
    assert events[1][0] == "call_offered" and events[1][1]["agent_id"] == other.id


async def test_an_agent_chooses_among_unfinished_campaigns(api: Api) -> None:
    store = api.services.campaigns
    draft = await store.create_campaign(CampaignSpec(name="later"), NOW)
    done = await store.create_campaign(CampaignSpec(name="done"), NOW)
    await store.set_campaign_state(done.id, CampaignState.FINISHED, NOW)
    reply = await api.client.get("/agents/me/campaigns", headers=api.agent)
    assert reply.status_code == 200
    shown = {c["name"]: c["state"] for c in reply.json()}
    assert shown == {"spring": "running", "later": "draft"}
    assert draft.id in [c["id"] for c in reply.json()]
    assert (await api.client.get("/agents/me/campaigns")).status_code == 401


async def test_an_interaction_shows_the_contacts_earlier_calls_not_this_one(api: Api) -> None:
    """The contact's first call ended with a callback; the second call, the callback,
    shows that attempt and that registration with its comment, and not itself."""
    first = await book(api, api.agent, IN_1H)
    store = api.services.campaigns
    await falls_due(api, IN_1H)
    anna = await api.services.users.authenticate(api.agent["Authorization"][7:])
    callback = await api.services.callbacks.get(anna, first["id"])
    contact, attempt = await store.start_callback_attempt(
        callback, api.agent_id, "test", IN_1H, IN_1H + timedelta(minutes=5)
    )
    second = await api.services.interactions.start_interaction(
        api.agent_id, contact.phone, contact=contact, attempt_id=attempt.id
    )
    reply = await api.client.get(f"/interactions/{second.id}", headers=api.agent)
    assert reply.status_code == 200, reply.text
    history = reply.json()["history"]
    assert [a["attempt_id"] for a in history["attempts"]] != []
    assert attempt.id not in [a["attempt_id"] for a in history["attempts"]]
    assert [a["outcome"] for a in history["attempts"]] == ["answered"]
    (earlier,) = history["registrations"]
    assert earlier["agent"] == "anna"
    assert earlier["feedback"] == "callback"
    assert earlier["callback_comment"] == first["comment"]
    assert earlier["interaction_id"] != second.id
    # Another agent cannot read it.
    other = await api.client.get(f"/interactions/{second.id}", headers=api.other)
    assert other.status_code == 404


async def test_scheduled_calls_name_the_contact(api: Api) -> None:
    booked = await book(api, api.agent, IN_1H)
    reply = await api.client.get("/agents/me/callbacks", headers=api.agent)
    (call,) = reply.json()
    assert call["id"] == booked["id"]
    contact = await api.services.campaigns.get_contact(booked["contact_id"])
    assert call["phone"] == contact.phone
    assert call["contact_name"] is None  # the booked contact has no name column
    assert (await api.client.get("/agents/me/callbacks", headers=api.other)).json() == []


async def test_the_abandon_rate_over_time_against_the_cap(api: Api) -> None:
    store = api.services.campaigns
    rows = [ContactRow(n, f"+47410002{n:02d}", "Europe/Oslo", {}) for n in range(2, 8)]
    await store.add_contacts(api.campaign_id, rows, NOW)
    contacts = await store.claim_due(api.campaign_id, 6, NOW, "t", NOW + timedelta(hours=3))
    # Two hours ago: 2 answered, 1 abandoned; one hour ago: 1 answered, 1 abandoned;
    # a busy line counts for nothing.
    plan = [
        (-110, Outcome.ANSWERED),
        (-100, Outcome.ANSWERED),
        (-95, Outcome.ABANDONED),
        (-50, Outcome.ANSWERED),
        (-40, Outcome.ABANDONED),
        (-30, Outcome.BUSY),
    ]
    for contact, (minutes, outcome) in zip(contacts, plan, strict=True):
        at = NOW + timedelta(minutes=minutes)
        attempt = await store.start_attempt(contact, "t", at, at + timedelta(minutes=5))
        assert await store.finish_attempt(attempt.id, outcome, RETRY, at)
    reply = await api.client.get(
        f"/campaigns/{api.campaign_id}/abandon-rate",
        params={"hours": 2, "bucket_minutes": 60},
        headers=api.manager,
    )
    assert reply.status_code == 200, reply.text
    series = reply.json()
    assert series["cap"] == 0.03 and series["bucket_minutes"] == 60
    counts = [(b["answered"], b["abandoned"]) for b in series["buckets"]]
    assert counts == [(2, 1), (1, 1)]
    assert series["buckets"][0]["rate"] == pytest.approx(1 / 3)
    assert series["buckets"][1]["running_rate"] == pytest.approx(2 / 5)
    assert series["buckets"][0]["start"].startswith("2026-11-23T08:00")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"hours": 0}, "hours"),
        ({"bucket_minutes": 0}, "bucket_minutes"),
        ({"hours": 168, "bucket_minutes": 1}, "bucket_minutes"),
    ],
)
async def test_the_abandon_series_is_bounded(api: Api, params: dict[str, int], field: str) -> None:
    path = f"/campaigns/{api.campaign_id}/abandon-rate"
    reply = await api.client.get(path, params=params, headers=api.manager)
    assert reply.status_code == 422 and reply.json()["field"] == field, reply.text
    assert (await api.client.get(path, headers=api.agent)).status_code == 403


async def test_the_state_says_since_when(api: Api) -> None:
    reply = await api.client.put(
        "/agents/me/state", json={"state": "paused", "reason": "lunch"}, headers=api.agent
    )
    assert reply.json()["since"].startswith("2026-11-23T10:00")
    api.clock.now = NOW + timedelta(seconds=90)
    state = (await api.client.get("/agents/me/state", headers=api.agent)).json()
    assert state["seconds_in_state"] == 90.0
