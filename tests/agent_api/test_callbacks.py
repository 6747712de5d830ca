"""Callbacks through the app (issue 13 item 5): the agent's scheduled calls keep due and
reserved callbacks; managers list every callback, reassign one, and read the lateness of
deliveries per campaign. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from campaigns.model import ContactRow, ContactState, Outcome
from campaigns.retry import Decision
from tests.agent_api.conftest import Api
from tests.conftest import NOW

# NOW is Monday 11:00 in Oslo: these fall inside the default calling hours.
IN_1H = NOW + timedelta(hours=1)
IN_2H = NOW + timedelta(hours=2)
TOMORROW = NOW + timedelta(days=1)
ANSWERED = Decision(ContactState.COMPLETED, None, 1, 1, 0, True)
_phones = iter(range(100, 200))


async def user_id(api: Api, headers: dict[str, str]) -> int:
    return int((await api.client.get("/users/me", headers=headers)).json()["id"])


async def book(
    api: Api, headers: dict[str, str], due: datetime, for_: str = "me"
) -> dict[str, Any]:
    """A new contact of the campaign, called by the dialer for the agent of ``headers``,
    who books a callback in the wrap-up."""
    store = api.services.campaigns
    agent_id = await user_id(api, headers)
    row = ContactRow(1, f"+4741000{next(_phones)}", "Europe/Oslo", {})
    await store.add_contacts(api.campaign_id, [row], NOW)
    (contact,) = await store.claim_due(api.campaign_id, 1, NOW, "test", NOW + timedelta(minutes=5))
    attempt = await store.start_attempt(contact, "test", NOW, NOW + timedelta(minutes=5))
    assert await store.finish_attempt(attempt.id, Outcome.ANSWERED, ANSWERED, NOW)
    interaction = await api.services.interactions.start_interaction(
        agent_id, contact.phone, contact=contact, attempt_id=attempt.id
    )
    body = {
        "feedback": "callback",
        "callback": {"due_at": due.isoformat(), "comment": f"cb {row.phone}", "for": for_},
    }
    r = await api.client.post(
        f"/interactions/{interaction.id}/registration", json=body, headers=headers
    )
    assert r.status_code == 201, r.text
    callback: dict[str, Any] = r.json()["callback"]
    return callback


async def falls_due(api: Api, at: datetime) -> None:
    """The engine's step: booked callbacks due by ``at`` become due, reserved."""
    api.clock.now = at
    await api.services.campaigns.take_due_callbacks(at)


async def deliver(api: Api, callback_id: int, at: datetime, outcome: Outcome) -> None:
    """The engine delivers the due callback at ``at``; its attempt ends with ``outcome``."""
    store = api.services.campaigns
    (callback,) = [c for c in await store.open_due_callbacks() if c.id == callback_id]
    _, attempt = await store.start_callback_attempt(
        callback, api.agent_id, "test", at, at + timedelta(minutes=5)
    )
    assert await store.finish_attempt(attempt.id, outcome, ANSWERED, at)


def ids(body: list[dict[str, Any]]) -> list[int]:
    return [c["id"] for c in body]


async def test_my_callbacks_keep_due_and_reserved_ones(api: Api) -> None:
    """Booked and due callbacks for me (with their reservation end), and due callbacks for
    all agents; not another agent's, not a delivered one."""
    mine_soon = await book(api, api.agent, IN_1H)
    mine_later = await book(api, api.agent, TOMORROW)
    for_all = await book(api, api.other, IN_1H, "all")
    others = await book(api, api.other, IN_1H)
    for_all_later = await book(api, api.other, TOMORROW, "all")
    mine = (await api.client.get("/agents/me/callbacks", headers=api.agent)).json()
    assert ids(mine) == [mine_soon["id"], mine_later["id"]]
    assert mine[0]["state"] == "booked" and mine[0]["reserved_until"] is None

    await falls_due(api, IN_2H)
    mine = (await api.client.get("/agents/me/callbacks", headers=api.agent)).json()
    assert ids(mine) == [mine_soon["id"], for_all["id"], mine_later["id"]]
    assert [c["state"] for c in mine] == ["due", "due", "booked"]
    reserved = datetime.fromisoformat(mine[0]["reserved_until"])
    assert reserved == IN_1H + timedelta(minutes=20)
    assert mine[1]["owner_id"] is None
    theirs = (await api.client.get("/agents/me/callbacks", headers=api.other)).json()
    assert ids(theirs) == [for_all["id"], others["id"]]
    assert for_all_later["id"] not in ids(theirs)
    # A due callback for all agents listed to me can be opened by me.
    seen = await api.client.get(f"/callbacks/{for_all['id']}", headers=api.agent)
    assert seen.status_code == 200 and seen.json()["state"] == "due"

    await deliver(api, mine_soon["id"], IN_2H, Outcome.ANSWERED)
    mine = (await api.client.get("/agents/me/callbacks", headers=api.agent)).json()
    assert ids(mine) == [for_all["id"], mine_later["id"]]


async def test_managers_list_every_callback_filtered_and_paged(api: Api) -> None:
    """GET /callbacks: by agent, campaign, state and day, a page at a time; managers only."""
    first = await book(api, api.agent, IN_1H)
    second = await book(api, api.other, IN_1H, "all")
    third = await book(api, api.other, TOMORROW)
    await falls_due(api, IN_2H)
    cancelled = await api.client.post(f"/callbacks/{third['id']}/cancel", headers=api.other)
    assert cancelled.status_code == 200
    other_id = await user_id(api, api.other)

    async def page(**params: Any) -> dict[str, Any]:
        r = await api.client.get("/callbacks", params=params, headers=api.manager)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    everything = await page()
    assert everything["total"] == 3
    assert ids(everything["callbacks"]) == [first["id"], second["id"], third["id"]]
    assert ids((await page(agent_id=api.agent_id))["callbacks"]) == [first["id"]]
    assert ids((await page(agent_id=other_id))["callbacks"]) == [third["id"]]
    assert ids((await page(state="due"))["callbacks"]) == [first["id"], second["id"]]
    assert ids((await page(state="cancelled"))["callbacks"]) == [third["id"]]
    assert (await page(campaign_id=api.campaign_id))["total"] == 3
    assert (await page(campaign_id=api.campaign_id + 1))["total"] == 0
    today = await page(day="2026-11-23")
    assert ids(today["callbacks"]) == [first["id"], second["id"]]
    assert ids((await page(day="2026-11-24"))["callbacks"]) == [third["id"]]
    # Kiritimati (UTC+14) is in Tuesday already: the day runs from Monday 10:00 UTC.
    assert (await page(day="2026-11-24", tz="Pacific/Kiritimati"))["total"] == 2
    paged = await page(limit=2, offset=1)
    assert paged["total"] == 3 and ids(paged["callbacks"]) == [second["id"], third["id"]]
    assert paged["callbacks"][0]["reserved_until"] is not None

    refused = await api.client.get("/callbacks", headers=api.agent)
    assert refused.status_code == 403
    bad = await api.client.get("/callbacks?state=lost", headers=api.manager)
    assert bad.status_code == 422 and bad.json()["field"] == "state"
    bad_tz = await api.client.get("/callbacks?day=2026-11-23&tz=Mars/Base", headers=api.manager)
    assert bad_tz.status_code == 422 and bad_tz.json()["field"] == "tz"


async def test_manager_reassigns_a_callback(api: Api) -> None:
    """PUT /callbacks/{id}/owner: to an agent or to all; a due callback is reserved for its
    new owner from the reassignment on."""
    booked = await book(api, api.agent, TOMORROW)
    due = await book(api, api.agent, IN_1H)
    other_id = await user_id(api, api.other)
    url = f"/callbacks/{booked['id']}/owner"

    moved = await api.client.put(url, json={"owner_id": other_id}, headers=api.manager)
    assert moved.status_code == 200, moved.text
    assert moved.json()["owner_id"] == other_id and moved.json()["state"] == "booked"
    assert moved.json()["reserved_until"] is None
    mine = (await api.client.get("/agents/me/callbacks", headers=api.agent)).json()
    assert booked["id"] not in ids(mine)
    theirs = (await api.client.get("/agents/me/callbacks", headers=api.other)).json()
    assert ids(theirs) == [booked["id"]]

    await falls_due(api, IN_2H)
    later = IN_2H + timedelta(minutes=5)
    api.clock.now = later
    due_url = f"/callbacks/{due['id']}/owner"
    moved = await api.client.put(due_url, json={"owner_id": other_id}, headers=api.manager)
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert (body["owner_id"], body["state"]) == (other_id, "due")
    assert datetime.fromisoformat(body["reserved_until"]) == later + timedelta(minutes=20)
    theirs = (await api.client.get("/agents/me/callbacks", headers=api.other)).json()
    assert ids(theirs) == [due["id"], booked["id"]]

    to_all = await api.client.put(due_url, json={"owner_id": None}, headers=api.manager)
    assert to_all.status_code == 200 and to_all.json()["owner_id"] is None
    mine = (await api.client.get("/agents/me/callbacks", headers=api.agent)).json()
    assert ids(mine) == [due["id"]]

    assert (await api.client.put(url, json={"owner_id": 9999}, headers=api.manager)).json()[
        "field"
    ] == "owner_id"
    agent = await api.client.put(url, json={"owner_id": api.agent_id}, headers=api.agent)
    assert agent.status_code == 403
    missing = await api.client.put(
        "/callbacks/9999/owner", json={"owner_id": None}, headers=api.manager
    )
    assert missing.status_code == 404
    await api.client.post(f"/callbacks/{booked['id']}/cancel", headers=api.manager)
    closed = await api.client.put(url, json={"owner_id": api.agent_id}, headers=api.manager)
    assert closed.status_code == 409 and closed.json()["code"] == "callback.closed"


async def test_lateness_per_campaign(api: Api) -> None:
    """Due time to the start of the delivering attempt, p50/p90/max seconds; a delivery
    whose agent phone failed does not count, the later one does."""
    quick = await book(api, api.agent, IN_1H)
    slow = await book(api, api.agent, IN_1H)
    retried = await book(api, api.agent, IN_1H)
    waiting = await book(api, api.agent, IN_1H)
    await falls_due(api, IN_1H)
    await deliver(api, quick["id"], IN_1H + timedelta(seconds=30), Outcome.ANSWERED)
    await deliver(api, slow["id"], IN_1H + timedelta(minutes=5), Outcome.NO_ANSWER)
    await deliver(api, retried["id"], IN_1H + timedelta(seconds=40), Outcome.FAILED_SYSTEM)
    await deliver(api, retried["id"], IN_1H + timedelta(minutes=2), Outcome.ANSWERED)
    assert waiting["id"]

    r = await api.client.get(
        "/callbacks/lateness", params={"campaign_id": api.campaign_id}, headers=api.manager
    )
    assert r.status_code == 200, r.text
    assert r.json() == [
        {
            "campaign_id": api.campaign_id,
            "delivered": 3,
            "p50_seconds": 120.0,
            "p90_seconds": 300.0,
            "max_seconds": 300.0,
        }
    ]
    every = await api.client.get("/callbacks/lateness", headers=api.manager)
    assert [x["campaign_id"] for x in every.json()] == [api.campaign_id]
    none = await api.client.get(
        "/callbacks/lateness", params={"campaign_id": api.campaign_id + 1}, headers=api.manager
    )
    assert none.json() == []
    assert (await api.client.get("/callbacks/lateness", headers=api.agent)).status_code == 403
