"""The do-not-call list over HTTP: managers add, look up and remove numbers."""

from __future__ import annotations

from campaigns.model import ContactState
from tests.agent_api.conftest import Api


async def test_manager_adds_numbers_and_the_contact_stops(api: Api) -> None:
    """Numbers are normalised and counted once; a queued contact with one becomes dnc."""
    body = {"numbers": ["410 00 001", "+4741000001", "+4741000002"], "reason": "asked"}
    assert (await api.client.post("/dnc", json=body, headers=api.agent)).status_code == 403
    reply = await api.client.post("/dnc", json=body, headers=api.manager)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"added": 2, "already_listed": 0}
    again = await api.client.post("/dnc", json={"numbers": ["41000001"]}, headers=api.manager)
    assert again.json() == {"added": 0, "already_listed": 1}
    contact = await api.services.campaigns.get_contact(api.contact_id)
    assert contact.state is ContactState.DNC
    found = await api.client.get("/dnc/41000002", headers=api.manager)
    assert found.json() == {"number": "+4741000002", "listed": True}
    gone = await api.client.delete("/dnc/+4741000002", headers=api.manager)
    assert gone.json() == {"number": "+4741000002", "listed": False}
    found = await api.client.get("/dnc/41000002", headers=api.manager)
    assert found.json()["listed"] is False


async def test_one_bad_number_refuses_the_request_and_adds_nothing(api: Api) -> None:
    """A number with a line break is refused by position, and no number is added."""
    body = {"numbers": ["+4741000002", "41000003\r\nAction: Hangup"]}
    reply = await api.client.post("/dnc", json=body, headers=api.manager)
    assert reply.status_code == 422
    assert reply.json()["field"] == "numbers[1]"
    assert "control characters" in reply.json()["message"]
    assert not await api.services.campaigns.dnc_contains("+4741000002")
    reply = await api.client.get("/dnc/41000002?region=XX", headers=api.manager)
    assert (reply.status_code, reply.json()["field"]) == (422, "region")
