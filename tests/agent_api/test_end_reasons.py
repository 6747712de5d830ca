"""End reasons as data: administrators create, edit, order and retire them, globally or for
one campaign; agents are offered the ones for their call; the campaign's default end reason
wraps up automatically."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.agent_api.conftest import Api
from tests.agent_api.test_http import dialer_interaction
from tests.conftest import NOW


async def _create(api: Api, **body: Any) -> dict[str, Any]:
    r = await api.client.post("/end-reasons", json=body, headers=api.manager)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def _names(api: Api, query: str = "", who: str = "agent") -> list[str]:
    r = await api.client.get(f"/end-reasons{query}", headers=getattr(api, who))
    assert r.status_code == 200, r.text
    return [x["name"] for x in r.json()]


async def _inbound(api: Api) -> int:
    r = await api.client.post(
        "/agents/me/interactions", json={"phone": "+4799000000"}, headers=api.agent
    )
    return int(r.json()["id"])


async def test_campaign_reasons_offered_in_order(api: Api) -> None:
    """A campaign's own reasons come with the global ones for its calls, by position."""
    sale = await _create(
        api,
        name="Sale",
        close_by_default=True,
        description="The member bought the offer.",
        campaign_id=api.campaign_id,
        position=0,
    )
    assert (sale["campaign_id"], sale["description"], sale["active"]) == (
        api.campaign_id,
        "The member bought the offer.",
        True,
    )
    offered = await _names(api, f"?campaign_id={api.campaign_id}")
    assert offered[0] == "Sale" and offered[-1] == "Other" and len(offered) == 25
    assert "Sale" not in await _names(api)  # not offered for calls of no campaign
    # The same name in another scope is allowed; twice in one scope is not.
    again = await api.client.post(
        "/end-reasons",
        json={"name": "Sale", "close_by_default": True, "campaign_id": api.campaign_id},
        headers=api.manager,
    )
    assert again.status_code == 409 and again.json()["field"] == "name"
    await _create(api, name="Sale", close_by_default=True)
    nowhere = await api.client.post(
        "/end-reasons",
        json={"name": "X", "close_by_default": True, "campaign_id": 999},
        headers=api.manager,
    )
    assert nowhere.status_code == 404 and nowhere.json()["field"] == "campaign_id"
    denied = await api.client.post(
        "/end-reasons", json={"name": "Y", "close_by_default": True}, headers=api.agent
    )
    assert denied.status_code == 403


async def test_edit_reorder_and_retire(api: Api) -> None:
    """A manager edits a reason, moves it, retires it (not offered, not pickable, still
    listed for managers) and brings it back."""
    reason = await _create(api, name="Wrong number", close_by_default=True, followup_queue="x")
    url = f"/end-reasons/{reason['id']}"
    edited = await api.client.patch(
        url,
        json={"description": "Not the member.", "followup_queue": "general", "position": 0},
        headers=api.manager,
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["description"], edited.json()["followup_queue"]) == (
        "Not the member.",
        "general",
    )
    assert (await _names(api))[0] == "Wrong number"
    empty = await api.client.patch(url, json={}, headers=api.manager)
    assert empty.status_code == 422 and empty.json()["field"] == "body"
    bad = await api.client.patch(url, json={"position": -1}, headers=api.manager)
    assert bad.status_code == 422 and bad.json()["field"] == "position"
    taken = await api.client.patch(url, json={"name": "Other"}, headers=api.manager)
    assert taken.status_code == 409 and taken.json()["field"] == "name"
    assert (
        await api.client.patch(url, json={"active": False}, headers=api.agent)
    ).status_code == 403
    retired = await api.client.patch(url, json={"active": False}, headers=api.manager)
    assert retired.json()["active"] is False
    assert "Wrong number" not in await _names(api)
    assert "Wrong number" in await _names(api, "?retired=true", who="manager")
    assert (await api.client.get("/end-reasons?retired=true", headers=api.agent)).status_code == 403
    call = await _inbound(api)
    refused = await api.client.put(
        f"/interactions/{call}/end-reason", json={"reason_id": reason["id"]}, headers=api.agent
    )
    assert refused.status_code == 422 and refused.json()["field"] == "end_reason.reason_id"
    await api.client.patch(url, json={"active": True}, headers=api.manager)
    picked = await api.client.put(
        f"/interactions/{call}/end-reason", json={"reason_id": reason["id"]}, headers=api.agent
    )
    assert picked.status_code == 200 and picked.json()["closed"] is True
    missing = await api.client.patch(
        "/end-reasons/99999", json={"active": True}, headers=api.manager
    )
    assert missing.status_code == 404


async def test_campaign_reason_not_for_other_calls(api: Api) -> None:
    """A campaign's reason cannot end a call that is not that campaign's."""
    own = await _create(api, name="Sale", close_by_default=True, campaign_id=api.campaign_id)
    call = await _inbound(api)
    r = await api.client.put(
        f"/interactions/{call}/end-reason", json={"reason_id": own["id"]}, headers=api.agent
    )
    assert r.status_code == 422 and r.json()["field"] == "end_reason.reason_id"
    dialer_call = await dialer_interaction(api, settled=True)
    r = await api.client.put(
        f"/interactions/{dialer_call}/end-reason", json={"reason_id": own["id"]}, headers=api.agent
    )
    assert r.status_code == 200 and r.json()["end_reason_id"] == own["id"]


async def test_automatic_wrapup_uses_the_campaigns_default(api: Api) -> None:
    """The campaign's default end reason, its own before a global one of the same name,
    is written when the countdown wraps up."""
    own = await _create(
        api,
        name="Other",
        close_by_default=False,
        followup_queue="spring",
        campaign_id=api.campaign_id,
    )
    campaign = await api.services.campaigns.get_campaign(api.campaign_id)
    spec = campaign.spec.model_dump(mode="json")
    spec["wrapup"]["default_end_reason"] = "Other"
    put = await api.client.put("/campaigns/spring", json=spec, headers=api.manager)
    assert put.status_code == 200, put.text
    call = await dialer_interaction(api)
    await api.client.post(f"/interactions/{call}/end", headers=api.agent)
    (done,) = await api.services.interactions.auto_wrapup_due(NOW + timedelta(seconds=31))
    detail = (await api.client.get(f"/interactions/{call}", headers=api.agent)).json()
    assert detail["interaction"]["end_reason_id"] == own["id"] == done.end_reason_id or (
        detail["interaction"]["end_reason_id"] == own["id"]
    )
    assert detail["interaction"]["followup_queue"] == "spring"
