"""Follow-up queues are worked: an item shows the reason, the caller, the description, the
queue and its age; agents and managers take it, add notes, close it or turn it into a
case (linked both ways); queues list their counts and oldest age."""

from __future__ import annotations

from typing import Any

from tests.agent_api.conftest import Api


async def _left_open(api: Api, phone: str, reason: str, description: str) -> int:
    """An inbound call ended with ``reason`` (not closed by default): its interaction id."""
    r = await api.client.post("/agents/me/interactions", json={"phone": phone}, headers=api.agent)
    call = int(r.json()["id"])
    reasons = {
        x["name"]: x for x in (await api.client.get("/end-reasons", headers=api.agent)).json()
    }
    done = await api.client.put(
        f"/interactions/{call}/end-reason",
        json={"reason_id": reasons[reason]["id"], "description": description},
        headers=api.agent,
    )
    assert done.json()["closed"] is False, done.text
    return call


async def test_queue_items_show_what_the_request_is(api: Api) -> None:
    """Items carry the reason's name, the caller, the description, the queue and the age;
    the queues list counts and the oldest age."""
    first = await _left_open(api, "+4799000001", "Complaints about false weight", "500 g short")
    api.clock.advance(600)
    await _left_open(api, "+4799000002", "Change of personal data", "new address")
    api.clock.advance(60)
    items = (await api.client.get("/followups?queue=complaints", headers=api.agent)).json()
    assert len(items) == 1
    item = items[0]
    assert (item["id"], item["reason"], item["description"], item["queue"]) == (
        first,
        "Complaints about false weight",
        "500 g short",
        "complaints",
    )
    assert (item["phone"], item["contact_id"], item["age_seconds"]) == ("+4799000001", None, 660.0)
    assert item["taken_by"] is None and item["case_id"] is None
    queues = (await api.client.get("/followups/queues", headers=api.manager)).json()
    assert [(q["queue"], q["open"], q["taken"], q["oldest_age_seconds"]) for q in queues] == [
        ("complaints", 1, 0, 660.0),
        ("loyalty", 1, 0, 60.0),
    ]


async def test_take_note_close(api: Api) -> None:
    """An agent takes an item; another agent cannot, a manager takes it over; notes are
    kept with their author; closing closes the request and leaves the open list."""
    call = await _left_open(api, "+4799000001", "Complaints about false weight", "short")
    url = f"/followups/{call}"
    taken = await api.client.post(f"{url}/take", headers=api.agent)
    assert taken.status_code == 200 and taken.json()["taken_by_name"] == "anna"
    other = await api.client.post(f"{url}/take", headers=api.other)
    assert other.status_code == 409 and other.json()["code"] == "followup.taken"
    noted = await api.client.post(f"{url}/notes", json={"text": "called back"}, headers=api.agent)
    assert noted.status_code == 201 and noted.json()["author"] == "anna"
    blocked = await api.client.post(f"{url}/notes", json={"text": "me too"}, headers=api.other)
    assert blocked.status_code == 409
    empty = await api.client.post(f"{url}/notes", json={"text": ""}, headers=api.agent)
    assert empty.status_code == 422 and empty.json()["field"] == "text"
    over = await api.client.post(f"{url}/take", headers=api.manager)
    assert over.json()["taken_by_name"] == "mia"
    queues = (await api.client.get("/followups/queues", headers=api.agent)).json()
    assert [(q["open"], q["taken"]) for q in queues] == [(1, 1)]
    closed = await api.client.post(f"{url}/close", json={"note": "refunded"}, headers=api.manager)
    assert closed.status_code == 200 and closed.json()["closed_at"] is not None
    detail = (await api.client.get(url, headers=api.agent)).json()
    assert [n["text"] for n in detail["notes"]] == ["called back", "refunded"]
    assert detail["followup"]["notes"] == 2
    assert (await api.client.get("/followups", headers=api.agent)).json() == []
    done = (await api.client.get("/followups?closed=true", headers=api.agent)).json()
    assert [d["id"] for d in done] == [call]
    again = await api.client.post(f"{url}/close", json={}, headers=api.manager)
    assert again.status_code == 409 and again.json()["code"] == "followup.closed"
    call_now = (await api.client.get(f"/interactions/{call}", headers=api.agent)).json()
    assert call_now["interaction"]["closed"] is True
    assert (await api.client.post("/followups/99999/take", headers=api.agent)).status_code == 404


async def test_turned_into_a_case_linked_both_ways(api: Api) -> None:
    """Another agent turns the item into a case: the case names the call, the item names
    the case and is closed; missing case fields are named."""
    t = await api.client.post(
        "/case-types",
        json={"name": "Quality", "department": "stores", "mandatory_fields": ["store"]},
        headers=api.manager,
    )
    type_id = t.json()["id"]
    call = await _left_open(api, "+4799000001", "Complaints about false weight", "short")
    url = f"/followups/{call}/case"
    body: dict[str, Any] = {"type_id": type_id, "subject": "False weight"}
    missing = await api.client.post(url, json=body, headers=api.other)
    assert missing.status_code == 422 and "store" in missing.json()["message"]
    case = await api.client.post(
        url, json={**body, "fields": {"store": "Oslo S"}}, headers=api.other
    )
    assert case.status_code == 201, case.text
    assert (case.json()["interaction_id"], case.json()["phone"]) == (call, "+4799000001")
    item = (await api.client.get(f"/followups/{call}", headers=api.manager)).json()["followup"]
    assert item["case_id"] == case.json()["id"] and item["closed_at"] is not None
