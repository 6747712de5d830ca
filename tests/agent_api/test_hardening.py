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


async def test_calling_hours_with_an_offset_are_refused(api: Api) -> None:
    """Hours with a UTC offset or of the wrong type are a 422 naming the field (they
    used to be stored, and then every claim of the campaign failed)."""
    for hours, field in (
        ({"start": "00:00:00Z", "end": "23:59:00Z"}, "hours.start"),
        ({"start": 0, "end": "20:00"}, "hours.start"),
    ):
        r = await api.client.post(
            "/campaigns", json={"name": "utc", "hours": hours}, headers=api.manager
        )
        assert r.status_code == 422, r.text
        assert field in r.json()["field"].split(",")


async def test_extensions_and_channels_are_single_dial_strings(api: Api) -> None:
    """An extension or channel template Asterisk would read as more than one dial string
    (a header, a second destination, Dial() options, channel variables) is a 422."""
    for extension in (
        "PJSIP/x\r\nAction: Originate",
        "PJSIP/a&PJSIP/+4741000000@trunk,20,U(x)",
        "PJSIP/a|b",
        "ann",
    ):
        r = await api.client.post(
            "/users",
            json={"username": "eve", "role": "agent", "extension": extension},
            headers=api.manager,
        )
        assert r.status_code == 422 and r.json()["field"] == "extension", (extension, r.text)
    ok = await api.client.post(
        "/users",
        json={"username": "eve", "role": "agent", "extension": "Local/agent-answer@phones"},
        headers=api.manager,
    )
    assert ok.status_code == 201, ok.text
    r = await api.client.post(
        "/campaigns",
        json={"name": "vars", "dialing": {"channel": "PJSIP/{number}@trunk,RINGBACK_ATTEMPT_ID=X"}},
        headers=api.manager,
    )
    assert r.status_code == 422 and r.json()["field"] == "dialing.channel", r.text
