"""Forced registration with required categories, through the API on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.agent_api.conftest import Api
from tests.agent_api.test_http import category, dialer_interaction


async def test_forced_registration_needs_a_topic_of_each_required_category(api: Api) -> None:
    """A required category offered for the call must get a topic: an empty body is 422
    naming topic_ids and the category; a topic of it registers; the agent may then be
    ready. Optional and not-offered categories are not asked for."""
    reason = await category(api, "Reason", multi=False)
    await category(api, "Mood", multi=True)
    other = await api.client.post(
        "/campaigns",
        json={"name": "other-campaign"},
        headers=api.manager,
    )
    assert other.status_code == 201, other.text
    elsewhere = await api.client.post(
        "/wrapup/categories",
        json={"name": "Elsewhere", "campaign_id": other.json()["id"], "required": True},
        headers=api.manager,
    )
    assert elsewhere.json()["required"] is True
    listed = (await api.client.get("/wrapup/categories", headers=api.agent)).json()
    reason_id = next(c["id"] for c in listed if c["name"] == "Reason")
    r = await api.client.patch(
        f"/wrapup/categories/{reason_id}", json={"required": True}, headers=api.manager
    )
    assert r.status_code == 200 and r.json()["required"] and r.json()["active"], r.text
    bad = await api.client.patch(f"/wrapup/categories/{reason_id}", json={}, headers=api.manager)
    assert bad.status_code == 422 and bad.json()["field"] == "active", bad.text
    by_agent = await api.client.patch(
        f"/wrapup/categories/{reason_id}", json={"required": False}, headers=api.agent
    )
    assert by_agent.status_code == 403

    interaction_id = await dialer_interaction(api, settled=True)
    await api.client.post(f"/interactions/{interaction_id}/end", headers=api.agent)
    detail = (await api.client.get(f"/interactions/{interaction_id}", headers=api.agent)).json()
    assert {c["name"]: c["required"] for c in detail["categories"]} == {
        "Reason": True,
        "Mood": False,
    }
    empty = await api.client.post(
        f"/interactions/{interaction_id}/registration", json={}, headers=api.agent
    )
    assert empty.status_code == 422, empty.text
    assert empty.json()["code"] == "wrapup.topic_required"
    assert empty.json()["field"] == "topic_ids" and "'Reason'" in empty.json()["message"]
    blocked = await api.client.put("/agents/me/state", json={"state": "ready"}, headers=api.agent)
    assert blocked.json()["code"] == "wrapup.registration_required"
    done = await api.client.post(
        f"/interactions/{interaction_id}/registration",
        json={"topic_ids": [reason[1]]},
        headers=api.agent,
    )
    assert done.status_code == 201, done.text
    ready = await api.client.put("/agents/me/state", json={"state": "ready"}, headers=api.agent)
    assert ready.status_code == 200, ready.text


async def test_dialer_feedback_that_ends_the_call_needs_no_required_topic(api: Api) -> None:
    """Not answered, answering machine and a callback end the call without a conversation
    to register: no required topic is asked for."""
    await category(api, "Reason", multi=False)
    listed = (await api.client.get("/wrapup/categories", headers=api.agent)).json()
    await api.client.patch(
        f"/wrapup/categories/{listed[0]['id']}", json={"required": True}, headers=api.manager
    )
    interaction_id = await dialer_interaction(api, settled=True)
    await api.client.post(f"/interactions/{interaction_id}/end", headers=api.agent)
    r = await api.client.post(
        f"/interactions/{interaction_id}/registration",
        json={"feedback": "answering_machine"},
        headers=api.agent,
    )
    assert r.status_code == 201, r.text
