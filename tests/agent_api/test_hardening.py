"""What a fault and abuse probe found (issue 11), through the real app on both backends."""

from __future__ import annotations

from campaigns.model import ContactState
from tests.agent_api.conftest import Api


async def test_a_hand_recorded_call_cannot_requeue_a_contact_being_dialled(api: Api) -> None:
    """Recording the dialer's contact by hand, ending it and marking it a machine is
    refused: the contact keeps the dialer's claim (it would be dialled twice at once)."""
    r = await api.client.post(
        "/agents/me/interactions",
        json={
            "phone": "+4741000001",
            "direction": "outbound",
            "contact_id": api.contact_id,
            "campaign_id": api.campaign_id,
        },
        headers=api.agent,
    )
    interaction_id = r.json()["id"]
    await api.client.post(f"/interactions/{interaction_id}/end", headers=api.agent)
    marked = await api.client.post(
        f"/interactions/{interaction_id}/registration",
        json={"feedback": "answering_machine"},
        headers=api.agent,
    )
    assert marked.status_code == 422 and marked.json()["field"] == "feedback", marked.text
    contact = await api.services.campaigns.get_contact(api.contact_id)
    assert contact.state is ContactState.DIALING
